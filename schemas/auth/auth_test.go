package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDigestIsSHA256Hex pins the digest to what the docs tell operators to run:
// printf %s test | sha256sum.
func TestDigestIsSHA256Hex(t *testing.T) {
	if got := Digest("test"); got != "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Fatalf("Digest(test) = %s", got)
	}
}

func writeTokens(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func request(header string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return r
}

func TestAuthenticate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	writeTokens(t, path, `tokens:
  - {name: checkout-ci, team: team-checkout, sha256: `+Digest("s3cret-checkout")+`}
  - {name: old, team: team-web, sha256: `+Digest("s3cret-old")+`, expires: 2020-01-01T00:00:00Z}
  - {name: root, team: platform, admin: true, sha256: `+strings.ToUpper(Digest("s3cret-root"))+`}
grants:
  team-web: ["clickstream.*"]
`)
	a, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	basic := request("")
	basic.SetBasicAuth("anyone", "s3cret-checkout")
	cases := []struct {
		name string
		r    *http.Request
		team string
		err  error
	}{
		{"bearer", request("Bearer s3cret-checkout"), "team-checkout", nil},
		{"basic auth password", basic, "team-checkout", nil},
		{"admin with an upper-case digest in the file", request("bearer s3cret-root"), "platform", nil},
		{"forged", request("Bearer s3cret-checkouT"), "", ErrUnknownToken},
		{"expired", request("Bearer s3cret-old"), "", ErrExpiredToken},
		{"none", request(""), "", ErrNoCredentials},
		{"empty bearer", request("Bearer "), "", ErrNoCredentials},
	}
	for _, c := range cases {
		id, err := a.Authenticate(c.r)
		if !errors.Is(err, c.err) || (c.err == nil && id.Team != c.team) {
			t.Errorf("%s: %+v, %v; want team %q, error %v", c.name, id, err, c.team, c.err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error %q shows the token", c.name, err)
		}
	}
	web := &Identity{Team: "team-web"}
	if !a.MayProduce(web, "clickstream.page_viewed", "team-web-other") || a.MayProduce(web, "checkout.order_placed", "team-checkout") {
		t.Error("grants are not applied")
	}
	if !a.MayProduce(&Identity{Team: "team-checkout"}, "checkout.order_placed", "team-checkout") || !a.MayProduce(&Identity{Admin: true}, "x", "y") {
		t.Error("owners and admins may produce")
	}
	if !MayChange(&Identity{Team: "a"}, "") || MayChange(&Identity{Team: "a"}, "b") || !MayChange(&Identity{Team: "x", Admin: true}, "b") {
		t.Error("MayChange")
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`tokens:
  - {team: a, sha256: nothex}
  - {name: n, sha256: ` + Digest("x") + `}
  - {name: n, team: b, sha256: ` + Digest("x") + `}
clients:
  - {cn: c}
grants:
  a: ["[bad"]
`))
	for _, want := range []string{"tokens[0].name", "tokens[0].sha256", "tokens[1].team", `tokens[2].name: "n" is used twice`, "tokens[2].sha256: the same token", "clients[0]", "grants.a[0]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q: %v", want, err)
		}
	}
	if _, err := Parse([]byte("tokns: []\n")); err == nil {
		t.Error("an unknown key must be refused")
	}
	if f, err := Parse(nil); err != nil || len(f.Tokens) != 0 {
		t.Errorf("an empty file: %v", err)
	}
}

// TestWatchReloadsAndKeepsTheLastGoodFile: a rotated token works after the reload, the
// old one no longer does, and a broken file leaves the previous one in force.
func TestWatchReloadsAndKeepsTheLastGoodFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	writeTokens(t, path, "tokens:\n  - {name: a, team: t, sha256: "+Digest("one")+"}\n")
	a, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Watch(ctx, 10*time.Millisecond, slog.New(slog.DiscardHandler))
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5s", what)
			}
			time.Sleep(5 * time.Millisecond) // polling the condition
		}
	}
	writeTokens(t, path, "tokens:\n  - {name: a, team: t, sha256: "+Digest("two")+"}\n")
	waitUntil("the rotated token works", func() bool { _, err := a.Authenticate(request("Bearer two")); return err == nil })
	if _, err := a.Authenticate(request("Bearer one")); !errors.Is(err, ErrUnknownToken) {
		t.Fatalf("the revoked token: %v", err)
	}
	writeTokens(t, path, "tokens: [this is not valid\n")
	waitUntil("the broken file refused", func() bool {
		a.mu.RLock()
		defer a.mu.RUnlock()
		return a.refused != [32]byte{}
	})
	if _, err := a.Authenticate(request("Bearer two")); err != nil {
		t.Fatalf("after a broken file, the last good one must stay: %v", err)
	}
}
