package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/fleet"
)

// fakeInventory answers from fixed counts and versions, or fails.
type fakeInventory struct {
	counts   map[string]map[string]HourCount // contract → hour → count
	versions map[string]routing.Version      // key → stored version
	err      error
	asked    [][2]time.Time
}

func (f *fakeInventory) Count(_ context.Context, _ routing.Route, contract string, since, until time.Time) (map[string]HourCount, error) {
	f.asked = append(f.asked, [2]time.Time{since, until})
	return f.counts[contract], f.err
}

func (f *fakeInventory) Versions(_ context.Context, _ routing.Route, _ string, keys []string) (map[string]routing.Version, error) {
	out := map[string]routing.Version{}
	for _, k := range keys {
		if v, ok := f.versions[k]; ok {
			out[k] = v
		}
	}
	return out, f.err
}

func row(route, contract, hour string, accepted, delivered, dead int64) routing.LedgerRow {
	return routing.LedgerRow{Route: route, Contract: contract, Hour: hour, Accepted: accepted, Delivered: delivered,
		DeadLettered: dead, Pending: accepted - delivered - dead}
}

func TestAppendVerdicts(t *testing.T) {
	const h1, h2 = "2026-11-22T10", "2026-11-22T11"
	cases := []struct {
		name    string
		rows    []routing.LedgerRow
		stored  map[string]HourCount
		verdict map[string]string // hour → verdict
		explain string            // in the difference's explanation
		diffs   int
	}{
		{"exact", []routing.LedgerRow{row("lake", "c", h1, 10, 10, 0)}, map[string]HourCount{h1: {10, 10}}, map[string]string{h1: OK}, "", 0},
		{"dead letters are not expected in the store", []routing.LedgerRow{row("lake", "c", h1, 10, 8, 2)}, map[string]HourCount{h1: {8, 8}}, map[string]string{h1: OK}, "", 0},
		{"missing", []routing.LedgerRow{row("lake", "c", h1, 10, 10, 0)}, map[string]HourCount{h1: {7, 7}}, map[string]string{h1: Missing}, "3 event(s) confirmed delivered", 1},
		{"duplicated", []routing.LedgerRow{row("lake", "c", h1, 10, 10, 0)}, map[string]HourCount{h1: {12, 10}}, map[string]string{h1: Duplicated}, "2 record(s) repeat", 1},
		{"unexpected", []routing.LedgerRow{row("lake", "c", h1, 10, 10, 0)}, map[string]HourCount{h1: {11, 11}}, map[string]string{h1: Unexpected}, "1 event(s) in the store are not in any", 1},
		{"an hour only the store has", []routing.LedgerRow{row("lake", "c", h1, 1, 1, 0), row("lake", "c", h2, 0, 0, 0)}, map[string]HourCount{h1: {1, 1}, h2: {4, 4}}, map[string]string{h1: OK, h2: Unexpected}, "4 event(s)", 1},
		{"in flight", []routing.LedgerRow{row("lake", "c", h1, 10, 6, 0)}, map[string]HourCount{h1: {8, 8}}, map[string]string{h1: InFlight}, "", 0},
		{"summed over routers", []routing.LedgerRow{row("lake", "c", h1, 5, 5, 0), row("lake", "c", h1, 5, 5, 0)}, map[string]HourCount{h1: {10, 10}}, map[string]string{h1: OK}, "", 0},
		{"duplicated and missing at once", []routing.LedgerRow{row("lake", "c", h1, 10, 10, 0)}, map[string]HourCount{h1: {10, 9}}, map[string]string{h1: Duplicated + "+" + Missing}, "1 event(s) confirmed", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var snaps []fleet.Snapshot
			for i, r := range c.rows {
				snaps = append(snaps, fleet.Snapshot{Router: string(rune('a' + i)), Rows: []routing.LedgerRow{r}})
			}
			inv := &fakeInventory{counts: map[string]map[string]HourCount{"c": c.stored}}
			rep, err := Run(context.Background(), []Target{{Route: routing.Route{Name: "lake", Mode: routing.Append}, Inventory: inv}}, snaps, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, r := range rep.Rows {
				got[r.Hour] = r.Verdict
				if c.explain != "" && r.Verdict != OK && !strings.Contains(r.Explanation, c.explain) {
					t.Errorf("explanation %q lacks %q", r.Explanation, c.explain)
				}
			}
			if len(got) != len(c.verdict) {
				t.Fatalf("verdicts %v, want %v", got, c.verdict)
			}
			for h, v := range c.verdict {
				if got[h] != v {
					t.Errorf("hour %s: verdict %q, want %q", h, got[h], v)
				}
			}
			if rep.Differences != c.diffs {
				t.Errorf("differences %d, want %d", rep.Differences, c.diffs)
			}
			var out bytes.Buffer
			rep.Print(&out)
			if c.diffs > 0 && !strings.Contains(out.String(), "difference(s)") || c.diffs == 0 && strings.Contains(out.String(), "difference(s)") {
				t.Errorf("printed report does not match %d differences:\n%s", c.diffs, out.String())
			}
		})
	}
}

func TestRangeAndContractFilter(t *testing.T) {
	snaps := []fleet.Snapshot{{Router: "r", Rows: []routing.LedgerRow{
		row("lake", "a", "2026-11-22T09", 1, 1, 0), row("lake", "a", "2026-11-22T10", 2, 2, 0),
		row("lake", "a", "2026-11-22T12", 3, 3, 0), row("lake", "b", "2026-11-22T10", 4, 4, 0),
	}}}
	inv := &fakeInventory{counts: map[string]map[string]HourCount{"a": {"2026-11-22T10": {2, 2}}}}
	since := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	until := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	rep, err := Run(context.Background(), []Target{{Route: routing.Route{Name: "lake"}, Inventory: inv}}, snaps, Options{Since: since, Until: until, Contract: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Hour != "2026-11-22T10" || rep.Rows[0].Verdict != OK {
		t.Fatalf("rows %+v, want only a's hour 10 (it overlaps the range), ok", rep.Rows)
	}
	if len(inv.asked) != 1 || !inv.asked[0][0].Equal(since) || !inv.asked[0][1].Equal(time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("asked the store for %v", inv.asked)
	}
}

func TestLatestVerdicts(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	v := func(id string, d time.Duration) routing.Version { return routing.Version{ID: id, Time: at.Add(d)} }
	sample := func(vs map[string]routing.Version) map[string]routing.LatestSample {
		return map[string]routing.LatestSample{"profiles": {Versions: vs, Below: routing.NoBound}}
	}
	snaps := []fleet.Snapshot{
		{Router: "r1", Latest: sample(map[string]routing.Version{"c|k1": v("e1", 0), "c|k2": v("e2", 0), "c|k3": v("e3", 0), "c|k4": v("e4", time.Second)})},
		// A second router delivered a newer version of k1.
		{Router: "r2", Latest: sample(map[string]routing.Version{"c|k1": v("e1b", time.Minute)})},
	}
	inv := &fakeInventory{versions: map[string]routing.Version{
		"k1": v("e1b", time.Minute), // newest across routers
		"k2": v("e0", -time.Minute), // stale
		// k3 missing
		"k4": v("e9", time.Hour), // newer than anything delivered, nothing pending
	}}
	rep, err := Run(context.Background(), []Target{{Route: routing.Route{Name: "profiles", Mode: routing.Latest}, Inventory: inv}}, snaps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k1": OK, "k2": Stale, "k3": Missing, "k4": Unexpected}
	for _, k := range rep.Keys {
		if want[k.Key] != k.Verdict {
			t.Errorf("key %s: %s (%s), want %s", k.Key, k.Verdict, k.Explanation, want[k.Key])
		}
		delete(want, k.Key)
	}
	if len(want) != 0 || rep.Differences != 3 {
		t.Fatalf("unchecked keys %v; differences %d, want 3", want, rep.Differences)
	}
}

func TestStoreErrorsAndUnverifiableSinks(t *testing.T) {
	snaps := []fleet.Snapshot{{Router: "r", Rows: []routing.LedgerRow{row("lake", "a", "2026-11-22T09", 1, 1, 0)}}}
	_, err := Run(context.Background(), []Target{{Route: routing.Route{Name: "lake"}, Inventory: &fakeInventory{err: errors.New("boom")}}}, snaps, Options{})
	if err == nil || !strings.Contains(err.Error(), "route lake") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("a store that cannot be read: %v", err)
	}
	rep, err := Run(context.Background(), []Target{{Route: routing.Route{Name: "lake"}}}, snaps, Options{})
	if err != nil || len(rep.Skipped) != 1 || rep.Differences != 0 {
		t.Fatalf("a sink without Inventory: %+v, %v", rep, err)
	}
}

func TestTally(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tl := NewTally(at, at.Add(2*time.Hour))
	for _, r := range []struct {
		d    time.Duration
		id   string
		want bool
	}{{0, "a", true}, {time.Minute, "b", true}, {2 * time.Minute, "a", true}, {time.Hour, "c", true}, {-time.Second, "x", false}, {2 * time.Hour, "y", false}} {
		if got := tl.Add(at.Add(r.d), r.id); got != r.want {
			t.Errorf("Add(+%v, %s) = %v", r.d, r.id, got)
		}
	}
	want := map[string]HourCount{"2026-11-22T10": {3, 2}, "2026-11-22T11": {1, 1}}
	if got := tl.Counts(); len(got) != 2 || got["2026-11-22T10"] != want["2026-11-22T10"] || got["2026-11-22T11"] != want["2026-11-22T11"] {
		t.Fatalf("counts %v, want %v", got, want)
	}
}

func TestLatestKeyAheadWhileEventsPendIsInFlight(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	snaps := []fleet.Snapshot{{Router: "r", Rows: []routing.LedgerRow{row("profiles", "c", "2026-11-22T10", 3, 2, 0)},
		Latest: map[string]routing.LatestSample{"profiles": {Below: routing.NoBound, Versions: map[string]routing.Version{"c|k": {ID: "e1", Time: at}}}}}}
	inv := &fakeInventory{versions: map[string]routing.Version{"k": {ID: "e2", Time: at.Add(time.Second)}}}
	rep, err := Run(context.Background(), []Target{{Route: routing.Route{Name: "profiles", Mode: routing.Latest}, Inventory: inv}}, snaps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Differences != 0 || rep.KeysInFlight != 1 || rep.Settled() || rep.Keys[0].Verdict != InFlight {
		t.Fatalf("report %+v", rep)
	}
	var out bytes.Buffer
	rep.Print(&out)
	if !strings.Contains(out.String(), "1 sampled key(s) still in flight") {
		t.Fatalf("printed:\n%s", out.String())
	}
}

// TestLatestChecksOnlyKeysBelowEveryRoutersBound: a key above one router's bound may
// have versions that router delivered without recording them, so it is not checked.
func TestLatestChecksOnlyKeysBelowEveryRoutersBound(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var low, high string // keys of small and large hash
	for i := 0; low == "" || high == ""; i++ {
		k := fmt.Sprintf("k%d", i)
		switch h := routing.SampleHash("c|" + k); {
		case h < 1<<30 && low == "":
			low = k
		case h > 3<<30 && high == "":
			high = k
		}
	}
	snaps := []fleet.Snapshot{
		{Router: "full", Latest: map[string]routing.LatestSample{"profiles": {Below: 2 << 30, Versions: map[string]routing.Version{"c|" + low: {ID: "e1", Time: at}}}}},
		{Router: "small", Latest: map[string]routing.LatestSample{"profiles": {Below: routing.NoBound, Versions: map[string]routing.Version{"c|" + high: {ID: "e2", Time: at}}}}},
	}
	inv := &fakeInventory{versions: map[string]routing.Version{low: {ID: "e1", Time: at}, high: {ID: "old", Time: at.Add(-time.Hour)}}}
	rep, err := Run(context.Background(), []Target{{Route: routing.Route{Name: "profiles", Mode: routing.Latest}, Inventory: inv}}, snaps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Keys) != 1 || rep.Keys[0].Key != low || rep.Keys[0].Verdict != OK || rep.Differences != 0 {
		t.Fatalf("checked %+v; want only %s (the other key is above the full router's bound)", rep.Keys, low)
	}
}

// TestLatestErasedKeys: a sampled key marked erased is expected to be absent, or to
// hold only an older event accepted after the erasure; the erased version itself
// still in the store is a difference.
func TestLatestErasedKeys(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	erased := func(id string) routing.Version { return routing.Version{ID: id, Time: at, Erased: true} }
	snaps := []fleet.Snapshot{{Router: "r1", Latest: map[string]routing.LatestSample{"profiles": {Below: routing.NoBound,
		Versions: map[string]routing.Version{"c|gone": erased("e1"), "c|kept": erased("e2"), "c|late": erased("e3")}}}}}
	inv := &fakeInventory{versions: map[string]routing.Version{
		"kept": {ID: "e2", Time: at},                   // the erasure did not happen
		"late": {ID: "e0", Time: at.Add(-time.Minute)}, // an older event accepted after the erasure
	}}
	rep, err := Run(context.Background(), []Target{{Route: routing.Route{Name: "profiles", Mode: routing.Latest}, Inventory: inv}}, snaps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"gone": OK, "kept": Unexpected, "late": OK}
	for _, k := range rep.Keys {
		if want[k.Key] != k.Verdict {
			t.Errorf("key %s: %s (%s), want %s", k.Key, k.Verdict, k.Explanation, want[k.Key])
		}
		delete(want, k.Key)
	}
	if len(want) != 0 || rep.Differences != 1 {
		t.Fatalf("unchecked keys %v; differences %d, want 1", want, rep.Differences)
	}
}
