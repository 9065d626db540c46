package registry_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waybill-data/waybill/schemas/auth"
	"github.com/waybill-data/waybill/schemas/registry"
)

// Credentials of the auth tests. Every token contains "s3cret" so that a test can
// assert no answer ever shows one.
const (
	tokOwner   = "s3cret-team-a"
	tokOther   = "s3cret-team-b"
	tokAdmin   = "s3cret-admin"
	tokExpired = "s3cret-team-a-old"
	tokForged  = "s3cret-team-a-forged"
)

var tokensFile = `tokens:
  - {name: a-ci, team: team-a, sha256: ` + auth.Digest(tokOwner) + `}
  - {name: b-ci, team: team-b, sha256: ` + auth.Digest(tokOther) + `}
  - {name: root, team: platform, admin: true, sha256: ` + auth.Digest(tokAdmin) + `}
  - {name: a-old, team: team-a, sha256: ` + auth.Digest(tokExpired) + `, expires: 2020-01-01T00:00:00Z}
`

// newAuthEnv is newEnv with authentication on, from tokensFile.
func newAuthEnv(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, []byte(tokensFile), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := auth.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, etcdCli, testPrefix(t), 0, registry.WithAuthority(a))
}

func bearer(token string) http.Header {
	if token == "" {
		return nil
	}
	return http.Header{"Authorization": {"Bearer " + token}}
}

// as sends a request with a bearer token ("" = none).
func (e *env) as(token, method, path string, body any) response {
	e.t.Helper()
	r := e.sendWith(request{method: method, path: path, body: body}, bearer(token))
	if strings.Contains(string(r.body), "s3cret") || strings.Contains(strings.Join(r.header.Values("WWW-Authenticate"), " "), "s3cret") {
		e.t.Errorf("%s %s: the answer shows a token: %s", method, path, r.body)
	}
	return r
}

// asOK is as, asserting 200 and decoding into out (if not nil).
func (e *env) asOK(token, method, path string, body, out any) {
	e.t.Helper()
	r := e.as(token, method, path, body)
	if r.status != http.StatusOK {
		e.t.Fatalf("%s %s as %q: status %d, want 200: %s", method, path, token, r.status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: decoding %s: %v", method, path, r.body, err)
		}
	}
}

// asFail is as, asserting an error status and code; it returns the message.
func (e *env) asFail(token, method, path string, body any, wantStatus, wantCode int) string {
	e.t.Helper()
	r := e.as(token, method, path, body)
	return checkError(e.t, method+" "+path, r.status, r.body, wantStatus, wantCode)
}

func ownedBy(owner string) map[string]any {
	return map[string]any{"owner": owner, "routes": map[string]any{"allowed": []string{"lake"}}}
}

// seedOwned registers two versions of "orders" and gives it to team-a, as the admin.
func seedOwned(e *env) {
	e.t.Helper()
	e.asOK(tokAdmin, "POST", "/subjects/orders/versions", schemaBody{Schema: userV1}, nil)
	e.asOK(tokAdmin, "POST", "/subjects/orders/versions", schemaBody{Schema: userV2}, nil)
	e.asOK(tokAdmin, "PUT", "/contracts/orders", ownedBy("team-a"), nil)
}

// TestWriteAuthorization runs every write endpoint as every kind of caller.
func TestWriteAuthorization(t *testing.T) {
	type endpoint struct {
		name, method, path string
		body               any
		setup              func(e *env)
		global             bool // registry-wide: admins only
		read               bool // needs a credential, but any team may
	}
	endpoints := []endpoint{
		{name: "register", method: "POST", path: "/subjects/orders/versions", body: schemaBody{Schema: userV3}},
		{name: "soft delete version", method: "DELETE", path: "/subjects/orders/versions/2"},
		{name: "hard delete version", method: "DELETE", path: "/subjects/orders/versions/2?permanent=true",
			setup: func(e *env) { e.asOK(tokAdmin, "DELETE", "/subjects/orders/versions/2", nil, nil) }},
		{name: "soft delete subject", method: "DELETE", path: "/subjects/orders"},
		{name: "hard delete subject", method: "DELETE", path: "/subjects/orders?permanent=true",
			setup: func(e *env) { e.asOK(tokAdmin, "DELETE", "/subjects/orders", nil, nil) }},
		{name: "put subject config", method: "PUT", path: "/config/orders", body: map[string]string{"compatibility": "FULL"}},
		{name: "delete subject config", method: "DELETE", path: "/config/orders",
			setup: func(e *env) {
				e.asOK(tokAdmin, "PUT", "/config/orders", map[string]string{"compatibility": "FULL"}, nil)
			}},
		{name: "put global config", method: "PUT", path: "/config", body: map[string]string{"compatibility": "FULL"}, global: true},
		{name: "delete global config", method: "DELETE", path: "/config", global: true,
			setup: func(e *env) { e.asOK(tokAdmin, "PUT", "/config", map[string]string{"compatibility": "FULL"}, nil) }},
		{name: "put subject mode", method: "PUT", path: "/mode/orders", body: map[string]string{"mode": "READONLY"}},
		{name: "delete subject mode", method: "DELETE", path: "/mode/orders",
			setup: func(e *env) { e.asOK(tokAdmin, "PUT", "/mode/orders", map[string]string{"mode": "READONLY"}, nil) }},
		{name: "put global mode", method: "PUT", path: "/mode", body: map[string]string{"mode": "READWRITE"}, global: true},
		{name: "put contract", method: "PUT", path: "/contracts/orders", body: ownedBy("team-a")},
		{name: "read audit", method: "GET", path: "/audit?subject=orders", read: true},
	}
	type caller struct {
		name, token string
		status      int
		code        int // 0: success
	}
	callers := func(ep endpoint) []caller {
		other, owner := caller{"other team", tokOther, 403, registry.CodeForbidden}, caller{"owner", tokOwner, 200, 0}
		switch {
		case ep.read:
			other = caller{"other team", tokOther, 200, 0}
		case ep.global:
			owner = caller{"owner", tokOwner, 403, registry.CodeForbidden}
		}
		return []caller{
			{"no token", "", 401, registry.CodeUnauthorized},
			{"forged token", tokForged, 401, registry.CodeUnauthorized},
			{"expired token", tokExpired, 401, registry.CodeUnauthorized},
			other, owner,
			{"admin", tokAdmin, 200, 0},
		}
	}
	for _, ep := range endpoints {
		for _, c := range callers(ep) {
			t.Run(ep.name+"/"+c.name, func(t *testing.T) {
				e := newAuthEnv(t)
				seedOwned(e)
				if ep.setup != nil {
					ep.setup(e)
				}
				before := auditCount(e)
				r := e.as(c.token, ep.method, ep.path, ep.body)
				if c.code == 0 {
					if r.status != 200 {
						t.Fatalf("status %d, want 200: %s", r.status, r.body)
					}
					if !ep.read && auditCount(e) != before+1 {
						t.Errorf("audit records %d after the change, want %d", auditCount(e), before+1)
					}
					return
				}
				msg := checkError(t, ep.method+" "+ep.path, r.status, r.body, c.status, c.code)
				if got := auditCount(e); got != before {
					t.Errorf("a refused request left %d audit records, want %d", got, before)
				}
				switch c.status {
				case 401:
					if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") {
						t.Errorf("WWW-Authenticate %q, want a Bearer challenge", ch)
					}
					want := map[string]string{"no token": "Authorization: Bearer", "forged token": "not known", "expired token": "expired"}[c.name]
					if !strings.Contains(msg, want) {
						t.Errorf("message %q does not say %q", msg, want)
					}
				case 403:
					want := "team team-b may not change subject orders, owned by team team-a"
					if ep.global {
						want = "only admins may"
					}
					if !strings.Contains(msg, want) {
						t.Errorf("message %q, want %q", msg, want)
					}
				}
			})
		}
	}
}

// auditCount is the number of audit records, read as the admin.
func auditCount(e *env) int {
	e.t.Helper()
	var page auditPage
	e.asOK(tokAdmin, "GET", "/audit?limit=1000", nil, &page)
	return len(page.Records)
}

// TestReadsStayOpen: with authentication on, Confluent clients still read without
// credentials, lookups and compatibility checks included.
func TestReadsStayOpen(t *testing.T) {
	e := newAuthEnv(t)
	seedOwned(e)
	for _, rq := range []request{
		{method: "GET", path: "/subjects"},
		{method: "GET", path: "/subjects/orders/versions"},
		{method: "GET", path: "/subjects/orders/versions/latest"},
		{method: "GET", path: "/schemas/ids/1"},
		{method: "POST", path: "/subjects/orders", body: schemaBody{Schema: userV1}},
		{method: "POST", path: "/compatibility/subjects/orders/versions/latest", body: schemaBody{Schema: userV3}},
		{method: "GET", path: "/config"},
		{method: "GET", path: "/mode"},
		{method: "GET", path: "/contracts/orders"},
	} {
		if r := e.send(rq); r.status != 200 {
			t.Errorf("%s %s without a token: %d %s", rq.method, rq.path, r.status, r.body)
		}
	}
}

// TestCredentialsAsConfluentClientsSendThem: the token as the Basic auth password.
func TestCredentialsAsConfluentClientsSendThem(t *testing.T) {
	e := newAuthEnv(t)
	seedOwned(e)
	basic := func(pw string) http.Header {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth("any-user", pw)
		return req.Header
	}
	r := e.sendWith(request{method: "POST", path: "/subjects/orders/versions", body: schemaBody{Schema: userV3}}, basic(tokOwner))
	if r.status != 200 {
		t.Fatalf("basic auth with the owner's token: %d %s", r.status, r.body)
	}
	r = e.sendWith(request{method: "PUT", path: "/config/orders", body: map[string]string{"compatibility": "NONE"}}, basic(tokOther))
	checkError(t, "basic auth as another team", r.status, r.body, 403, registry.CodeForbidden)
	r = e.sendWith(request{method: "PUT", path: "/config/orders", body: map[string]string{"compatibility": "NONE"}}, basic("s3cret-wrong"))
	checkError(t, "basic auth with an unknown token", r.status, r.body, 401, registry.CodeUnauthorized)
	if strings.Contains(string(r.body), "s3cret") {
		t.Errorf("the answer shows the token: %s", r.body)
	}
}

// TestOwnership: a subject without a contract is anyone's to write and to claim; once
// claimed only its team (or an admin) changes it, and only an admin hands it over.
func TestOwnership(t *testing.T) {
	e := newAuthEnv(t)
	e.asOK(tokOther, "POST", "/subjects/free/versions", schemaBody{Schema: userV1}, nil)
	e.asOK(tokOwner, "POST", "/subjects/free/versions", schemaBody{Schema: userV2}, nil)
	// A team may not give a contract to another team, not even an unclaimed one.
	msg := e.asFail(tokOther, "PUT", "/contracts/free", ownedBy("team-a"), 403, registry.CodeForbidden)
	if !strings.Contains(msg, "team team-b may not make team team-a the owner of subject free") {
		t.Errorf("message %q", msg)
	}
	e.asOK(tokOther, "PUT", "/contracts/free", ownedBy("team-b"), nil)
	// Claimed: team-a is now out, even to claim it back.
	e.asFail(tokOwner, "POST", "/subjects/free/versions", schemaBody{Schema: userV3}, 403, registry.CodeForbidden)
	msg = e.asFail(tokOwner, "PUT", "/contracts/free", ownedBy("team-a"), 403, registry.CodeForbidden)
	if !strings.Contains(msg, "owned by team team-b") {
		t.Errorf("message %q", msg)
	}
	// Nor may the owner hand it over itself.
	e.asFail(tokOther, "PUT", "/contracts/free", ownedBy("team-a"), 403, registry.CodeForbidden)
	// An admin may.
	e.asOK(tokAdmin, "PUT", "/contracts/free", ownedBy("team-a"), nil)
	e.asFail(tokOther, "POST", "/subjects/free/versions", schemaBody{Schema: userV3}, 403, registry.CodeForbidden)
	e.asOK(tokOwner, "POST", "/subjects/free/versions", schemaBody{Schema: userV3}, nil)

	// Re-registering a live schema changes nothing: any team gets its id, as a lookup
	// would answer, and nothing is recorded.
	before := auditCount(e)
	var got regResp
	e.asOK(tokOther, "POST", "/subjects/free/versions", schemaBody{Schema: userV2}, &got)
	if got.Version != 2 {
		t.Errorf("re-registering version 2 answered %+v", got)
	}
	if n := auditCount(e); n != before {
		t.Errorf("a registration that changed nothing left %d audit records, want %d", n, before)
	}
	// It still needs a credential: it is a write.
	e.asFail("", "POST", "/subjects/free/versions", schemaBody{Schema: userV2}, 401, registry.CodeUnauthorized)
}
