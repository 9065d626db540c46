package routing

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestResentEventsAreWrittenOnce: an event sent again with its id — in a later
// request, twice in one request, or after a restart — is answered accepted and
// "duplicate" and reaches the sink once; events without ids are never taken for
// duplicates.
func TestResentEventsAreWrittenOnce(t *testing.T) {
	dir := t.TempDir()
	h := openHarness(t, dir, nil)
	checkAnswer := func(body string, want ...string) {
		t.Helper()
		status, a, _ := h.post(t, body)
		if status != 200 || len(a.Events) != len(want) {
			t.Fatalf("HTTP %d %+v", status, a)
		}
		for i, w := range want {
			ev := a.Events[i]
			if ev.Status != "accepted" || ev.Duplicate != (w == "duplicate") || ev.ID == "" {
				t.Fatalf("event %d: %+v, want accepted (%s)", i, ev, w)
			}
		}
	}
	checkAnswer(order("dup-1", "u1", "lake"), "new")
	checkAnswer(order("dup-1", "u1", "lake"), "duplicate")
	checkAnswer("["+order("dup-2", "u2", "lake")+","+order("dup-2", "u2", "lake")+","+order("dup-1", "u1", "lake")+"]", "new", "duplicate", "duplicate")
	noID := `{"contract":"orders","routes":["lake"],"data":{"user_id":"u3","amount":5,"ts":1795300000000}}`
	checkAnswer("["+noID+","+noID+"]", "new", "new")
	waitFor(t, "delivery", func() bool { return h.sinks["lake"].count("dup-2") == 1 })
	h.close(t)

	h = openHarness(t, dir, nil) // the window is refilled from the WAL
	checkAnswer(order("dup-1", "u1", "lake"), "duplicate")
	checkAnswer(order("dup-3", "u1", "lake"), "new")
	waitFor(t, "delivery", func() bool { return h.sinks["lake"].count("dup-3") == 1 })
	if n := h.sinks["lake"].count("dup-1"); n > 1 {
		t.Fatalf("dup-1 delivered %d times", n)
	}
	rows, err := h.rt.LedgerRows()
	if err != nil {
		t.Fatal(err)
	}
	var accepted int64
	for _, r := range rows {
		if r.Route == "lake" {
			accepted += r.Accepted
		}
	}
	if accepted != 5 { // dup-1, dup-2, two without ids, dup-3
		t.Fatalf("the ledger counts %d accepted on lake, want 5", accepted)
	}
}

func TestIDWindowBoundsAndClaims(t *testing.T) {
	at := time.Unix(1e9, 0)
	w := newIDWindow(time.Minute, 3)
	for i := range 4 {
		id := fmt.Sprint("e", i)
		if got := w.claim(id); got != claimNew {
			t.Fatalf("claim %s: %v", id, got)
		}
		w.commit([]string{id}, at.Add(time.Duration(i)*time.Second))
	}
	if w.size() != 3 || w.claim("e0") != claimNew {
		t.Fatalf("the oldest id should be gone past max_ids; size %d", w.size())
	}
	w.release([]string{"e0"})
	if got := w.claim("e3"); got != claimDuplicate {
		t.Fatalf("claim e3: %v, want duplicate", got)
	}
	if w.claim("x") != claimNew || w.claim("x") != claimInFlight {
		t.Fatal("a claimed id being written must be in flight for another request")
	}
	w.release([]string{"x"})
	if w.claim("x") != claimNew {
		t.Fatal("a released claim must be free again")
	}
	w.commit([]string{"x"}, at.Add(2*time.Minute)) // everything older than a minute goes
	if w.size() != 1 || w.claim("e3") != claimNew {
		t.Fatalf("ids past the window must be forgotten; size %d", w.size())
	}
}

func TestDedupConfigDefaultsAndValidation(t *testing.T) {
	cfg, err := ParseConfig([]byte("state_dir: /tmp/x\netcd_endpoints: [127.0.0.1:2379]\nsinks: {a: {kind: fake}}\nroutes: {a: {sink: a, class: analytic, target: t}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dedup.Window.D() != DefaultDedupWindow || cfg.Dedup.MaxIDs != DefaultDedupMaxIDs {
		t.Fatalf("defaults %+v", cfg.Dedup)
	}
	cfg.Dedup.MaxIDs = -1
	if err := cfg.Validate(nil); err == nil || !strings.Contains(err.Error(), "dedup.max_ids") {
		t.Fatalf("a negative max_ids: %v", err)
	}
}
