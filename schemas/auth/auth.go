// Package auth identifies who calls the registry and the router, from a tokens file
// both share, and answers the questions their authorisation asks: which team is this,
// is it an admin, may it produce to this contract.
//
// # Tokens file (YAML)
//
//	tokens:                                # bearer tokens, stored only as SHA-256 digests
//	  - name: checkout-ci                  # a label for logs and the audit trail
//	    team: team-checkout
//	    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	    expires: 2027-06-30T00:00:00Z      # optional: refused from then on
//	  - name: platform-admin
//	    team: platform
//	    admin: true                        # may change anything
//	    sha256: ...
//	clients:                               # optional: mTLS client certificates by subject CN
//	  - cn: router-eu-1
//	    team: platform
//	grants:                                # contracts a team may produce to besides its own
//	  team-web: ["clickstream.*"]          # path.Match patterns over subject names
//	  team-analytics: ["*"]
//
// A digest is printf %s "$TOKEN" | sha256sum. Tokens travel as
// "Authorization: Bearer <token>", or as the password of HTTP Basic auth (the user name
// is ignored), which is how Confluent clients send credentials. A token is never
// stored, logged or echoed; errors name the token entry at most.
//
// The file is re-read when it changes (Watch), so tokens can be added, rotated and
// revoked without a restart; a file that no longer parses is refused and the last good
// one stays in force (and the failure is logged).
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Identity is an authenticated caller.
type Identity struct {
	Team  string // the team the credential belongs to
	Admin bool
	Name  string // the credential's label (token entry name or certificate CN): for logs and audit
}

// Errors of Authenticate; all mean HTTP 401.
var (
	ErrNoCredentials = errors.New("no credentials: send Authorization: Bearer <token>")
	ErrUnknownToken  = errors.New("the token is not known")
	ErrExpiredToken  = errors.New("the token has expired")
)

// File is the parsed tokens file.
type File struct {
	Tokens  []TokenEntry        `yaml:"tokens"`
	Clients []ClientEntry       `yaml:"clients"`
	Grants  map[string][]string `yaml:"grants"`
}

// TokenEntry is one bearer token.
type TokenEntry struct {
	Name    string    `yaml:"name"`
	Team    string    `yaml:"team"`
	Admin   bool      `yaml:"admin"`
	SHA256  string    `yaml:"sha256"`
	Expires time.Time `yaml:"expires"`
}

// ClientEntry maps a client certificate's subject common name to a team.
type ClientEntry struct {
	CN    string `yaml:"cn"`
	Team  string `yaml:"team"`
	Admin bool   `yaml:"admin"`
}

// Parse reads a tokens file and reports every problem at once, each with its path.
func Parse(raw []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	var errs []error
	names := map[string]bool{}
	digests := map[string]bool{}
	for i, t := range f.Tokens {
		at := fmt.Sprintf("tokens[%d]", i)
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required (a label for logs and the audit trail)", at))
		} else if names[t.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice", at, t.Name))
		}
		names[t.Name] = true
		if t.Team == "" {
			errs = append(errs, fmt.Errorf("%s.team: required", at))
		}
		d := strings.ToLower(t.SHA256)
		if b, err := hex.DecodeString(d); err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("%s.sha256: must be the 64 hex digits of the token's SHA-256 (printf %%s \"$TOKEN\" | sha256sum)", at))
		} else if digests[d] {
			errs = append(errs, fmt.Errorf("%s.sha256: the same token is listed twice", at))
		}
		digests[d] = true
		f.Tokens[i].SHA256 = d
	}
	for i, c := range f.Clients {
		if c.CN == "" || c.Team == "" {
			errs = append(errs, fmt.Errorf("clients[%d]: cn and team are required", i))
		}
	}
	for team, patterns := range f.Grants {
		for i, p := range patterns {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("grants.%s[%d]: %q is not a valid pattern: %v", team, i, p, err))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &f, nil
}

// Authority answers who a request is, from the current tokens file. A nil *Authority
// means authentication is off (no tokens file): every request is anonymous and
// allowed; callers log that loudly at startup.
type Authority struct {
	path string
	now  func() time.Time

	mu      sync.RWMutex
	file    *File
	byHash  map[string]*TokenEntry
	content [sha256.Size]byte // of the file last loaded
	refused [sha256.Size]byte // of the last file that did not parse (reported once)
}

// Load reads the tokens file at path.
func Load(path string) (*Authority, error) {
	a := &Authority{path: path, now: time.Now}
	if _, err := a.reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// reload re-reads the file and applies it if its content changed; it reports whether
// it did. (The file is small: comparing its content is cheaper to get right than
// modification times, which coarse clocks and quick edits can leave unchanged.)
func (a *Authority) reload() (bool, error) {
	raw, err := os.ReadFile(a.path)
	if err != nil {
		return false, fmt.Errorf("tokens file: %w", err)
	}
	sum := sha256.Sum256(raw)
	a.mu.RLock()
	same := a.file != nil && (sum == a.content || sum == a.refused)
	a.mu.RUnlock()
	if same {
		return false, nil
	}
	f, err := Parse(raw)
	if err != nil {
		a.mu.Lock()
		a.refused = sum
		a.mu.Unlock()
		return false, fmt.Errorf("%s: %w", a.path, err)
	}
	byHash := make(map[string]*TokenEntry, len(f.Tokens))
	for i := range f.Tokens {
		byHash[f.Tokens[i].SHA256] = &f.Tokens[i]
	}
	a.mu.Lock()
	a.file, a.byHash, a.content = f, byHash, sum
	a.mu.Unlock()
	return true, nil
}

// Watch re-reads the file every interval until ctx ends, logging reloads and refusals.
func (a *Authority) Watch(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := a.reload()
		switch {
		case err != nil:
			log.Error("tokens file not reloaded; the previous one stays in force", "error", err)
		case changed:
			a.mu.RLock()
			n := len(a.file.Tokens)
			a.mu.RUnlock()
			log.Info("tokens file reloaded", "path", a.path, "tokens", n)
		}
	}
}

// Authenticate identifies the caller of r: a bearer token (or Basic auth password),
// else a verified TLS client certificate listed under clients.
func (a *Authority) Authenticate(r *http.Request) (*Identity, error) {
	token, ok := credential(r)
	if !ok {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
			a.mu.RLock()
			defer a.mu.RUnlock()
			for _, c := range a.file.Clients {
				if c.CN == cn {
					return &Identity{Team: c.Team, Admin: c.Admin, Name: "cert:" + cn}, nil
				}
			}
			return nil, fmt.Errorf("the client certificate %q is not listed in the tokens file", cn)
		}
		return nil, ErrNoCredentials
	}
	digest := Digest(token)
	a.mu.RLock()
	defer a.mu.RUnlock()
	var found *TokenEntry
	for h, e := range a.byHash { // constant-time compare over every entry
		if subtle.ConstantTimeCompare([]byte(h), []byte(digest)) == 1 {
			found = e
		}
	}
	if found == nil {
		return nil, ErrUnknownToken
	}
	if !found.Expires.IsZero() && !a.now().Before(found.Expires) {
		return nil, fmt.Errorf("%w (token %s, expired %s)", ErrExpiredToken, found.Name, found.Expires.UTC().Format(time.RFC3339))
	}
	return &Identity{Team: found.Team, Admin: found.Admin, Name: found.Name}, nil
}

// Digest is how a token is listed in the tokens file: the hex SHA-256 of its bytes, as
// printf %s "$TOKEN" | sha256sum prints it.
func Digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// credential extracts the token of a Bearer or Basic Authorization header.
func credential(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		if t := strings.TrimSpace(rest); t != "" {
			return t, true
		}
	}
	if _, pw, ok := r.BasicAuth(); ok && pw != "" {
		return pw, true
	}
	return "", false
}

// MayProduce reports whether id may send events of contract, owned by owner: its own
// team's contracts, contracts granted to its team, or anything for an admin.
func (a *Authority) MayProduce(id *Identity, contract, owner string) bool {
	if id.Admin || id.Team == owner {
		return true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, p := range a.file.Grants[id.Team] {
		if ok, _ := path.Match(p, contract); ok {
			return true
		}
	}
	return false
}

// MayChange reports whether id may change a subject owned by owner ("" when it has
// no governance record yet: any authenticated team may create it).
func MayChange(id *Identity, owner string) bool {
	return id.Admin || owner == "" || id.Team == owner
}
