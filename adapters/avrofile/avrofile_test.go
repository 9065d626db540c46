package avrofile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/routing"
)

const orderText = `{"type":"record","name":"OrderPlaced","namespace":"checkout","fields":[
 {"name":"order_id","type":"string"},
 {"name":"email","type":"string","waybill.classification":"pii"},
 {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
 {"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
   {"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}},
 {"name":"coupon","type":["null","string"],"default":null}
]}`

// signupText is a record without namespace named Event, like the wrapper.
const signupText = `{"type":"record","name":"Event","fields":[{"name":"user","type":"string"}]}`

const (
	orderID  = 7
	signupID = 9
)

type resolver map[int]avro.Schema

func (r resolver) Avro(id int) (avro.Schema, error) {
	if s, ok := r[id]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("schema id %d not found", id)
}

func schemas(t *testing.T) resolver {
	t.Helper()
	r := resolver{}
	for id, text := range map[int]string{orderID: orderText, signupID: signupText} {
		s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
		if err != nil {
			t.Fatal(err)
		}
		r[id] = s
	}
	return r
}

var at = time.Date(2024, 3, 1, 9, 15, 30, 123456789, time.UTC)

func order(t *testing.T, r resolver, seq uint64, at time.Time) routing.Event {
	t.Helper()
	data, err := avro.Marshal(r[orderID], map[string]any{
		"order_id": fmt.Sprintf("o-%d", seq), "email": "u@example.com", "amount": big.NewRat(int64(seq)*100+99, 100),
		"items": []any{map[string]any{"sku": "s", "qty": int(seq)}}, "coupon": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	return routing.Event{Seq: seq, ID: fmt.Sprintf("ev-%d", seq), Contract: "checkout.order_placed", SchemaID: orderID,
		Key: "k", Time: at, Received: at.Add(time.Second), Data: data}
}

func TestFileNames(t *testing.T) {
	n := FileName(1, 10, 7)
	if n != "part-00000000000000000001-00000000000000000010-s7.avro" {
		t.Errorf("FileName = %q", n)
	}
	f, l, id, ok := ParseFileName(n)
	if !ok || f != 1 || l != 10 || id != 7 {
		t.Errorf("ParseFileName(%q) = %d %d %d %v", n, f, l, id, ok)
	}
	for _, bad := range []string{
		"part-1-10-s7.avro", ManifestName(n), ".tmp-" + n, "part-00000000000000000010-00000000000000000001-s7.avro",
		"part-00000000000000000001-00000000000000000010-s07.avro", "part-00000000000000000001-00000000000000000010-s.avro",
		"part-00000000000000000001-00000000000000000010-s-1.avro", "part-0000000000000000000x-00000000000000000010-s7.avro",
	} {
		if _, _, _, ok := ParseFileName(bad); ok {
			t.Errorf("ParseFileName(%q) accepted", bad)
		}
	}
	for _, c := range []struct {
		name, data string
		ok         bool
	}{
		{TempName(n), n, true},
		{TempName(ManifestName(n)), n, true},
		{".tmp-" + n + ".00", n, true},
		{n, "", false},
		{".tmp-probe-0123", "", false},
		{".tmp-part-1-2-s3.avro.00", "", false},
	} {
		data, ok := TempTarget(c.name)
		if data != c.data || ok != c.ok {
			t.Errorf("TempTarget(%q) = %q, %v; want %q, %v", c.name, data, ok, c.data, c.ok)
		}
	}
	if a, b := TempName(n), TempName(n); a == b || !strings.HasPrefix(a, TempPrefix+n+".") {
		t.Errorf("TempName: %q, %q", a, b)
	}
}

func TestWrapper(t *testing.T) {
	r := schemas(t)
	w, err := NewWrapper(r[orderID])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(w.JSON()), `"name":"Event","namespace":"waybill"`) || !strings.Contains(string(w.JSON()), `"waybill.classification":"pii"`) {
		t.Errorf("order wrapper: %s", w.JSON())
	}
	if w.Contract() != r[orderID] {
		t.Errorf("Contract() is not the schema wrapped")
	}
	// A namespace-less contract named Event would become waybill.Event: the wrapper
	// takes the next free name.
	w, err = NewWrapper(r[signupID])
	if err != nil {
		t.Fatal(err)
	}
	ws := avro.MustParse(string(w.JSON()))
	if got := ws.(avro.NamedSchema).FullName(); got != "waybill.Event1" {
		t.Errorf("wrapper of a contract named Event is %s, want waybill.Event1", got)
	}
}

func TestCheckDatum(t *testing.T) {
	r := schemas(t)
	good := order(t, r, 2, at).Data
	if err := CheckDatum(r[orderID], good); err != nil {
		t.Fatalf("valid datum rejected: %v", err)
	}
	sch := avro.MustParse(`{"type":"record","name":"T","fields":[
		{"name":"b","type":"boolean"},{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
		{"name":"u","type":["null","int"]},{"name":"f","type":{"type":"fixed","name":"F","size":2}},
		{"name":"a","type":{"type":"array","items":"long"}}]}`)
	// b=true, e=B, u=branch 1 int 2, f="xy", a: a block of -2 items (zigzag 3) of 2
	// bytes (zigzag 4), items 2 and 3, end.
	valid := []byte{1, 2, 2, 4, 'x', 'y', 3, 4, 4, 6, 0}
	if err := CheckDatum(sch, valid); err != nil {
		t.Fatalf("valid: %v", err)
	}
	for name, data := range map[string][]byte{
		"empty":          {},
		"bad boolean":    {2, 2, 2, 4, 'x', 'y', 0},
		"enum range":     {1, 4, 2, 4, 'x', 'y', 0},
		"union range":    {1, 2, 4, 4, 'x', 'y', 0},
		"short fixed":    {1, 2, 0, 'x'},
		"array size":     {1, 2, 0, 'x', 'y', 3, 20, 2, 4, 0},
		"missing end":    {1, 2, 0, 'x', 'y', 2, 2},
		"trailing bytes": {1, 2, 0, 'x', 'y', 0, 0},
		"long overflow":  {1, 2, 0, 'x', 'y', 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0},
	} {
		if err := CheckDatum(sch, data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A truncated order.
	for n := 0; n < len(good); n++ {
		if CheckDatum(r[orderID], good[:n]) == nil {
			t.Errorf("truncated to %d bytes: accepted", n)
		}
	}
}

// TestEncodeRoundTrip encodes files with both codecs and reads them back with the
// hamba-decoding reader and the summarizer; the manifest Encode returns is the one
// Summarize rebuilds.
func TestEncodeRoundTrip(t *testing.T) {
	r := schemas(t)
	w, err := NewWrapper(r[orderID])
	if err != nil {
		t.Fatal(err)
	}
	var events []*routing.Event
	for seq := uint64(3); seq <= 9; seq++ {
		ev := order(t, r, seq, at.Add(time.Duration(10-seq)*time.Minute))
		events = append(events, &ev)
	}
	for _, codec := range []string{CodecNull, CodecDeflate} {
		t.Run(codec, func(t *testing.T) {
			name := FileName(3, 9, orderID)
			var buf bytes.Buffer
			m, err := Encode(&buf, FileSpec{Name: name, Route: "lake", SchemaID: orderID, Wrapper: w, Codec: codec}, events)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(buf.Bytes())
			if m.Bytes != int64(buf.Len()) || m.SHA256 != hex.EncodeToString(sum[:]) || m.Count != 7 || m.FirstSeq != 3 || m.LastSeq != 9 ||
				m.Contract != "checkout.order_placed" || m.Codec != codec || m.Route != "lake" || m.File != name ||
				!m.MinTime.Equal(at.Add(time.Minute).Truncate(time.Microsecond)) || !m.MaxTime.Equal(at.Add(7*time.Minute).Truncate(time.Microsecond)) {
				t.Errorf("manifest %+v", m)
			}
			got, err := Decode(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(events) {
				t.Fatalf("decoded %d events, want %d", len(got), len(events))
			}
			for i, g := range got {
				e := events[i]
				if g.Seq != e.Seq || g.ID != e.ID || g.Key != e.Key || g.SchemaID != e.SchemaID ||
					!g.Time.Equal(e.Time.Truncate(time.Microsecond)) || !g.Received.Equal(e.Received.Truncate(time.Microsecond)) {
					t.Errorf("event %d: %+v, want %+v", i, g, e)
				}
				if g.Data["order_id"] != fmt.Sprintf("o-%d", e.Seq) {
					t.Errorf("event %d: data %v", i, g.Data)
				}
			}
			s, err := Summarize(name, buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&s.Manifest, m) {
				t.Errorf("Summarize manifest\n got %+v\nwant %+v", s.Manifest, *m)
			}
			if !s.Holds(events) || s.Holds(events[1:]) {
				t.Errorf("Holds does not tell the file's events apart")
			}
			other := *events[2]
			other.ID = "someone-else"
			if s.Holds(append(append(append([]*routing.Event{}, events[:2]...), &other), events[3:]...)) {
				t.Errorf("Holds accepts another id")
			}
			pm, err := ParseManifest(m.Marshal())
			if err != nil || !reflect.DeepEqual(pm, m) || !bytes.HasSuffix(m.Marshal(), []byte("}\n")) {
				t.Errorf("manifest round trip: %+v, %v", pm, err)
			}
			// Damage is detected, not decoded into garbage.
			raw := buf.Bytes()
			for _, bad := range [][]byte{raw[:len(raw)-1], append([]byte("Obj\x02"), raw[4:]...), raw[:10]} {
				if _, err := Summarize(name, bad); err == nil {
					t.Errorf("Summarize accepted a damaged file of %d bytes", len(bad))
				}
			}
		})
	}
	if _, err := Encode(&bytes.Buffer{}, FileSpec{Name: "x", Wrapper: w, Codec: CodecNull}, nil); err == nil {
		t.Errorf("Encode of no events succeeded")
	}
}

type retryableErr struct{}

func (retryableErr) Error() string   { return "registry unreachable" }
func (retryableErr) Retryable() bool { return true }

type flaky struct{}

func (flaky) Avro(int) (avro.Schema, error) { return nil, retryableErr{} }

func TestPlan(t *testing.T) {
	r := schemas(t)
	p := NewPlanner("teststore")
	route := routing.Route{Name: "files", Mode: routing.Append, Target: "{contract}/dt={date}/hr={hour}"}
	evs := []routing.Event{order(t, r, 1, at), order(t, r, 2, at.Add(time.Hour)), order(t, r, 3, at), order(t, r, 4, at)}
	evs[2].SchemaID = 42 // unknown
	evs[3].SchemaID = signupID
	evs[3].Contract = "users.signed_up"
	groups, fails, err := p.Plan(&routing.Batch{Route: route, Events: evs, Schemas: r})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range groups {
		got = append(got, fmt.Sprintf("%s s%d %v", g.Key.Dir, g.Key.SchemaID, g.Idx))
	}
	want := []string{
		"checkout.order_placed/dt=2024-03-01/hr=09 s7 [0]",
		"checkout.order_placed/dt=2024-03-01/hr=10 s7 [1]",
		"users.signed_up/dt=2024-03-01/hr=09 s9 [3]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups\n got %q\nwant %q", got, want)
	}
	if len(fails) != 1 || fails[0].Index != 2 || routing.Retryable(fails[0].Err) || !strings.Contains(fails[0].Err.Error(), "teststore: schema id 42") {
		t.Errorf("fails %v", fails)
	}
	if _, fails, _ := p.Plan(&routing.Batch{Route: route, Events: evs[:2], Schemas: flaky{}}); len(fails) != 2 || !routing.Retryable(fails[0].Err) {
		t.Errorf("a retryable resolver failure: %v", fails)
	}
	for name, b := range map[string]*routing.Batch{
		"bad template": {Route: routing.Route{Name: "x", Target: "{nope}"}, Events: evs, Schemas: r},
		"latest":       {Route: routing.Route{Name: "x", Mode: routing.Latest, Target: "t"}, Events: evs, Schemas: r},
		"no resolver":  {Route: route, Events: evs},
	} {
		if _, _, err := p.Plan(b); err == nil || routing.Retryable(err) || !strings.HasPrefix(err.Error(), "teststore: route") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSelect: events come out in sequence order, those at or below the mark and
// repeats are skipped, and a corrupt event fails even below the mark.
func TestSelect(t *testing.T) {
	r := schemas(t)
	p := NewPlanner("teststore")
	var evs []routing.Event
	for _, seq := range []uint64{9, 4, 6, 5, 7, 7, 3} {
		evs = append(evs, order(t, r, seq, at))
	}
	evs[3].Data = evs[3].Data[:2] // seq 5, below the mark: still reported
	evs[4].Data = append(evs[4].Data, 1)
	b := &routing.Batch{Events: evs}
	w, _ := NewWrapper(r[orderID])
	g := &Group{Key: StreamKey{Dir: "d", SchemaID: orderID}, Wrapper: w, Idx: []int{0, 1, 2, 3, 4, 5, 6}}
	sel, skipped, fails := p.Select(b, g, 5)
	var seqs []uint64
	for _, i := range sel {
		seqs = append(seqs, evs[i].Seq)
	}
	if !reflect.DeepEqual(seqs, []uint64{6, 7, 9}) || skipped != 2 {
		t.Errorf("selected %v, skipped %d; want [6 7 9], 2", seqs, skipped)
	}
	if len(fails) != 2 || fails[0].Index != 3 || fails[1].Index != 4 || routing.Retryable(fails[0].Err) || !strings.Contains(fails[0].Err.Error(), "teststore: event") {
		t.Errorf("fails %v", fails)
	}
	ev := order(t, r, 0, at)
	if err := CheckEvent(w, &ev); err == nil {
		t.Errorf("sequence number 0 accepted")
	}
}

type state struct {
	StreamState
	dirty bool
}

func TestStreams(t *testing.T) {
	tab := NewStreams(4, func(s *state) bool { return !s.dirty })
	key := func(i int) StreamKey { return StreamKey{Dir: fmt.Sprint("d", i), SchemaID: 1} }
	for i := range 10 {
		st, unlock := tab.Lock(key(i))
		st.HWM = uint64(i + 1)
		st.dirty = i == 1
		unlock()
		tab.Evict()
		if n := tab.Len(); n > 4 {
			t.Fatalf("after stream %d: %d in memory", i, n)
		}
	}
	// The dirty stream is kept; the most recent are kept.
	st, unlock := tab.Lock(key(1))
	if st.HWM != 2 {
		t.Errorf("a stream that was not clean was evicted")
	}
	unlock()
	st, unlock = tab.Lock(key(9))
	if st.HWM != 10 {
		t.Errorf("the last stream was evicted")
	}
	unlock()
	st, unlock = tab.Lock(key(0))
	if st.HWM != 0 {
		t.Errorf("an evicted stream came back with state %+v", st)
	}
	unlock()

	var s StreamState
	k := StreamKey{Dir: "d", SchemaID: 1}
	if err := s.Claim("teststore", k, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim("teststore", k, "a"); err != nil {
		t.Fatal(err)
	}
	err := s.Claim("teststore", k, "b")
	if err == nil || routing.Retryable(err) || !strings.Contains(err.Error(), `written by route "a", not "b"`) {
		t.Errorf("second route: %v", err)
	}
	if !errors.As(err, new(interface{ Retryable() bool })) {
		t.Errorf("claim error does not classify itself")
	}
}

func TestPlannerWrite(t *testing.T) {
	r := schemas(t)
	p := NewPlanner("teststore")
	route := routing.Route{Name: "files", Mode: routing.Append, Target: "{contract}/hr={hour}"}
	evs := []routing.Event{order(t, r, 1, at.Add(time.Hour)), order(t, r, 2, at), order(t, r, 3, at.Add(time.Hour)), order(t, r, 4, at)}
	evs[3].SchemaID = 42
	var seen [][]int
	err := p.Write(context.Background(), &routing.Batch{Route: route, Events: evs, Schemas: r}, func(g *Group) []routing.ItemError {
		seen = append(seen, g.Idx)
		if g.Key.Dir == "checkout.order_placed/hr=10" {
			return FailAll(nil, g.Idx, errors.New("store down"))
		}
		return nil
	})
	if !reflect.DeepEqual(seen, [][]int{{1}, {0, 2}}) {
		t.Errorf("groups written %v, want hour 09 then hour 10", seen)
	}
	var be *routing.BatchError
	if !errors.As(err, &be) || len(be.Items) != 3 || be.Items[0].Index != 0 || be.Items[1].Index != 2 || be.Items[2].Index != 3 {
		t.Fatalf("Write = %v, want failures of 0, 2 (the group) and 3 (unknown schema), sorted", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = p.Write(ctx, &routing.Batch{Route: route, Events: evs[:3], Schemas: r}, func(*Group) []routing.ItemError {
		t.Errorf("a group was written after the context ended")
		return nil
	})
	if !errors.As(err, &be) || len(be.Items) != 3 || !errors.Is(be.Items[0].Err, context.Canceled) || !routing.Retryable(err) {
		t.Errorf("Write with an ended context: %v", err)
	}
	if err := p.Write(context.Background(), &routing.Batch{Route: route}, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	if err := p.Write(context.Background(), &routing.Batch{Route: routing.Route{Target: "{x}"}, Events: evs, Schemas: r}, nil); err == nil || routing.Retryable(err) {
		t.Errorf("bad template: %v", err)
	}
}

func TestGate(t *testing.T) {
	var g Gate
	leave, open := g.Enter()
	if !open {
		t.Fatal("a new gate is closed")
	}
	leave()
	released := 0
	release := func() error { released++; return errors.New("released") }
	if err := g.Close(release); err == nil || err.Error() != "released" {
		t.Errorf("Close = %v, want release's error", err)
	}
	if err := g.Close(release); err != nil || released != 1 {
		t.Errorf("second Close = %v, release ran %d times", err, released)
	}
	leave, open = g.Enter()
	leave()
	if open {
		t.Errorf("Enter after Close admitted a write")
	}
}

func TestScan(t *testing.T) {
	k := StreamKey{Dir: "d", SchemaID: 7}
	names := []string{
		FileName(1, 5, 7), ManifestName(FileName(1, 5, 7)),
		FileName(6, 9, 7),                                    // no manifest
		FileName(3, 12, 8), ManifestName(FileName(3, 12, 8)), // another schema id
		".tmp-" + FileName(10, 11, 7) + ".00aa",           // a data upload of ours
		".tmp-" + ManifestName(FileName(6, 9, 7)) + ".bb", // a manifest of ours
		".tmp-" + FileName(10, 11, 8) + ".cc",             // another schema id's
		".tmp-probe-1", "notes.txt", "part-1-2-s7.avro",
	}
	hwm, unmanifested, stale := Scan(k, names)
	if hwm != 9 || !reflect.DeepEqual(unmanifested, []string{FileName(6, 9, 7)}) ||
		!reflect.DeepEqual(stale, []string{names[5], names[6]}) {
		t.Errorf("Scan = %d, %q, %q", hwm, unmanifested, stale)
	}
	if hwm, u, s := Scan(k, nil); hwm != 0 || u != nil || s != nil {
		t.Errorf("Scan of an empty directory = %d %q %q", hwm, u, s)
	}
	st := StreamState{Pending: []string{"a", "b", "c"}}
	var healed []string
	err := st.SettlePending(func(name string) error {
		if name == "b" {
			return errors.New("store down")
		}
		healed = append(healed, name)
		return nil
	})
	if err == nil || !reflect.DeepEqual(healed, []string{"a"}) || !reflect.DeepEqual(st.Pending, []string{"b", "c"}) {
		t.Errorf("SettlePending: %v, healed %q, pending %q", err, healed, st.Pending)
	}
}
