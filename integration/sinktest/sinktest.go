package sinktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/verify"
)

// Store describes one store under test.
type Store struct {
	Name string
	// Modes the adapter supports.
	Modes []routing.Mode
	// Target is the route target template the suite uses, e.g. "wb_{contract}".
	Target string
	// Open returns a fresh sink on the store; opening again simulates a router restart.
	// The suite closes every sink it opens.
	Open func(t *testing.T, class routing.Class) routing.Sink
	// Read returns every record the store holds for the route and contract —
	// duplicates included — read with the store's own client, values mapped back to
	// adapters/avrovalue's model.
	Read func(t *testing.T, route routing.Route, contract string) []Stored
	// Down makes the store unreachable; Up restores it. Nil when the store cannot be
	// taken down (a real cluster).
	Down, Up func(t *testing.T)
	// FailNext arranges that the next write of each listed event id fails, permanently
	// or retryably. Nil when failures cannot be injected.
	FailNext func(t *testing.T, ids []string, permanent bool)
	// Skip names subtests this store cannot run, with the reason (reported as a skip).
	Skip map[string]string
	// Inventory returns the store's recount for `router verify`, when it is not the
	// sink itself (a sink implementing verify.Inventory is used when this is nil).
	Inventory func(t *testing.T) verify.Inventory
}

// Stored is one record as the store holds it.
type Stored struct {
	ID       string
	Key      string
	Time     time.Time
	SchemaID int
	Value    any // the contract's record as an avrovalue tree
}

// writeTimeout bounds one Write; a sink must answer (possibly with an error) within it.
const writeTimeout = 20 * time.Second

// Run runs the conformance suite against s.
func Run(t *testing.T, s Store) {
	if s.Open == nil || s.Read == nil || s.Target == "" {
		t.Fatal("sinktest: Store needs Open, Read and Target")
	}
	sub := func(name string, needs string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			if reason, ok := s.Skip[name]; ok {
				t.Skipf("%s: %s", s.Name, reason)
			}
			if needs != "" {
				t.Skipf("%s: %s", s.Name, needs)
			}
			f(t)
		})
	}
	lacks := func(mode routing.Mode) string {
		for _, m := range s.Modes {
			if m == mode {
				return ""
			}
		}
		return fmt.Sprintf("the adapter has no %s mode", mode)
	}
	faults := func(ok bool, what string) string {
		if ok {
			return ""
		}
		return "cannot " + what + " on this store (a real cluster?)"
	}
	sub("append", lacks(routing.Append), func(t *testing.T) { testAppend(t, &s) })
	sub("redelivery", lacks(routing.Append), func(t *testing.T) { testRedelivery(t, &s) })
	sub("latest", lacks(routing.Latest), func(t *testing.T) { testLatest(t, &s) })
	sub("latest_redelivery", lacks(routing.Latest), func(t *testing.T) { testLatestRedelivery(t, &s) })
	sub("partial_failure", faults(s.FailNext != nil, "inject per-item failures"), func(t *testing.T) { testPartialFailure(t, &s) })
	sub("outage", faults(s.Down != nil && s.Up != nil, "take the store down"), func(t *testing.T) { testOutage(t, &s) })
	sub("types", lacks(routing.Append), func(t *testing.T) { testTypes(t, &s) })
	sub("inventory_count", lacks(routing.Append), func(t *testing.T) { testInventoryCount(t, &s) })
	sub("inventory_versions", lacks(routing.Latest), func(t *testing.T) { testInventoryVersions(t, &s) })
	sub("erase", lacks(routing.Latest), func(t *testing.T) { testErase(t, &s) })
}

// contractName is a fresh contract name for one subtest.
func contractName(t *testing.T, prefix string) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "st_" + prefix + "_" + hex.EncodeToString(b[:])
}

// fixture is one subtest's route, contract and events.
type fixture struct {
	s        *Store
	route    routing.Route
	contract string
	events   []routing.Event
	values   map[string]any // event id → expected value
	seq      uint64
}

func newFixture(t *testing.T, s *Store, prefix string, class routing.Class, mode routing.Mode) *fixture {
	return &fixture{
		s:        s,
		route:    routing.Route{Name: "sinktest_" + prefix, Class: class, Mode: mode, Target: s.Target},
		contract: contractName(t, prefix),
		values:   map[string]any{},
	}
}

// Epoch is the earliest event time the suite uses; all its events fall between it and
// four hours later, so a template with {date} renders one name.
var Epoch = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)

var base = Epoch

// add appends an event (the next WAL sequence number) of the given schema and value.
func (f *fixture) add(t *testing.T, id, key string, at time.Time, schemaID int, value map[string]any) routing.Event {
	t.Helper()
	schema, _ := Schemas{}.Avro(schemaID)
	data, err := avro.Marshal(schema, value)
	if err != nil {
		t.Fatalf("sinktest: encoding event %s: %v", id, err)
	}
	want, err := avrovalue.Decode(schema, data)
	if err != nil {
		t.Fatalf("sinktest: decoding event %s: %v", id, err)
	}
	f.seq++
	ev := routing.Event{Seq: f.seq, ID: id, Contract: f.contract, SchemaID: schemaID, Key: key,
		Time: at, Received: base.Add(time.Duration(f.seq) * time.Second), Data: data}
	f.events = append(f.events, ev)
	f.values[id] = want
	return ev
}

// order adds an Order event.
func (f *fixture) order(t *testing.T, id, key string, at time.Time) routing.Event {
	note := "event " + id
	return f.add(t, id, key, at, OrderSchemaID, orderValue(id, key, int(f.seq%7)+1, int64(f.seq)*125-300, at, &note))
}

func (f *fixture) open(t *testing.T) routing.Sink {
	t.Helper()
	sink := f.s.Open(t, f.route.Class)
	t.Cleanup(func() { _ = sink.Close() })
	return sink
}

func (f *fixture) write(sink routing.Sink, events []routing.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	b := &routing.Batch{Route: f.route, Events: append([]routing.Event(nil), events...), Schemas: Schemas{}}
	return sink.Write(ctx, b)
}

// deliver writes events the way the router does: it retries the events that failed
// retryably (with a short backoff, for up to a minute) and returns the ones that failed
// permanently with their errors.
func (f *fixture) deliver(t *testing.T, sink routing.Sink, events []routing.Event) map[string]error {
	t.Helper()
	permanent := map[string]error{}
	pending := events
	deadline := time.Now().Add(time.Minute)
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		err := f.write(sink, pending)
		if err == nil {
			return permanent
		}
		var retry []routing.Event
		var be *routing.BatchError
		switch {
		case errors.As(err, &be):
			failed := map[int]bool{}
			for _, it := range be.Items {
				if it.Index < 0 || it.Index >= len(pending) {
					t.Fatalf("%s: BatchError names index %d of a batch of %d", f.s.Name, it.Index, len(pending))
				}
				failed[it.Index] = true
				if routing.Retryable(it.Err) {
					retry = append(retry, pending[it.Index])
				} else {
					permanent[pending[it.Index].ID] = it.Err
				}
			}
		case !routing.Retryable(err):
			t.Fatalf("%s: a whole batch of %d failed permanently: %v", f.s.Name, len(pending), err)
		default:
			retry = pending
		}
		if len(retry) == 0 {
			return permanent
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d events still failing after a minute of retries: %v", f.s.Name, len(retry), err)
		}
		time.Sleep(backoff) // a retry backoff, as the router's, not a wait for a condition
		pending = retry
	}
}

// read returns what the store holds for the fixture's contract.
func (f *fixture) read(t *testing.T) []Stored {
	t.Helper()
	return f.s.Read(t, f.route, f.contract)
}

// expectExactly checks that the store holds exactly the events with the given ids,
// once each, with their metadata and values.
func (f *fixture) expectExactly(t *testing.T, want []routing.Event) {
	t.Helper()
	got := f.read(t)
	byID := map[string][]Stored{}
	for _, st := range got {
		byID[st.ID] = append(byID[st.ID], st)
	}
	var problems []string
	for _, ev := range want {
		sts := byID[ev.ID]
		delete(byID, ev.ID)
		switch {
		case len(sts) == 0:
			problems = append(problems, fmt.Sprintf("event %s is missing", ev.ID))
			continue
		case len(sts) > 1:
			problems = append(problems, fmt.Sprintf("event %s is stored %d times", ev.ID, len(sts)))
		}
		problems = append(problems, f.compare(ev, sts[0])...)
	}
	for id, sts := range byID {
		problems = append(problems, fmt.Sprintf("unexpected record %q stored %d time(s)", id, len(sts)))
	}
	report(t, f.s.Name, problems)
}

func (f *fixture) compare(ev routing.Event, st Stored) []string {
	var problems []string
	if st.Key != ev.Key {
		problems = append(problems, fmt.Sprintf("event %s: key %q, want %q", ev.ID, st.Key, ev.Key))
	}
	if !st.Time.Equal(ev.Time) {
		problems = append(problems, fmt.Sprintf("event %s: time %s, want %s", ev.ID, st.Time.Format(time.RFC3339Nano), ev.Time.Format(time.RFC3339Nano)))
	}
	if st.SchemaID != ev.SchemaID {
		problems = append(problems, fmt.Sprintf("event %s: schema id %d, want %d", ev.ID, st.SchemaID, ev.SchemaID))
	}
	if d := avrovalue.Diff(f.values[ev.ID], st.Value); d != "" {
		problems = append(problems, fmt.Sprintf("event %s: value differs at %s", ev.ID, d))
	}
	return problems
}

func report(t *testing.T, store string, problems []string) {
	t.Helper()
	if len(problems) == 0 {
		return
	}
	sort.Strings(problems)
	if len(problems) > 20 {
		problems = append(problems[:20], fmt.Sprintf("... and %d more", len(problems)-20))
	}
	t.Fatalf("%s:\n  %s", store, strings.Join(problems, "\n  "))
}

func testAppend(t *testing.T, s *Store) {
	f := newFixture(t, s, "append", routing.Analytic, routing.Append)
	for i := 0; i < 45; i++ {
		f.order(t, fmt.Sprintf("a-%03d", i), fmt.Sprintf("k%d", i%5), base.Add(time.Duration(i)*time.Minute+time.Duration(i)*time.Microsecond))
	}
	sink := f.open(t)
	for i := 0; i < len(f.events); i += 15 {
		if failed := f.deliver(t, sink, f.events[i:i+15]); len(failed) > 0 {
			t.Fatalf("%s: events failed permanently: %v", s.Name, failed)
		}
	}
	f.expectExactly(t, f.events)
}

func testRedelivery(t *testing.T, s *Store) {
	f := newFixture(t, s, "redeliver", routing.Analytic, routing.Append)
	for i := 0; i < 20; i++ {
		f.order(t, fmt.Sprintf("r-%03d", i), fmt.Sprintf("k%d", i%3), base.Add(time.Duration(i)*time.Second))
	}
	sink := f.open(t)
	f.deliver(t, sink, f.events[0:10])
	f.deliver(t, sink, f.events[5:15]) // resent with different batch boundaries
	if err := sink.Close(); err != nil {
		t.Fatalf("%s: close: %v", s.Name, err)
	}
	restarted := f.open(t) // the router restarted and resends from an older cursor
	f.deliver(t, restarted, f.events[0:7])
	f.deliver(t, restarted, f.events[7:20])
	f.expectExactly(t, f.events)
}

// latestWinners returns, per key, the newest event by (time, then id).
func latestWinners(events []routing.Event) map[string]routing.Event {
	win := map[string]routing.Event{}
	for _, ev := range events {
		cur, ok := win[ev.Key]
		if !ok || ev.Time.After(cur.Time) || ev.Time.Equal(cur.Time) && ev.ID > cur.ID {
			win[ev.Key] = ev
		}
	}
	return win
}

func (f *fixture) expectLatest(t *testing.T) {
	t.Helper()
	win := latestWinners(f.events)
	got := f.read(t)
	var problems []string
	seen := map[string]int{}
	for _, st := range got {
		seen[st.Key]++
		w, ok := win[st.Key]
		if !ok {
			problems = append(problems, fmt.Sprintf("unexpected key %q", st.Key))
			continue
		}
		if st.ID != w.ID {
			problems = append(problems, fmt.Sprintf("key %s holds event %s (time %s), want %s (time %s)", st.Key, st.ID,
				st.Time.Format(time.RFC3339Nano), w.ID, w.Time.Format(time.RFC3339Nano)))
			continue
		}
		problems = append(problems, f.compare(w, st)...)
	}
	for k := range win {
		switch seen[k] {
		case 0:
			problems = append(problems, fmt.Sprintf("key %s is missing", k))
		case 1:
		default:
			problems = append(problems, fmt.Sprintf("key %s has %d records", k, seen[k]))
		}
	}
	report(t, f.s.Name, problems)
}

func testLatest(t *testing.T, s *Store) {
	f := newFixture(t, s, "latest", routing.Runtime, routing.Latest)
	rng := mrand.New(mrand.NewPCG(1, 2))
	type version struct {
		id, key string
		at      time.Time
	}
	var versions []version
	for k := 0; k < 6; k++ {
		for v := 0; v < 5; v++ {
			at := base.Add(time.Duration(v)*time.Minute + time.Duration(k)*time.Microsecond)
			versions = append(versions, version{fmt.Sprintf("l-k%d-v%d", k, v), fmt.Sprintf("key%d", k), at})
		}
	}
	// Two versions of key0 at the same instant: the greater id wins.
	versions = append(versions, version{"l-k0-v4b", "key0", versions[4].at})
	rng.Shuffle(len(versions), func(i, j int) { versions[i], versions[j] = versions[j], versions[i] })
	for _, v := range versions {
		f.order(t, v.id, v.key, v.at)
	}
	sink := f.open(t)
	for i := 0; i < len(f.events); {
		n := min(1+rng.IntN(7), len(f.events)-i)
		if failed := f.deliver(t, sink, f.events[i:i+n]); len(failed) > 0 {
			t.Fatalf("%s: events failed permanently: %v", s.Name, failed)
		}
		i += n
	}
	f.expectLatest(t)
}

func testLatestRedelivery(t *testing.T, s *Store) {
	f := newFixture(t, s, "latest_re", routing.Runtime, routing.Latest)
	for v := 0; v < 4; v++ {
		for k := 0; k < 3; k++ {
			f.order(t, fmt.Sprintf("lr-k%d-v%d", k, v), fmt.Sprintf("key%d", k), base.Add(time.Duration(v)*time.Hour))
		}
	}
	sink := f.open(t)
	f.deliver(t, sink, f.events)
	if err := sink.Close(); err != nil {
		t.Fatalf("%s: close: %v", s.Name, err)
	}
	// After a restart the router resends older versions; they must not win again.
	f.deliver(t, f.open(t), f.events[:6])
	f.expectLatest(t)
}

func testPartialFailure(t *testing.T, s *Store) {
	f := newFixture(t, s, "partial", routing.Analytic, routing.Append)
	for i := 0; i < 8; i++ {
		f.order(t, fmt.Sprintf("p-%03d", i), fmt.Sprintf("pk%d", i), base.Add(time.Duration(i)*time.Second))
	}
	poison, flaky := f.events[2], f.events[5]
	s.FailNext(t, []string{poison.ID}, true)
	s.FailNext(t, []string{flaky.ID}, false)
	sink := f.open(t)

	err := f.write(sink, f.events)
	var be *routing.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("%s: Write = %v, want a *routing.BatchError naming events 2 and 5", s.Name, err)
	}
	var sawPoison, sawFlaky bool
	var retry []routing.Event
	for _, it := range be.Items {
		switch {
		case it.Index == 2:
			sawPoison = true
			if routing.Retryable(it.Err) {
				t.Errorf("%s: the injected permanent failure was classified retryable: %v", s.Name, it.Err)
			}
		case it.Index == 5:
			sawFlaky = true
			if !routing.Retryable(it.Err) {
				t.Errorf("%s: the injected retryable failure was classified permanent: %v", s.Name, it.Err)
			}
			retry = append(retry, f.events[it.Index])
		case it.Index >= 0 && it.Index < len(f.events):
			// A store may fail more than the injected item (one file, one partition
			// batch); those failures must be retryable, or good events would be
			// dead-lettered.
			if !routing.Retryable(it.Err) {
				t.Errorf("%s: event %d, not injected, failed permanently: %v", s.Name, it.Index, it.Err)
			}
			retry = append(retry, f.events[it.Index])
		default:
			t.Fatalf("%s: BatchError names index %d of a batch of 8", s.Name, it.Index)
		}
	}
	if !sawPoison || !sawFlaky {
		t.Fatalf("%s: BatchError %v does not name both injected failures (2 permanent, 5 retryable)", s.Name, be)
	}
	if failed := f.deliver(t, sink, retry); len(failed) > 0 {
		t.Fatalf("%s: retried events failed permanently: %v", s.Name, failed)
	}
	var stored []routing.Event
	for _, ev := range f.events {
		if ev.ID != poison.ID {
			stored = append(stored, ev)
		}
	}
	f.expectExactly(t, stored)
}

func testOutage(t *testing.T, s *Store) {
	f := newFixture(t, s, "outage", routing.Analytic, routing.Append)
	for i := 0; i < 12; i++ {
		f.order(t, fmt.Sprintf("o-%03d", i), fmt.Sprintf("ok%d", i%4), base.Add(time.Duration(i)*time.Second))
	}
	sink := f.open(t)
	f.deliver(t, sink, f.events[:4])

	s.Down(t)
	up := false
	defer func() {
		if !up {
			s.Up(t)
		}
	}()
	start := time.Now()
	err := f.write(sink, f.events[4:8])
	if err == nil {
		t.Fatalf("%s: Write succeeded while the store was down", s.Name)
	}
	if !routing.Retryable(err) {
		t.Fatalf("%s: an outage was classified permanent (analytic routes would dead-letter): %v", s.Name, err)
	}
	var be *routing.BatchError
	if errors.As(err, &be) {
		for _, it := range be.Items {
			if !routing.Retryable(it.Err) {
				t.Fatalf("%s: event %d failed permanently during an outage: %v", s.Name, it.Index, it.Err)
			}
		}
	}
	if took := time.Since(start); took > writeTimeout+5*time.Second {
		t.Fatalf("%s: Write took %s during an outage; it must honour its context deadline", s.Name, took)
	}
	s.Up(t)
	up = true
	f.deliver(t, sink, f.events[4:])
	f.expectExactly(t, f.events)
}

func testTypes(t *testing.T, s *Store) {
	f := newFixture(t, s, "types", routing.Analytic, routing.Append)
	for i, v := range everythingValues() {
		f.add(t, fmt.Sprintf("t-%d", i), fmt.Sprintf("tk%d", i), base.Add(time.Duration(i)*time.Hour+123456*time.Microsecond), EverythingSchemaID, v)
	}
	sink := f.open(t)
	if failed := f.deliver(t, sink, f.events); len(failed) > 0 {
		t.Fatalf("%s: events failed permanently: %v", s.Name, failed)
	}
	f.expectExactly(t, f.events)
}

// testErase checks routing.Eraser on a latest route: the erased key is gone, the
// others are untouched, erasing again or erasing what was never stored succeeds, and
// a newer event re-creates the key.
func testErase(t *testing.T, s *Store) {
	f := newFixture(t, s, "erase", routing.Runtime, routing.Latest)
	sink := f.open(t)
	eraser, ok := sink.(routing.Eraser)
	if !ok {
		t.Skipf("%s: the adapter does not implement routing.Eraser", s.Name)
	}
	erase := func(contract, key string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		if err := eraser.Erase(ctx, f.route, contract, key); err != nil {
			t.Fatalf("%s: erasing %s of %s: %v", s.Name, key, contract, err)
		}
	}
	// Nothing stored yet for the contract (no table, collection or index).
	erase(f.contract, "key1")
	for v := 0; v < 2; v++ {
		for k := 0; k < 3; k++ {
			f.order(t, fmt.Sprintf("e-k%d-v%d", k, v), fmt.Sprintf("key%d", k), base.Add(time.Duration(v)*time.Minute))
		}
	}
	if failed := f.deliver(t, sink, f.events); len(failed) > 0 {
		t.Fatalf("%s: events failed permanently: %v", s.Name, failed)
	}
	erase(f.contract, "key1")
	erase(f.contract, "key1")      // again: already erased
	erase(f.contract, "never-was") // a key never stored
	kept := f.events[:0:0]
	for _, ev := range f.events {
		if ev.Key != "key1" {
			kept = append(kept, ev)
		}
	}
	f.events = kept
	f.expectLatest(t)
	// Events after the erasure re-create the key.
	ev := f.order(t, "e-k1-v9", "key1", base.Add(time.Hour))
	if failed := f.deliver(t, sink, []routing.Event{ev}); len(failed) > 0 {
		t.Fatalf("%s: the event after the erasure failed: %v", s.Name, failed)
	}
	f.expectLatest(t)
}
