package router_test

// The router binary with a tokens file (auth.tokens_file): 401 for missing, forged and
// expired tokens, 403 for a contract the team may not produce to, tokens added, granted
// and revoked while it runs, no token ever in its output; without a tokens file a loud
// warning; and its listener over TLS with client certificates beside bearer tokens.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waybill-data/waybill/integration/internal/testcert"
	"github.com/waybill-data/waybill/integration/internal/testproc"
	"github.com/waybill-data/waybill/schemas/auth"
)

// writeTokensFile replaces the tokens file atomically, as an operator's tooling would.
func writeTokensFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func bearer(token string) http.Header {
	if token == "" {
		return nil
	}
	return http.Header{"Authorization": {"Bearer " + token}}
}

// sendAs posts one JSON event with a token and returns the status, the event's answer
// (zero when the whole request was refused), the problem text and the headers.
func sendAs(t *testing.T, client *http.Client, url, token string, event map[string]any) (int, eventAnswer, string, http.Header) {
	t.Helper()
	body, _ := json.Marshal(event)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/events", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range bearer(token) {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("posting an event: %v", err)
	}
	defer resp.Body.Close()
	var a struct {
		Events []eventAnswer `json:"events"`
		Error  string        `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&a)
	var ev eventAnswer
	if len(a.Events) == 1 {
		ev = a.Events[0]
	}
	return resp.StatusCode, ev, a.Error, resp.Header
}

// registerOwned registers subject with the orders schema and a contract owned by
// owner on the lake route.
func (e *liveEnv) registerOwned(t *testing.T, subject, owner string) {
	t.Helper()
	mustCall(t, http.MethodPost, e.regURL+"/subjects/"+subject+"/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	c := contractBody([]string{"lake"}, []string{"lake"}, []string{"lake"})
	c["owner"] = owner
	mustCall(t, http.MethodPut, e.regURL+"/contracts/"+subject, c, http.StatusOK)
}

const (
	tokTeam    = "itest-token-of-team"
	tokWeb     = "itest-token-of-team-web"
	tokOld     = "itest-token-expired"
	tokNewcome = "itest-token-added-later"
)

func lakeOnly(t *testing.T) string {
	return fmt.Sprintf(`sinks:
  lake: {kind: lake, path: %s}
routes:
  lake: {sink: lake, class: analytic, target: "{contract}/dt={date}", batch: {max_wait: 20ms}}
`, filepath.Join(t.TempDir(), "lake"))
}

func TestRouterTokensGrantsAndHotReload(t *testing.T) {
	e := startLiveEnv(t)
	e.registerOwned(t, "orders", "team")
	e.registerOwned(t, "clicks", "team-web")
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	entries := fmt.Sprintf(`tokens:
  - {name: team-ci, team: team, sha256: %s}
  - {name: web-ci, team: team-web, sha256: %s}
  - {name: old-ci, team: team, sha256: %s, expires: 2020-01-01T00:00:00Z}
`, auth.Digest(tokTeam), auth.Digest(tokWeb), auth.Digest(tokOld))
	writeTokensFile(t, tokens, entries)
	e.startRouterWith(t, "auth: {tokens_file: "+tokens+"}\n"+lakeOnly(t))
	url, client := e.routerURL, http.DefaultClient
	orders := orderEvent("orders", nil, orderData())
	clicks := orderEvent("clicks", nil, orderData())

	for _, tc := range []struct{ name, token, want string }{
		{"no token", "", "no credentials"},
		{"forged token", "itest-token-forged", "not known"},
		{"expired token", tokOld, "expired"},
	} {
		status, _, problem, h := sendAs(t, client, url, tc.token, orders)
		if status != http.StatusUnauthorized || !strings.Contains(problem, tc.want) || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%s: HTTP %d %q (WWW-Authenticate %q), want 401 saying %q", tc.name, status, problem, h.Get("WWW-Authenticate"), tc.want)
		}
	}
	if status, a, _, _ := sendAs(t, client, url, tokWeb, orders); status != http.StatusForbidden || a.Reason != "not_authorized" || a.Field != "contract" ||
		!strings.Contains(a.Error, `"team-web"`) || !strings.Contains(a.Error, `"orders"`) {
		t.Fatalf("team-web sending orders: HTTP %d %+v, want 403 not_authorized naming the team and the contract", status, a)
	}
	for _, ok := range []struct {
		token string
		event map[string]any
	}{{tokTeam, orders}, {tokWeb, clicks}} {
		if status, a, problem, _ := sendAs(t, client, url, ok.token, ok.event); !accepted(status, a) {
			t.Fatalf("an owner sending its contract: HTTP %d %+v %s", status, a, problem)
		}
	}
	mustCall(t, http.MethodGet, url+"/healthz", nil, http.StatusOK) // stays open

	// While it runs: a new token, and a grant for team-web, within seconds.
	writeTokensFile(t, tokens, entries+fmt.Sprintf("  - {name: newcomer, team: team-new, sha256: %s}\ngrants:\n  team-web: [\"ord*\"]\n", auth.Digest(tokNewcome)))
	reload := time.Now()
	var status int
	var a eventAnswer
	if !testproc.Poll(15*time.Second, 50*time.Millisecond, nil, func() bool {
		status, a, _, _ = sendAs(t, client, url, tokWeb, orders)
		return accepted(status, a)
	}) {
		t.Fatalf("the grant was not picked up within 15s: HTTP %d %+v", status, a)
	}
	t.Logf("grant in force %s after the file changed", time.Since(reload).Round(time.Millisecond))
	if status, a, problem, _ := sendAs(t, client, url, tokNewcome, orders); status != http.StatusForbidden || a.Reason != "not_authorized" {
		t.Fatalf("the new token (a team with no grant): HTTP %d %+v %s, want 403", status, a, problem)
	}
	// Revoked: team's token leaves the file.
	writeTokensFile(t, tokens, fmt.Sprintf("tokens:\n  - {name: web-ci, team: team-web, sha256: %s}\n", auth.Digest(tokWeb)))
	if !testproc.Poll(15*time.Second, 50*time.Millisecond, nil, func() bool {
		status, _, _, _ = sendAs(t, client, url, tokTeam, orders)
		return status == http.StatusUnauthorized
	}) {
		t.Fatalf("the revoked token still works 15s later: HTTP %d", status)
	}
	// A broken file is refused and the last good one stays in force.
	writeTokensFile(t, tokens, "tokens: [{name: x}]\n")
	if !testproc.Poll(15*time.Second, 50*time.Millisecond, nil, func() bool {
		return strings.Contains(e.router.Out.String(), "tokens file not reloaded")
	}) {
		t.Fatal("the router did not report the broken tokens file")
	}
	if status, a, problem, _ := sendAs(t, client, url, tokWeb, clicks); !accepted(status, a) {
		t.Fatalf("after a broken file, the last good one: HTTP %d %+v %s", status, a, problem)
	}

	out := e.router.Out.String()
	for _, tok := range []string{tokTeam, tokWeb, tokOld, tokNewcome, "itest-token-forged"} {
		if strings.Contains(out, tok) {
			t.Fatalf("the router's output contains a token (%s)", tok)
		}
	}
	if strings.Contains(out, "AUTHENTICATION IS OFF") || !strings.Contains(out, "authentication on") {
		t.Fatal("the router's log does not say authentication is on")
	}
}

func TestRouterWithoutTokensFileWarns(t *testing.T) {
	e := startLiveEnv(t)
	e.registerOwned(t, "orders", "team")
	e.startRouterWith(t, lakeOnly(t))
	var warn struct {
		Level, Msg string
	}
	for _, line := range strings.Split(e.router.Out.String(), "\n") {
		if strings.Contains(line, "AUTHENTICATION IS OFF") {
			_ = json.Unmarshal([]byte(line), &warn)
		}
	}
	if warn.Level != "WARN" || !strings.Contains(warn.Msg, "auth.tokens_file") {
		t.Fatalf("no loud warning about running open: %+v\n%s", warn, e.router.Out.String())
	}
	if status, a := e.send(t, orderEvent("orders", nil, orderData())); !accepted(status, a) {
		t.Fatalf("an open router: HTTP %d %+v", status, a)
	}
}

// TestRouterTLSListener serves the router over TLS with a certificate made in the
// test. With a client CA, a listed client certificate identifies its team without a
// token, bearer tokens keep working, an unlisted certificate is 401 and one from
// another CA fails the handshake.
func TestRouterTLSListener(t *testing.T) {
	e := startLiveEnv(t)
	e.registerOwned(t, "orders", "team")
	dir := t.TempDir()
	ca := testcert.NewCA(t, dir, "router")
	server := ca.Server(t, "router")
	listed, stranger := ca.Client(t, "ingest-1"), ca.Client(t, "stranger")
	foreign := testcert.NewCA(t, dir, "foreign").Client(t, "ingest-1")
	tokens := filepath.Join(dir, "tokens.yaml")
	writeTokensFile(t, tokens, fmt.Sprintf("tokens:\n  - {name: team-ci, team: team, sha256: %s}\nclients:\n  - {cn: ingest-1, team: team}\n", auth.Digest(tokTeam)))

	addr := testproc.FreeAddr(t)
	cfg := fmt.Sprintf("listen: %s\nstate_dir: %s\netcd_endpoints: [%s]\nauth: {tokens_file: %s}\ntls: {cert_file: %s, key_file: %s, client_ca_file: %s}\n%s",
		addr, filepath.Join(dir, "state"), e.etcdAddr, tokens, server.CertFile, server.KeyFile, ca.CAFile, lakeOnly(t))
	path := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	e.router = testproc.Start(t, "router", nil, routerBin, "--config", path)
	client := func(cert *testcert.Pair) *http.Client {
		c := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		if cert != nil { // sent whatever CAs the server names (Certificates would not send a foreign one)
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert.TLS, nil }
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: c}}
	}
	url := "https://" + addr
	anon := client(nil)
	if !testproc.Poll(30*time.Second, 50*time.Millisecond, e.router.Done(), func() bool {
		res, err := anon.Get(url + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}) {
		t.Fatal("the router did not become ready over HTTPS within 30s")
	}
	if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
		body := make([]byte, 200)
		n, _ := res.Body.Read(body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Fatalf("plain HTTP answered 200 %s on the TLS listener", body[:n])
		}
	}
	orders := orderEvent("orders", nil, orderData())
	if status, a, problem, _ := sendAs(t, anon, url, tokTeam, orders); !accepted(status, a) {
		t.Fatalf("a bearer token over HTTPS: HTTP %d %+v %s", status, a, problem)
	}
	if status, a, problem, _ := sendAs(t, client(listed), url, "", orders); !accepted(status, a) {
		t.Fatalf("a listed client certificate: HTTP %d %+v %s", status, a, problem)
	}
	if status, _, problem, _ := sendAs(t, client(stranger), url, "", orders); status != http.StatusUnauthorized || !strings.Contains(problem, `"stranger"`) {
		t.Fatalf("an unlisted client certificate: HTTP %d %s, want 401 naming it", status, problem)
	}
	if status, _, problem, _ := sendAs(t, anon, url, "", orders); status != http.StatusUnauthorized {
		t.Fatalf("neither certificate nor token: HTTP %d %s, want 401", status, problem)
	}
	if _, err := client(foreign).Get(url + "/healthz"); err == nil {
		t.Fatal("a client certificate from another CA was accepted")
	}
}
