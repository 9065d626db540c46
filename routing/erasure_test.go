package routing

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func (h *authHarness) erase(t *testing.T, token, contract, key, query string) (int, erasureAnswer) {
	t.Helper()
	status, b, _ := h.call(t, http.MethodPost, "/v1/erasure"+query, token, `{"contract":"`+contract+`","key":"`+key+`"}`)
	var a erasureAnswer
	if status < 500 || status == http.StatusBadGateway {
		if err := json.Unmarshal(b, &a); err != nil && status != http.StatusForbidden {
			t.Fatalf("HTTP %d %s", status, b)
		}
	}
	return status, a
}

func outcomeOf(a erasureAnswer, route string) string {
	for _, r := range a.Routes {
		if r.Route == route {
			return r.Outcome
		}
	}
	return "absent"
}

// indexOf is the position of op in ops, -1 when absent.
func indexOf(ops []string, op string) int { return slices.Index(ops, op) }

func TestErasureErasesLatestRoutesOnlyAndIsAudited(t *testing.T) {
	h := newAuthHarness(t, false, nil)
	for _, id := range []string{"e1", "e2"} {
		if status, _, body := h.events(t, tokOwner, order(id, "u1", "profiles")); status != http.StatusOK {
			t.Fatalf("HTTP %d %s", status, body)
		}
	}
	if status, _, body := h.events(t, tokOwner, order("other", "u2", "profiles")); status != http.StatusOK {
		t.Fatalf("HTTP %d %s", status, body)
	}
	waitFor(t, "delivery", func() bool { return h.profiles.count("e2") == 1 && h.profiles.count("other") == 1 })

	status, a := h.erase(t, tokOwner, "orders", "u1", "")
	if status != http.StatusOK || a.Status != ErasureErased || a.ID == "" {
		t.Fatalf("HTTP %d %+v, want 200 erased", status, a)
	}
	if outcomeOf(a, "profiles") != ErasureErased {
		t.Fatalf("profiles: %+v", a)
	}
	for _, r := range []string{"lake", "fast", "slow"} {
		if outcomeOf(a, r) != ErasureRecordedOnly {
			t.Fatalf("append route %s: %+v, want recorded_only", r, a)
		}
	}
	if ops := h.profiles.log(); indexOf(ops, "erase orders|u1") < 0 || strings.Contains(strings.Join(ops, ";"), "u2") {
		t.Fatalf("profiles sink saw %v: want orders|u1 erased, nothing else", ops)
	}
	for _, op := range h.lake.log() {
		if strings.Contains(op, "erase") {
			t.Fatalf("the append sink was asked to erase: %v", h.lake.log())
		}
	}

	// The audit trail.
	if len(h.audit.recs) != 1 {
		t.Fatalf("audit: %+v", h.audit.recs)
	}
	rec := h.audit.recs[0]
	if rec.Action != "erasure" || rec.Subject != "orders" || rec.Key != "u1" || rec.ID != a.ID || rec.Who != (AuditWho{Team: "team-orders", Name: "orders-ci"}) ||
		!slices.Equal(rec.RoutesErased, []string{"profiles"}) || !slices.Equal(rec.RoutesRecordedOnly, []string{"fast", "lake", "slow"}) || rec.Time.IsZero() {
		t.Fatalf("audit record %+v", rec)
	}
	status, b, _ := h.call(t, http.MethodGet, "/v1/erasure?contract=orders", tokOwner, "")
	var listed struct {
		Erasures []AuditRecord `json:"erasures"`
	}
	if status != http.StatusOK || json.Unmarshal(b, &listed) != nil || len(listed.Erasures) != 1 || listed.Erasures[0].ID != a.ID {
		t.Fatalf("GET /v1/erasure: HTTP %d %s", status, b)
	}

	// The verify sample knows the key is erased; a newer event clears that.
	sample := h.rt.routes["profiles"].latestSample()
	if v := sample.Versions["orders|u1"]; !v.Erased || v.ID != "e2" {
		t.Fatalf("sample of the erased key: %+v", v)
	}
	if v := sample.Versions["orders|u2"]; v.Erased {
		t.Fatalf("another key marked erased: %+v", v)
	}
	newer := strings.Replace(order("e3", "u1", "profiles"), "1795300000000", "1795300001000", 1)
	if status, _, body := h.events(t, tokOwner, newer); status != http.StatusOK {
		t.Fatalf("HTTP %d %s", status, body)
	}
	waitFor(t, "the newer event", func() bool { return h.profiles.count("e3") == 1 })
	waitFor(t, "the sample updated", func() bool {
		v := h.rt.routes["profiles"].latestSample().Versions["orders|u1"]
		return v.ID == "e3" && !v.Erased
	})
	// Erasure requests are not events: the ledger counts none.
	rows, err := h.rt.LedgerRows()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Route == "profiles" && (r.Accepted != 4 || r.Pending != 0 || r.DeadLettered != 0) {
			t.Fatalf("ledger row %+v: want 4 accepted, all delivered", r)
		}
	}
}

// TestErasureFollowsWALOrder: an event accepted before the erasure and still waiting
// for its store is stored first and erased with the rest; one accepted after is
// stored after the erasure.
func TestErasureFollowsWALOrder(t *testing.T) {
	h := newAuthHarness(t, false, nil)
	stuck := errors.New("store down")
	h.profiles.setFail(func(*Batch) error { return stuck })
	// The route is stuck on "first", so that "before" and the erasure wait in the WAL
	// and are read in one go when the store is back.
	if status, _, body := h.events(t, tokOwner, order("first", "u0", "profiles")); status != http.StatusOK {
		t.Fatalf("HTTP %d %s", status, body)
	}
	waitFor(t, "a failed attempt", func() bool { return len(h.profiles.writes) > 0 })
	if status, _, body := h.events(t, tokOwner, order("before", "u1", "profiles")); status != http.StatusOK {
		t.Fatalf("HTTP %d %s", status, body)
	}
	status, a := h.erase(t, tokOwner, "orders", "u1", "?wait=0s")
	if status != http.StatusAccepted || a.Status != ErasurePending || outcomeOf(a, "profiles") != ErasurePending {
		t.Fatalf("HTTP %d %+v, want 202 pending while the store is down", status, a)
	}
	if status, _, body := h.events(t, tokOwner, order("after", "u1", "profiles")); status != http.StatusOK {
		t.Fatalf("HTTP %d %s", status, body)
	}
	h.profiles.setFail(nil)
	waitFor(t, "the event after the erasure", func() bool { return h.profiles.count("after") == 1 })
	ops := h.profiles.log()
	w0, w1, e, w2 := indexOf(ops, "write first"), indexOf(ops, "write before"), indexOf(ops, "erase orders|u1"), indexOf(ops, "write after")
	if w0 < 0 || w1 < 0 || e < 0 || w2 < 0 || !(w0 < w1 && w1 < e && e < w2) {
		t.Fatalf("profiles sink saw %v: want the earlier event, then the erasure, then the later event", ops)
	}
}

func TestErasureThatFailsIsDeadLetteredAndReplayable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fail   error
		maxLag string
		reason string
	}{
		{"refused by the store", Permanent(errors.New("not allowed here")), "1m", "not allowed here"},
		{"store down past max_lag", errors.New("connection refused"), "50ms", "max_lag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newAuthHarness(t, false, func(c *Config) {
				r := c.Routes["profiles"]
				r.MaxLag = mustDuration(t, tc.maxLag)
				c.Routes["profiles"] = r
			})
			h.profiles.eraseFn = func() error { return tc.fail }
			status, a := h.erase(t, tokOwner, "orders", "u1", "")
			if status != http.StatusBadGateway || a.Status != "failed" || outcomeOf(a, "profiles") != ErasureDeadLettered {
				t.Fatalf("HTTP %d %+v, want 502 with profiles dead_lettered", status, a)
			}
			status, b, _ := h.call(t, http.MethodGet, "/v1/deadletters?route=profiles", tokOwner, "")
			var l struct {
				DeadLetters []DeadLetter `json:"dead_letters"`
			}
			if status != http.StatusOK || json.Unmarshal(b, &l) != nil || len(l.DeadLetters) != 1 || !l.DeadLetters[0].Erasure || !strings.Contains(l.DeadLetters[0].Reason, tc.reason) {
				t.Fatalf("dead letters: HTTP %d %s", status, b)
			}
			rows, _ := h.rt.LedgerRows()
			if len(rows) != 0 {
				t.Fatalf("ledger %+v: an erasure is not an event", rows)
			}
			h.profiles.mu.Lock()
			h.profiles.eraseFn = nil
			h.profiles.mu.Unlock()
			status, b, _ = h.call(t, http.MethodPost, "/v1/deadletters/replay?route=profiles", tokAdmin, "")
			if status != http.StatusOK || !strings.Contains(string(b), `"replayed":1`) || !strings.Contains(string(b), `"erasures":1`) {
				t.Fatalf("replay: HTTP %d %s", status, b)
			}
			waitFor(t, "the replayed erasure", func() bool { return indexOf(h.profiles.log(), "erase orders|u1") >= 0 })
		})
	}
}

func mustDuration(t *testing.T, s string) Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return Duration(d)
}

// TestErasureErasesTheKeysDeadLetters: an event of the key dead-lettered on the route
// before the erasure loses its data (also in the log file) and is never replayed.
func TestErasureErasesTheKeysDeadLetters(t *testing.T) {
	h := newAuthHarness(t, false, nil)
	h.profiles.setFail(func(b *Batch) error {
		be := &BatchError{}
		for i, ev := range b.Events {
			if ev.Key == "u1" {
				be.Items = append(be.Items, ItemError{Index: i, Err: Permanent(errors.New("mapping conflict"))})
			}
		}
		if len(be.Items) == 0 {
			return nil
		}
		return be
	})
	if status, _, body := h.events(t, tokOwner, "["+order("dead", "u1", "profiles")+","+order("kept", "u2", "profiles")+"]"); status != http.StatusOK {
		t.Fatalf("HTTP %d %s", status, body)
	}
	waitFor(t, "u1's dead letter", func() bool { return len(h.rt.dead.List("profiles", 0)) == 1 && h.profiles.count("kept") == 1 })
	h.profiles.setFail(func(b *Batch) error {
		for i, ev := range b.Events {
			if ev.Key == "u2" {
				return &BatchError{Items: []ItemError{{Index: i, Err: Permanent(errors.New("mapping conflict"))}}}
			}
		}
		return nil
	})
	if status, _, body := h.events(t, tokOwner, order("dead2", "u2", "profiles")); status != http.StatusOK {
		t.Fatalf("HTTP %d %s", status, body)
	}
	waitFor(t, "u2's dead letter", func() bool { return len(h.rt.dead.List("profiles", 0)) == 2 })
	h.profiles.setFail(nil)
	logPath := filepath.Join(h.rt.cfg.StateDir, "deadletters", "profiles.log")
	if raw, _ := os.ReadFile(logPath); strings.Count(string(raw), `"data":`) != 2 {
		t.Fatalf("the log should hold both letters' data before the erasure:\n%s", raw)
	}

	if status, a := h.erase(t, tokOwner, "orders", "u1", ""); status != http.StatusOK {
		t.Fatalf("HTTP %d %+v", status, a)
	}
	letters := h.rt.dead.List("profiles", 0)
	if len(letters) != 2 {
		t.Fatalf("letters %+v", letters)
	}
	for _, l := range letters {
		if l.Erased != (l.Key == "u1") {
			t.Fatalf("letter %+v: only u1's is erased", l)
		}
	}
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(raw), `"data":`) != 1 || !strings.Contains(string(raw), `"erased":true`) {
		t.Fatalf("the log still holds the erased letter's data, or lost the other's:\n%s", raw)
	}
	// A restart reads the rewritten log the same way.
	reopened, err := OpenDeadLetters(filepath.Dir(logPath))
	if err != nil {
		t.Fatal(err)
	}
	if got := reopened.List("profiles", 0); len(got) != 2 || got[0].Erased == got[1].Erased {
		t.Fatalf("after reopening: %+v", got)
	}
	reopened.Close()

	status, b, _ := h.call(t, http.MethodPost, "/v1/deadletters/replay?route=profiles", tokAdmin, "")
	if status != http.StatusOK || !strings.Contains(string(b), `"replayed":1`) {
		t.Fatalf("replay: HTTP %d %s, want only u2's letter replayed", status, b)
	}
	waitFor(t, "u2's replayed event", func() bool { return h.profiles.count("dead2") == 1 })
	if h.profiles.count("dead") != 0 {
		t.Fatal("the erased key's dead letter was replayed")
	}
}

func TestErasureNotRecordedIsNotCarriedOut(t *testing.T) {
	h := newAuthHarness(t, false, nil)
	h.audit.fail = errors.New("etcd unavailable")
	status, b, _ := h.call(t, http.MethodPost, "/v1/erasure", tokOwner, `{"contract":"orders","key":"u1"}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(string(b), "audit trail") {
		t.Fatalf("HTTP %d %s, want 503 naming the audit trail", status, b)
	}
	// A later event and its delivery prove the route has passed where an erasure
	// would have been, had one been written.
	if status, _, body := h.events(t, tokOwner, order("probe", "u9", "profiles")); status != http.StatusOK {
		t.Fatalf("HTTP %d %s", status, body)
	}
	waitFor(t, "the probe", func() bool { return h.profiles.count("probe") == 1 })
	if ops := h.profiles.log(); strings.Contains(strings.Join(ops, ";"), "erase") {
		t.Fatalf("erased without an audit record: %v", ops)
	}
}

func TestErasureBadRequests(t *testing.T) {
	h := newAuthHarness(t, false, nil)
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"contract":"orders"}`, http.StatusBadRequest},
		{`{"key":"u1"}`, http.StatusBadRequest},
		{`{"contract":"orders","key":"u1","extra":1}`, http.StatusBadRequest},
		{`not json`, http.StatusBadRequest},
		{`{"contract":"nope","key":"u1"}`, http.StatusNotFound},
		{`{"contract":"orders","key":"` + strings.Repeat("k", 513) + `"}`, http.StatusBadRequest},
	} {
		if status, b, _ := h.call(t, http.MethodPost, "/v1/erasure", tokAdmin, tc.body); status != tc.status {
			t.Errorf("%.60s: HTTP %d %s, want %d", tc.body, status, b, tc.status)
		}
	}
	if len(h.audit.recs) != 0 {
		t.Fatalf("bad requests were recorded: %+v", h.audit.recs)
	}
}

func TestErasureRecordRoundTrip(t *testing.T) {
	rec := &Record{Event: Event{ID: "x1", Contract: "c", Key: "k", Time: time.UnixMicro(5).UTC(), Received: time.UnixMicro(6).UTC()},
		Routes: []string{"profiles"}, Erasure: true}
	got, err := DecodeRecord(9, AppendRecord(nil, rec))
	if err != nil || !got.Erasure || got.Replay || got.Key != "k" || !slices.Equal(got.Routes, rec.Routes) || len(got.Data) != 0 {
		t.Fatalf("decoded %+v, %v", got, err)
	}
}
