package routing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/auth"
	"github.com/waybill-data/waybill/schemas/cache"
)

// The tokens of the auth tests: the owner of "orders", a team granted "ord*" by
// pattern, the owner of "clicks" (granted nothing else), an admin and an expired one.
const (
	tokOwner   = "tok-orders-owner"
	tokGranted = "tok-granted-by-pattern"
	tokClicks  = "tok-clicks-owner"
	tokAdmin   = "tok-platform-admin"
	tokExpired = "tok-expired"
)

func tokensFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	body := `tokens:
  - {name: orders-ci, team: team-orders, sha256: ` + auth.Digest(tokOwner) + `}
  - {name: analytics, team: team-analytics, sha256: ` + auth.Digest(tokGranted) + `}
  - {name: web-ci, team: team-web, sha256: ` + auth.Digest(tokClicks) + `}
  - {name: root, team: platform, admin: true, sha256: ` + auth.Digest(tokAdmin) + `}
  - {name: old, team: team-orders, sha256: ` + auth.Digest(tokExpired) + `, expires: 2020-01-01T00:00:00Z}
grants:
  team-analytics: ["ord*"]
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// twoContracts serves "orders" (owner team-orders) and "clicks" (owner team-web), both
// with the orders schema (id 7).
type twoContracts struct{ *fakeContracts }

func newTwoContracts(t *testing.T) *twoContracts {
	f := newFakeContracts(t)
	c := *f.contract
	c.Owner = "team-orders"
	c.Routes.Allowed = []string{"lake", "fast", "slow", "profiles"}
	f.contract = &c
	return &twoContracts{f}
}

func (f *twoContracts) Latest(subject string) (*cache.Version, bool) {
	if subject == "clicks" {
		return &cache.Version{Subject: subject, Version: 1, ID: 7, Schema: f.schema}, true
	}
	return f.fakeContracts.Latest(subject)
}

func (f *twoContracts) Contract(subject string) (*schemas.Contract, bool) {
	if subject == "clicks" {
		c := *f.contract
		c.Owner = "team-web"
		return &c, true
	}
	return f.fakeContracts.Contract(subject)
}

// erasingSink is a fake latest-mode sink that implements Eraser; ops records writes
// and erasures in the order the route made them.
type erasingSink struct {
	*fakeSink
	mu      sync.Mutex
	ops     []string
	eraseFn func() error // nil: succeed
}

func (s *erasingSink) Write(ctx context.Context, b *Batch) error {
	err := s.fakeSink.Write(ctx, b)
	if err == nil {
		s.mu.Lock()
		for _, ev := range b.Events {
			s.ops = append(s.ops, "write "+ev.ID)
		}
		s.mu.Unlock()
	}
	return err
}

func (s *erasingSink) Erase(_ context.Context, route Route, contract, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if route.Mode != Latest {
		s.ops = append(s.ops, "WRONG: erase on "+string(route.Mode))
	}
	if s.eraseFn != nil {
		if err := s.eraseFn(); err != nil {
			s.ops = append(s.ops, "failed erase "+contract+"|"+key)
			return err
		}
	}
	s.ops = append(s.ops, "erase "+contract+"|"+key)
	return nil
}

func (s *erasingSink) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ops...)
}

// fakeAudit is an in-memory AuditLog.
type fakeAudit struct {
	mu   sync.Mutex
	recs []AuditRecord
	fail error
}

func (a *fakeAudit) Record(_ context.Context, rec AuditRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.recs = append(a.recs, rec)
	return nil
}

func (a *fakeAudit) List(_ context.Context, subject string) ([]AuditRecord, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []AuditRecord
	for _, r := range a.recs {
		if subject == "" || r.Subject == subject {
			out = append(out, r)
		}
	}
	return out, nil
}

type authHarness struct {
	rt       *Router
	srv      *httptest.Server
	lake     *erasingSink // append: must never be asked to erase
	profiles *erasingSink // latest
	audit    *fakeAudit
}

// newAuthHarness is a router with a tokens file (open when open is true), the two
// contracts, an append lake and a latest profiles route (runtime, max_lag mutable).
func newAuthHarness(t *testing.T, open bool, mutate func(*Config)) *authHarness {
	t.Helper()
	cfg, err := ParseConfig([]byte(`
state_dir: ` + t.TempDir() + `
etcd_endpoints: [127.0.0.1:2379]
sinks:
  lake: {kind: fake}
  profiles: {kind: fake}
routes:
  lake: {sink: lake, class: analytic, target: "{contract}", batch: {max_wait: 5ms}, retry: {initial_backoff: 1ms, max_backoff: 5ms}}
  fast: {sink: lake, class: runtime, target: "{contract}", batch: {max_wait: 5ms}, retry: {initial_backoff: 1ms, max_backoff: 5ms}}
  slow: {sink: lake, class: analytic, target: "{contract}", batch: {max_wait: 5ms}, retry: {initial_backoff: 1ms, max_backoff: 5ms}}
  profiles: {sink: profiles, class: runtime, mode: latest, target: "p_{contract}", max_lag: 1m, batch: {max_wait: 5ms}, retry: {initial_backoff: 1ms, max_backoff: 5ms}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(map[string]SinkKind{"fake": {Validate: func(string, *yaml.Node) []error { return nil }}}); err != nil {
		t.Fatal(err)
	}
	h := &authHarness{lake: &erasingSink{fakeSink: newFakeSink()}, profiles: &erasingSink{fakeSink: newFakeSink()}, audit: &fakeAudit{}}
	opts := Options{Config: cfg, Contracts: newTwoContracts(t), Sinks: map[string]Sink{"lake": h.lake, "profiles": h.profiles}, Audit: h.audit}
	if !open {
		if opts.Authority, err = auth.Load(tokensFile(t)); err != nil {
			t.Fatal(err)
		}
	}
	if h.rt, err = New(opts); err != nil {
		t.Fatal(err)
	}
	if err := h.rt.Start(); err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(h.rt.Handler())
	t.Cleanup(func() {
		h.srv.Close()
		if err := h.rt.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return h
}

// call sends a request with token (none when ""), and returns status, body, headers.
func (h *authHarness) call(t *testing.T, method, path, token string, body string, header ...string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func (h *authHarness) events(t *testing.T, token, body string) (int, intakeAnswer, []byte) {
	t.Helper()
	status, b, _ := h.call(t, http.MethodPost, "/v1/events", token, body)
	var a intakeAnswer
	_ = json.Unmarshal(b, &a)
	return status, a, b
}

func eventOf(contract, id, user string, routes ...string) string {
	return strings.Replace(order(id, user, routes...), `"contract":"orders"`, `"contract":"`+contract+`"`, 1)
}

func TestIntakeAuthentication(t *testing.T) {
	h := newAuthHarness(t, false, nil)
	ev := eventOf("orders", "a1", "u1")
	for _, tc := range []struct {
		name, token, header string
		want                string // in the error
		invalid             bool   // WWW-Authenticate says invalid_token
	}{
		{name: "no credentials", want: "no credentials"},
		{name: "forged token", token: "tok-forged", want: "not known", invalid: true},
		{name: "expired token", token: tokExpired, want: "expired", invalid: true},
		{name: "empty bearer", header: "Bearer ", want: "no credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.header != "" {
				hdr = []string{"Authorization", tc.header}
			}
			status, body, header := h.call(t, http.MethodPost, "/v1/events", tc.token, ev, hdr...)
			if status != http.StatusUnauthorized {
				t.Fatalf("HTTP %d %s, want 401", status, body)
			}
			var p struct{ Error string }
			if err := json.Unmarshal(body, &p); err != nil || !strings.Contains(p.Error, tc.want) {
				t.Fatalf("problem %s, want a JSON error saying %q", body, tc.want)
			}
			if tc.token != "" && strings.Contains(string(body), tc.token) {
				t.Fatalf("the answer echoes the token: %s", body)
			}
			ch := header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer ") || strings.Contains(ch, "invalid_token") != tc.invalid {
				t.Fatalf("WWW-Authenticate %q", ch)
			}
			// Avro intake refuses alike, before reading the body.
			if status, body, _ := h.call(t, http.MethodPost, "/v1/events/orders", tc.token, "\x00\x00\x00\x00\x07", hdr...); status != http.StatusUnauthorized {
				t.Fatalf("Avro intake: HTTP %d %s, want 401", status, body)
			}
		})
	}
	if got := h.lake.count("a1"); got != 0 {
		t.Fatalf("an unauthenticated event was delivered %d times", got)
	}
	t.Run("every protected endpoint", func(t *testing.T) {
		for _, ep := range [][2]string{{"GET", "/v1/ledger"}, {"GET", "/v1/deadletters"}, {"POST", "/v1/deadletters/replay?route=lake"},
			{"POST", "/v1/erasure"}, {"GET", "/v1/erasure?contract=orders"}} {
			if status, body, _ := h.call(t, ep[0], ep[1], "", `{}`); status != http.StatusUnauthorized {
				t.Errorf("%s %s without a token: HTTP %d %s, want 401", ep[0], ep[1], status, body)
			}
		}
		for _, ep := range []string{"/healthz", "/readyz", "/metrics"} {
			if status, body, _ := h.call(t, http.MethodGet, ep, "", ""); status != http.StatusOK {
				t.Errorf("GET %s without a token: HTTP %d %.200s, want 200 (it stays open)", ep, status, body)
			}
		}
	})
}

func TestIntakeAuthorisation(t *testing.T) {
	h := newAuthHarness(t, false, nil)
	for _, tc := range []struct {
		name, token, contract string
		ok                    bool
	}{
		{"owner", tokOwner, "orders", true},
		{"granted by pattern", tokGranted, "orders", true},
		{"admin", tokAdmin, "orders", true},
		{"admin, another team's contract", tokAdmin, "clicks", true},
		{"not granted", tokClicks, "orders", false},
		{"grant does not reach other contracts", tokGranted, "clicks", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			id = strings.ReplaceAll(id, ",", "")
			status, a, body := h.events(t, tc.token, eventOf(tc.contract, id, "u1"))
			if tc.ok {
				if status != http.StatusOK || a.Accepted != 1 {
					t.Fatalf("HTTP %d %s, want accepted", status, body)
				}
				return
			}
			if status != http.StatusForbidden || a.Rejected != 1 {
				t.Fatalf("HTTP %d %s, want 403 with the event rejected", status, body)
			}
			ev := a.Events[0]
			if ev.Reason != ReasonNotAuthorized || ev.Field != "contract" || !strings.Contains(ev.Error, tc.contract) || !strings.Contains(ev.Error, `"team-`) {
				t.Fatalf("rejection %+v: want not_authorized on contract naming the team and the contract", ev)
			}
			if strings.Contains(string(body), tc.token) {
				t.Fatalf("the answer echoes the token: %s", body)
			}
		})
	}
	t.Run("Avro intake", func(t *testing.T) {
		status, b, _ := h.call(t, http.MethodPost, "/v1/events/orders", tokClicks, "\x00\x00\x00\x00\x07\x04u1\x0a\x80\x80\x80\x80\x80\x80\x80\x01")
		var a intakeAnswer
		_ = json.Unmarshal(b, &a)
		if status != http.StatusForbidden || len(a.Events) != 1 || a.Events[0].Reason != ReasonNotAuthorized {
			t.Fatalf("HTTP %d %s, want 403 not_authorized", status, b)
		}
	})
	t.Run("mixed batch", func(t *testing.T) {
		// team-web may send clicks, not orders: the batch is partly accepted.
		status, a, body := h.events(t, tokClicks, "["+eventOf("clicks", "m1", "u1")+","+eventOf("orders", "m2", "u2")+"]")
		if status != http.StatusMultiStatus || a.Accepted != 1 || a.Events[0].Status != "accepted" || a.Events[1].Reason != ReasonNotAuthorized {
			t.Fatalf("HTTP %d %s, want 207: m1 accepted, m2 not_authorized", status, body)
		}
		waitFor(t, "m1 delivered (fast and lake share the sink)", func() bool { return h.lake.count("m1") == 2 })
		if h.lake.count("m2") != 0 {
			t.Fatal("the refused event was delivered")
		}
		// Refused for two reasons: no longer all not_authorized, so the existing 422.
		status, a, body = h.events(t, tokClicks, "["+eventOf("orders", "m3", "u1")+`,{"contract":"clicks","data":{"user_id":"u"}}]`)
		if status != http.StatusUnprocessableEntity || a.Rejected != 2 || a.Events[0].Reason != ReasonNotAuthorized || a.Events[1].Reason != ReasonInvalidData {
			t.Fatalf("HTTP %d %s, want 422 with not_authorized and invalid_data", status, body)
		}
	})
}

func TestOpenRouterNeedsNoToken(t *testing.T) {
	h := newAuthHarness(t, true, nil)
	if status, a, body := h.events(t, "", eventOf("orders", "o1", "u1")); status != http.StatusOK || a.Accepted != 1 {
		t.Fatalf("HTTP %d %s", status, body)
	}
	if status, body, _ := h.call(t, http.MethodPost, "/v1/deadletters/replay?route=lake", "", ""); status != http.StatusOK {
		t.Fatalf("replay on an open router: HTTP %d %s", status, body)
	}
}

func TestDeadLetterEndpointsAuthorisation(t *testing.T) {
	h := newAuthHarness(t, false, nil)
	h.lake.setFail(func(b *Batch) error { return Permanent(errors.New("refused")) })
	for _, ev := range []struct{ tok, body string }{{tokOwner, eventOf("orders", "d1", "u1")}, {tokClicks, eventOf("clicks", "d2", "u2")}} {
		if status, _, body := h.events(t, ev.tok, ev.body); status != http.StatusOK {
			t.Fatalf("HTTP %d %s", status, body)
		}
	}
	list := func(token string) []DeadLetter {
		status, b, _ := h.call(t, http.MethodGet, "/v1/deadletters?route=lake", token, "")
		if status != http.StatusOK {
			t.Fatalf("list: HTTP %d %s", status, b)
		}
		var l struct {
			DeadLetters []DeadLetter `json:"dead_letters"`
		}
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		return l.DeadLetters
	}
	waitFor(t, "both dead-lettered", func() bool { return len(list(tokAdmin)) == 2 })
	if got := list(tokOwner); len(got) != 1 || got[0].Contract != "orders" {
		t.Fatalf("the owner of orders sees %+v, want only its own dead letter", got)
	}
	if got := list(tokGranted); len(got) != 0 {
		t.Fatalf("a team owning nothing sees %+v", got)
	}
	if status, body, _ := h.call(t, http.MethodPost, "/v1/deadletters/replay?route=lake", tokOwner, ""); status != http.StatusForbidden || !strings.Contains(string(body), "admin") {
		t.Fatalf("replay by a team: HTTP %d %s, want 403 naming admins", status, body)
	}
	h.lake.setFail(nil)
	if status, body, _ := h.call(t, http.MethodPost, "/v1/deadletters/replay?route=lake", tokAdmin, ""); status != http.StatusOK || !strings.Contains(string(body), `"replayed":2`) {
		t.Fatalf("replay by an admin: HTTP %d %s", status, body)
	}
	waitFor(t, "replayed events delivered", func() bool { return h.lake.count("d1") == 1 && h.lake.count("d2") == 1 })
}

func TestErasureAuthorisation(t *testing.T) {
	h := newAuthHarness(t, false, nil)
	body := `{"contract":"orders","key":"u1"}`
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"another team", tokClicks, http.StatusForbidden},
		{"a team granted to produce is not the owner", tokGranted, http.StatusForbidden},
		{"owner", tokOwner, http.StatusOK},
		{"admin", tokAdmin, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, b, _ := h.call(t, http.MethodPost, "/v1/erasure", tc.token, body)
			if status != tc.status {
				t.Fatalf("HTTP %d %s, want %d", status, b, tc.status)
			}
			if status, b, _ := h.call(t, http.MethodGet, "/v1/erasure?contract=orders", tc.token, ""); status != tc.status {
				t.Fatalf("listing: HTTP %d %s, want %d", status, b, tc.status)
			}
		})
	}
	if got := len(h.audit.recs); got != 2 {
		t.Fatalf("%d audit records, want 2 (refused requests are not carried out)", got)
	}
	if status, b, _ := h.call(t, http.MethodGet, "/v1/erasure", tokOwner, ""); status != http.StatusBadRequest {
		t.Fatalf("a team listing every contract: HTTP %d %s, want 400", status, b)
	}
	if status, b, _ := h.call(t, http.MethodGet, "/v1/erasure", tokAdmin, ""); status != http.StatusOK || bytes.Count(b, []byte(`"action":"erasure"`)) != 2 {
		t.Fatalf("an admin listing everything: HTTP %d %s", status, b)
	}
}
