package sinktest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/verify"
)

// inventoryOf is the store's recount for `router verify`: Store.Inventory, else the
// sink itself when it implements verify.Inventory.
func (f *fixture) inventoryOf(t *testing.T, sink routing.Sink) verify.Inventory {
	t.Helper()
	if f.s.Inventory != nil {
		return f.s.Inventory(t)
	}
	inv, ok := sink.(verify.Inventory)
	if !ok {
		t.Fatalf("%s: the sink does not implement verify.Inventory and Store.Inventory is nil: router verify cannot recount it", f.s.Name)
	}
	return inv
}

// testInventoryCount: the recount by event hour matches what was delivered, including
// after a re-delivery, and honours the time range.
func testInventoryCount(t *testing.T, s *Store) {
	f := newFixture(t, s, "invcount", routing.Analytic, routing.Append)
	perHour := []int{7, 3, 5}
	for h, n := range perHour {
		for i := 0; i < n; i++ {
			f.order(t, fmt.Sprintf("ic-%d-%02d", h, i), fmt.Sprintf("k%d", i%3), base.Add(time.Duration(h)*time.Hour+time.Duration(i)*time.Minute))
		}
	}
	sink := f.open(t)
	f.deliver(t, sink, f.events)
	f.deliver(t, sink, f.events[2:9]) // a re-delivery must not count twice
	inv := f.inventoryOf(t, sink)
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()

	got, err := inv.Count(ctx, f.route, f.contract, base, base.Add(4*time.Hour))
	if err != nil {
		t.Fatalf("%s: Count: %v", s.Name, err)
	}
	var problems []string
	for h, n := range perHour {
		hour := base.Add(time.Duration(h) * time.Hour).Format(verify.HourLayout)
		if c := got[hour]; c.Records != int64(n) || c.Distinct != int64(n) {
			problems = append(problems, fmt.Sprintf("hour %s: %+v, want %d records, %d distinct", hour, c, n, n))
		}
		delete(got, hour)
	}
	for hour, c := range got {
		problems = append(problems, fmt.Sprintf("hour %s: %+v counted, nothing was written then", hour, c))
	}
	report(t, s.Name, problems)

	mid, err := inv.Count(ctx, f.route, f.contract, base.Add(time.Hour), base.Add(2*time.Hour))
	if err != nil {
		t.Fatalf("%s: Count: %v", s.Name, err)
	}
	if h := base.Add(time.Hour).Format(verify.HourLayout); len(mid) != 1 || mid[h].Records != int64(perHour[1]) {
		t.Fatalf("%s: Count of one hour %s: %v, want %d records in it only", s.Name, h, mid, perHour[1])
	}
	other, err := inv.Count(ctx, f.route, contractName(t, "nothing"), base, base.Add(4*time.Hour))
	if err != nil {
		t.Fatalf("%s: Count of a contract never written: %v", s.Name, err)
	}
	for h, c := range other {
		if c.Records != 0 {
			t.Fatalf("%s: a contract never written has %+v at %s", s.Name, c, h)
		}
	}
}

// testInventoryVersions: a latest route's recount reads each key's stored version.
func testInventoryVersions(t *testing.T, s *Store) {
	f := newFixture(t, s, "invver", routing.Runtime, routing.Latest)
	for v := 0; v < 3; v++ {
		for k := 0; k < 4; k++ {
			f.order(t, fmt.Sprintf("iv-k%d-v%d", k, v), fmt.Sprintf("key%d", k), base.Add(time.Duration(3-v)*time.Minute+time.Duration(k)*time.Microsecond))
		}
	}
	sink := f.open(t)
	f.deliver(t, sink, f.events)
	inv := f.inventoryOf(t, sink)
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	got, err := inv.Versions(ctx, f.route, f.contract, []string{"key0", "key1", "key2", "key3", "absent"})
	if err != nil {
		t.Fatalf("%s: Versions: %v", s.Name, err)
	}
	var problems []string
	for key, w := range latestWinners(f.events) {
		want := routing.Version{ID: w.ID, Time: w.Time.UTC()}
		if g, ok := got[key]; !ok || g.ID != want.ID || !g.Time.Equal(want.Time) {
			problems = append(problems, fmt.Sprintf("key %s: %+v (found %v), want %+v", key, g, ok, want))
		}
	}
	if g, ok := got["absent"]; ok {
		problems = append(problems, fmt.Sprintf("a key never written: %+v", g))
	}
	report(t, s.Name, problems)
}
