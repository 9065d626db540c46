package routing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/cache"
)

const orderSchema = `{"type":"record","name":"Order","namespace":"shop","fields":[
	{"name":"user_id","type":"string"},
	{"name":"amount","type":"long"},
	{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}`

// fakeContracts serves one governed contract ("orders", schema id 7) and one
// ungoverned subject ("loose").
type fakeContracts struct {
	schema   *cache.Schema
	contract *schemas.Contract
}

func newFakeContracts(t *testing.T) *fakeContracts {
	s, err := schemas.ParseAvro(orderSchema)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeContracts{
		schema: &cache.Schema{Record: schemas.SchemaRecord{ID: 7}, Avro: s},
		contract: &schemas.Contract{Owner: "team", KeyField: "user_id", TimeField: "ts",
			Routes: schemas.RoutePolicy{Allowed: []string{"lake", "fast", "slow"}, Required: []string{"lake"}, Default: []string{"fast"}}},
	}
}

func (f *fakeContracts) Latest(subject string) (*cache.Version, bool) {
	if subject == "orders" || subject == "loose" {
		return &cache.Version{Subject: subject, Version: 1, ID: 7, Schema: f.schema}, true
	}
	return nil, false
}
func (f *fakeContracts) SchemaByID(id int) (*cache.Schema, bool) { return f.schema, id == 7 }
func (f *fakeContracts) Contract(subject string) (*schemas.Contract, bool) {
	return f.contract, subject == "orders"
}
func (f *fakeContracts) SubjectHasSchema(subject string, id int) bool { return id == 7 }

// fakeSink records delivered events; fail, when set, decides each write's error.
type fakeSink struct {
	mu     sync.Mutex
	got    map[string]int // event id -> deliveries
	fail   func(b *Batch) error
	writes chan struct{}
}

func newFakeSink() *fakeSink {
	return &fakeSink{got: map[string]int{}, writes: make(chan struct{}, 1024)}
}

func (s *fakeSink) Write(_ context.Context, b *Batch) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	defer func() {
		select {
		case s.writes <- struct{}{}:
		default:
		}
	}()
	var err error
	if fail != nil {
		err = fail(b)
	}
	failed := map[int]bool{}
	var be *BatchError
	switch {
	case errors.As(err, &be):
		for _, it := range be.Items {
			failed[it.Index] = true
		}
	case err != nil:
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ev := range b.Events {
		if !failed[i] { // a BatchError's unlisted events were stored
			s.got[ev.ID]++
		}
	}
	return err
}
func (s *fakeSink) Close() error { return nil }

func (s *fakeSink) setFail(fn func(*Batch) error) {
	s.mu.Lock()
	s.fail = fn
	s.mu.Unlock()
}

func (s *fakeSink) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[id]
}

type harness struct {
	rt    *Router
	srv   *httptest.Server
	sinks map[string]*fakeSink
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	return openHarness(t, t.TempDir(), mutate)
}

// openHarness is newHarness on a given state directory (to restart a router on it).
func openHarness(t *testing.T, stateDir string, mutate func(*Config)) *harness {
	t.Helper()
	cfg, err := ParseConfig([]byte(`
state_dir: ` + stateDir + `
etcd_endpoints: [127.0.0.1:2379]
sinks:
  lake: {kind: fake}
  fast: {kind: fake}
  slow: {kind: fake}
routes:
  lake: {sink: lake, class: analytic, target: "{contract}", batch: {max_wait: 5ms, max_events: 100}, retry: {initial_backoff: 1ms, max_backoff: 5ms}}
  fast: {sink: fast, class: runtime, target: "{contract}", batch: {max_wait: 5ms}, retry: {initial_backoff: 1ms, max_backoff: 5ms}}
  slow: {sink: slow, class: analytic, target: "{contract}", batch: {max_wait: 5ms}, retry: {initial_backoff: 1ms, max_backoff: 5ms}}
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
	h := &harness{sinks: map[string]*fakeSink{"lake": newFakeSink(), "fast": newFakeSink(), "slow": newFakeSink()}}
	sinks := map[string]Sink{}
	for k, v := range h.sinks {
		sinks[k] = v
	}
	h.rt, err = New(Options{Config: cfg, Contracts: newFakeContracts(t), Sinks: sinks})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.rt.Start(); err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(h.rt.Handler())
	t.Cleanup(func() { h.close(t) })
	return h
}

// close stops the harness's server and router (once).
func (h *harness) close(t *testing.T) {
	if h.srv == nil {
		return
	}
	h.srv.Close()
	if err := h.rt.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	h.srv = nil
}

func (h *harness) post(t *testing.T, body string) (int, intakeAnswer, http.Header) {
	t.Helper()
	resp, err := http.Post(h.srv.URL+"/v1/events", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a intakeAnswer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a, resp.Header
}

func order(id, user string, routes ...string) string {
	r, _ := json.Marshal(routes)
	if len(routes) == 0 {
		r = []byte("null")
	}
	return `{"contract":"orders","id":"` + id + `","routes":` + string(r) + `,"data":{"user_id":"` + user + `","amount":5,"ts":1795300000000}}`
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestIntakeAcceptsAndDeliversToEveryRoute(t *testing.T) {
	h := newHarness(t, nil)
	status, a, _ := h.post(t, "["+order("e1", "u1")+","+order("e2", "u2", "slow")+"]")
	if status != 200 || a.Accepted != 2 {
		t.Fatalf("status %d answer %+v", status, a)
	}
	// e1: default route fast + required lake; e2: slow + lake.
	if got := strings.Join(a.Events[0].Routes, ","); got != "fast,lake" {
		t.Fatalf("e1 routes %q", got)
	}
	waitFor(t, "delivery", func() bool {
		return h.sinks["lake"].count("e1") == 1 && h.sinks["lake"].count("e2") == 1 &&
			h.sinks["fast"].count("e1") == 1 && h.sinks["slow"].count("e2") == 1
	})
	if h.sinks["fast"].count("e2") != 0 || h.sinks["slow"].count("e1") != 0 {
		t.Fatal("an event reached a route it was not routed to")
	}
}

func TestIntakeRejectionReasons(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name, event, reason, field string
	}{
		{"unknown contract", `{"contract":"nope","data":{}}`, ReasonUnknownContract, "contract"},
		{"ungoverned", `{"contract":"loose","data":{"user_id":"u","amount":1,"ts":1}}`, ReasonUngoverned, "contract"},
		{"missing contract", `{"data":{}}`, ReasonMalformed, "contract"},
		{"unknown envelope field", `{"contract":"orders","dat":{}}`, ReasonMalformed, "dat"},
		{"no data", `{"contract":"orders"}`, ReasonInvalidData, "data"},
		{"wrong type", `{"contract":"orders","data":{"user_id":"u","amount":"x","ts":1}}`, ReasonInvalidData, "data.amount"},
		{"missing field", `{"contract":"orders","data":{"user_id":"u","ts":1}}`, ReasonInvalidData, "data.amount"},
		{"unknown schema id", `{"contract":"orders","schema_id":99,"data":{"user_id":"u","amount":1,"ts":1}}`, ReasonUnknownSchema, "schema_id"},
		{"bad id", `{"contract":"orders","id":"a b","data":{"user_id":"u","amount":1,"ts":1}}`, ReasonInvalidID, "id"},
		{"key conflict", `{"contract":"orders","key":"other","data":{"user_id":"u","amount":1,"ts":1}}`, ReasonInvalidKey, "key"},
		{"bad time", `{"contract":"orders","time":"yesterday","data":{"user_id":"u","amount":1,"ts":1}}`, ReasonInvalidTime, "time"},
		{"route not allowed", `{"contract":"orders","routes":["search"],"data":{"user_id":"u","amount":1,"ts":1}}`, ReasonRouteNotAllowed, "routes[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, a, _ := h.post(t, tt.event)
			if status != http.StatusUnprocessableEntity || a.Rejected != 1 {
				t.Fatalf("status %d, answer %+v", status, a)
			}
			ev := a.Events[0]
			if ev.Reason != tt.reason || ev.Field != tt.field || ev.Error == "" {
				t.Fatalf("got reason %q field %q (%s), want %q %q", ev.Reason, ev.Field, ev.Error, tt.reason, tt.field)
			}
		})
	}
}

func TestMixedBatchAcceptsTheGoodEvents(t *testing.T) {
	h := newHarness(t, nil)
	body := order("good1", "u1") + "\n" + `{"contract":"nope","data":{}}` + "\n" + "{not json\n" + order("good2", "u2")
	status, a, _ := h.post(t, body)
	if status != http.StatusMultiStatus || a.Accepted != 2 || a.Rejected != 2 {
		t.Fatalf("status %d answer %+v", status, a)
	}
	if a.Events[2].Reason != ReasonMalformed || !strings.Contains(a.Events[2].Error, "line 3") {
		t.Fatalf("bad line answered %+v", a.Events[2])
	}
	waitFor(t, "good events delivered", func() bool {
		return h.sinks["lake"].count("good1") == 1 && h.sinks["lake"].count("good2") == 1
	})
	// In an array, a broken element is rejected alone too.
	status, a, _ = h.post(t, "["+order("good3", "u1")+`,{"contract":"orders","data":{"user_id":"u",}}]`)
	if status != http.StatusMultiStatus || a.Accepted != 1 || a.Events[1].Reason != ReasonMalformed || !strings.Contains(a.Events[1].Error, "not valid JSON") {
		t.Fatalf("array with a broken element: status %d answer %+v", status, a)
	}
}

func TestOversizeBodyIs413(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxBodyBytes = 2048 })
	status, _, _ := h.post(t, "["+strings.Repeat(order("x", "u")+",", 40)+order("y", "u")+"]")
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", status)
	}
}

// A stalled route must not hold back another route.
func TestStalledRouteDoesNotStallOthers(t *testing.T) {
	h := newHarness(t, nil)
	h.sinks["slow"].setFail(func(*Batch) error { return errors.New("store down") })
	for i := range 20 {
		id := "iso" + string(rune('a'+i))
		if status, _, _ := h.post(t, order(id, "u", "slow", "fast")); status != 200 {
			t.Fatalf("status %d", status)
		}
		waitFor(t, "fast delivery of "+id, func() bool { return h.sinks["fast"].count(id) == 1 })
	}
	if h.sinks["slow"].count("isoa") != 0 {
		t.Fatal("slow route delivered while its store was down")
	}
	h.sinks["slow"].setFail(nil)
	waitFor(t, "slow route to drain after recovery", func() bool { return h.sinks["slow"].count("isot") == 1 })
}

func TestBackpressureOnlyForEventsRoutedToTheSaturatedRoute(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		r := c.Routes["slow"]
		r.Backlog.MaxEvents = 3
		c.Routes["slow"] = r
	})
	h.sinks["slow"].setFail(func(*Batch) error { return errors.New("store down") })
	for i := range 3 {
		if status, _, _ := h.post(t, order("bp"+string(rune('0'+i)), "u", "slow")); status != 200 {
			t.Fatalf("status %d before the budget was reached", status)
		}
	}
	status, a, hdr := h.post(t, order("over", "u", "slow"))
	if status != http.StatusServiceUnavailable || a.Events[0].Reason != ReasonBackpressure || hdr.Get("Retry-After") == "" {
		t.Fatalf("status %d answer %+v retry-after %q", status, a, hdr.Get("Retry-After"))
	}
	if status, _, _ := h.post(t, order("other", "u", "fast")); status != 200 {
		t.Fatalf("event for an unsaturated route got %d", status)
	}
	h.sinks["slow"].setFail(nil)
	waitFor(t, "backlog to drain", func() bool { return h.rt.routes["slow"].backlogEvents.Load() == 0 })
	if status, _, _ := h.post(t, order("after", "u", "slow")); status != 200 {
		t.Fatalf("after draining got %d", status)
	}
}

func TestRuntimeRouteDeadLettersAfterMaxLagAndReplays(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		r := c.Routes["fast"]
		r.MaxLag = Duration(20 * time.Millisecond)
		c.Routes["fast"] = r
	})
	h.sinks["fast"].setFail(func(*Batch) error { return errors.New("store down") })
	if status, _, _ := h.post(t, order("late", "u", "fast")); status != 200 {
		t.Fatalf("status %d", status)
	}
	waitFor(t, "dead letter", func() bool { return len(h.rt.dead.List("fast", 0)) == 1 })
	dl := h.rt.dead.List("fast", 0)[0]
	if dl.ID != "late" || !strings.Contains(dl.Reason, "max_lag") {
		t.Fatalf("dead letter %+v", dl)
	}
	resp, err := http.Get(h.srv.URL + "/v1/deadletters?route=fast")
	if err != nil {
		t.Fatal(err)
	}
	var listed struct {
		DeadLetters []DeadLetter `json:"dead_letters"`
	}
	json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if len(listed.DeadLetters) != 1 || listed.DeadLetters[0].ID != "late" {
		t.Fatalf("listed %+v", listed)
	}
	h.sinks["fast"].setFail(nil)
	resp, err = http.Post(h.srv.URL+"/v1/deadletters/replay?route=fast", "application/json", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("replay: %v %v", err, resp)
	}
	resp.Body.Close()
	waitFor(t, "replayed delivery", func() bool { return h.sinks["fast"].count("late") == 1 })
	if n := len(h.rt.dead.List("fast", 0)); n != 0 {
		t.Fatalf("%d dead letters left after replay", n)
	}
	waitFor(t, "ledger to settle", func() bool {
		rows, err := h.rt.LedgerRows()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Route == "fast" {
				return r.Accepted == 1 && r.Delivered == 1 && r.DeadLettered == 0 && r.Pending == 0
			}
		}
		return false
	})
}

func TestPermanentItemErrorsAreDeadLetteredOnAnalyticRoutes(t *testing.T) {
	h := newHarness(t, nil)
	h.sinks["slow"].setFail(func(b *Batch) error {
		var items []ItemError
		for i, ev := range b.Events {
			if ev.ID == "poison" {
				items = append(items, ItemError{Index: i, Err: Permanent(errors.New("mapping conflict"))})
			}
		}
		if items == nil {
			return nil
		}
		return &BatchError{Items: items}
	})
	status, _, _ := h.post(t, "["+order("poison", "u", "slow")+","+order("fine", "u", "slow")+"]")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	waitFor(t, "fine delivered and poison dead-lettered", func() bool {
		return h.sinks["slow"].count("fine") == 1 && len(h.rt.dead.List("slow", 0)) == 1
	})
	if h.sinks["slow"].count("poison") != 0 {
		t.Fatal("a permanently failed event was counted as delivered")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	in := &Record{Event: Event{ID: "id", Contract: "c", SchemaID: 3, Key: "k", Time: time.UnixMicro(123456789).UTC(),
		Received: time.UnixMicro(987654321).UTC(), Data: []byte{1, 2, 3}}, Routes: []string{"a", "b"}, Replay: true}
	out, err := DecodeRecord(9, AppendRecord(nil, in))
	if err != nil {
		t.Fatal(err)
	}
	in.Seq = 9
	a, _ := json.Marshal(in)
	b, _ := json.Marshal(out)
	if !bytes.Equal(a, b) {
		t.Fatalf("round trip:\n%s\n%s", a, b)
	}
}

func FuzzDecodeEnvelopeRecord(f *testing.F) {
	f.Add(AppendRecord(nil, &Record{Event: Event{ID: "x", Contract: "c", Data: []byte{2}}, Routes: []string{"r"}}))
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := DecodeRecord(1, p)
		if err != nil {
			return
		}
		if got := AppendRecord(nil, r); !bytes.Equal(got, p) {
			t.Fatalf("decoded record does not re-encode to the same bytes")
		}
	})
}

func FuzzSplitEvents(f *testing.F) {
	f.Add([]byte(`{"contract":"c"}`))
	f.Add([]byte("[{},{}]"))
	f.Add([]byte("{}\n{\n{}"))
	f.Add([]byte(`[{"contract":"c","routes":["a"],"data":{"x":"]"}}, {"id" : null}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := splitEvents(body)
		trimmed := bytes.TrimSpace(body)
		var want []json.RawMessage
		if len(trimmed) > 0 && trimmed[0] == '[' && json.Unmarshal(trimmed, &want) == nil {
			// A valid array splits exactly as encoding/json splits it.
			if err != nil || len(events) != len(want) {
				t.Fatalf("valid array: split into %d events (%v), encoding/json finds %d", len(events), err, len(want))
			}
			for i := range want {
				if !bytes.Equal(events[i].Text, want[i]) {
					t.Fatalf("element %d: split %q, encoding/json %q", i, events[i].Text, want[i])
				}
			}
		}
		if err != nil {
			return
		}
		for _, e := range events {
			if json.Valid(e.Text) {
				parseEnvelope(e.Text) // must not panic on any valid JSON
			}
		}
	})
}

// TestLatestRoutesSampleNewestDeliveredVersions: a latest route records, per key, the
// newest delivered version by (event time, id) whatever the delivery order.
func TestLatestRoutesSampleNewestDeliveredVersions(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		r := c.Routes["fast"]
		r.Mode = Latest
		c.Routes["fast"] = r
	})
	event := func(id, user string, ms int64) string {
		return `{"contract":"orders","id":"` + id + `","routes":["fast"],"data":{"user_id":"` + user + `","amount":5,"ts":` + fmt.Sprint(ms) + `}}`
	}
	// Newest first, then an older one and a same-time one with a smaller id.
	for _, ev := range []string{event("e5", "u1", 1795300005000), event("e1", "u1", 1795300001000), event("e4", "u1", 1795300005000), event("x1", "u2", 1795300009000)} {
		if status, a, _ := h.post(t, ev); status != 200 {
			t.Fatalf("status %d %+v", status, a)
		}
	}
	waitFor(t, "delivery confirmed", func() bool {
		rows, err := h.rt.LedgerRows()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Route == "fast" {
				return r.Delivered == 4
			}
		}
		return false
	})
	got := h.rt.LatestSamples()["fast"]
	want := map[string]Version{"orders|u1": {ID: "e5", Time: time.UnixMilli(1795300005000).UTC()}, "orders|u2": {ID: "x1", Time: time.UnixMilli(1795300009000).UTC()}}
	if len(got.Versions) != 2 || got.Versions["orders|u1"] != want["orders|u1"] || got.Versions["orders|u2"] != want["orders|u2"] || got.Below != NoBound {
		t.Fatalf("sample %+v, want %+v and no bound", got, want)
	}
	if _, ok := h.rt.LatestSamples()["lake"]; ok {
		t.Fatal("an append route has no samples")
	}
	v := want["orders|u1"]
	if !v.Newer(Version{ID: "e4", Time: v.Time}) || v.Newer(Version{ID: "e6", Time: v.Time}) || v.Newer(Version{ID: "a", Time: v.Time.Add(time.Microsecond)}) {
		t.Fatal("Version.Newer must order by time to the microsecond, then id")
	}
}

// TestSampleKeepsTheKeysWithTheSmallestHashes: a full sample keeps exactly the
// MaxSampledKeys keys of smallest hash whatever the arrival order, with Below the
// largest of them, and a key pushed out never comes back.
func TestSampleKeepsTheKeysWithTheSmallestHashes(t *testing.T) {
	const n = 3 * MaxSampledKeys
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	at := time.Unix(1e9, 0).UTC()
	var st routeState
	for round := 0; round < 2; round++ { // the second round re-delivers everything, newer
		for i, k := range keys {
			st.sampleDelivered(Event{Contract: "c", Key: k, ID: fmt.Sprintf("r%d-%d", round, i), Time: at.Add(time.Duration(round) * time.Second)})
		}
	}
	hashes := make([]uint64, n)
	for i, k := range keys {
		hashes[i] = SampleHash("c|" + k)
	}
	slices.Sort(hashes)
	bound := hashes[MaxSampledKeys-1]
	if len(st.Latest) != MaxSampledKeys {
		t.Fatalf("%d keys sampled, want %d", len(st.Latest), MaxSampledKeys)
	}
	for ck, v := range st.Latest {
		if SampleHash(ck) > bound || !strings.HasPrefix(v.ID, "r1-") {
			t.Fatalf("%s = %+v: not among the smallest hashes, or not its newest version", ck, v)
		}
	}
	var reloaded routeState // as after a restart: the bound is computed again
	reloaded.Latest = st.Latest
	if b, _ := sampleBelow(reloaded.Latest); b != bound {
		t.Fatalf("bound %d, want %d", b, bound)
	}
	reloaded.sampleDelivered(Event{Contract: "c", Key: keys[0], ID: "late", Time: at.Add(time.Hour)})
	if SampleHash("c|"+keys[0]) > bound {
		if _, ok := reloaded.Latest["c|"+keys[0]]; ok {
			t.Fatal("a key above the bound entered the sample")
		}
	} else if reloaded.Latest["c|"+keys[0]].ID != "late" {
		t.Fatal("a sampled key's newer version was not recorded")
	}
}
