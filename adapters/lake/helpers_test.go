package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/adapters/avrofile"
	"github.com/waybill-data/waybill/routing"
)

// Schema ids used by the tests.
const (
	orderV1 = 7 // checkout.order_placed, first version
	orderV2 = 8 // checkout.order_placed, with an added field
	signup  = 9 // users.signed_up: a record without namespace, named Event
)

const orderV1Text = `{"type":"record","name":"OrderPlaced","namespace":"checkout","fields":[
 {"name":"order_id","type":"string"},
 {"name":"email","type":"string","waybill.classification":"pii"},
 {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
 {"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
   {"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}},
 {"name":"attrs","type":{"type":"map","values":"string"}},
 {"name":"coupon","type":["null","string"],"default":null},
 {"name":"shipping","type":["null",{"type":"record","name":"Address","fields":[
   {"name":"city","type":"string"},{"name":"zip","type":"string"}]}],"default":null},
 {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}},
 {"name":"placed_at","type":{"type":"long","logicalType":"timestamp-millis"}}
]}`

const orderV2Text = `{"type":"record","name":"OrderPlaced","namespace":"checkout","fields":[
 {"name":"order_id","type":"string"},
 {"name":"email","type":"string","waybill.classification":"pii"},
 {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
 {"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
   {"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}},
 {"name":"attrs","type":{"type":"map","values":"string"}},
 {"name":"coupon","type":["null","string"],"default":null},
 {"name":"shipping","type":["null",{"type":"record","name":"Address","fields":[
   {"name":"city","type":"string"},{"name":"zip","type":"string"}]}],"default":null},
 {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}},
 {"name":"placed_at","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"channel","type":"string","default":"web"}
]}`

const signupText = `{"type":"record","name":"Event","fields":[
 {"name":"user","type":"string"},
 {"name":"meta","type":{"type":"record","name":"Meta","fields":[{"name":"source","type":"string"},{"name":"tags","type":{"type":"array","items":"string"}}]}},
 {"name":"score","type":"double"},
 {"name":"ok","type":"boolean"}
]}`

// resolver is a routing.Schemas over a fixed map.
type resolver map[int]avro.Schema

func (r resolver) Avro(id int) (avro.Schema, error) {
	if s, ok := r[id]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("schema id %d not found", id)
}

func testSchemas(t testing.TB) resolver {
	t.Helper()
	r := resolver{}
	for id, text := range map[int]string{orderV1: orderV1Text, orderV2: orderV2Text, signup: signupText} {
		s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
		if err != nil {
			t.Fatalf("schema %d: %v", id, err)
		}
		r[id] = s
	}
	return r
}

// base is a fixed event time: 2024-03-01 09:15:30.123456789 UTC (nanoseconds on
// purpose: the lake keeps microseconds).
var base = time.Date(2024, 3, 1, 9, 15, 30, 123456789, time.UTC)

// orderData is the Go value of an order; n varies its content.
func orderData(n uint64, v2 bool) map[string]any {
	m := map[string]any{
		"order_id": fmt.Sprintf("o-%d", n),
		"email":    fmt.Sprintf("u%d@example.com", n),
		"amount":   big.NewRat(int64(n)*100+99, 100),
		"items": []any{
			map[string]any{"sku": fmt.Sprintf("sku-%d", n), "qty": int(n % 5)},
			map[string]any{"sku": "gift", "qty": 1},
		},
		"attrs":     map[string]any{"lang": "en", "n": fmt.Sprint(n)},
		"coupon":    nil,
		"shipping":  nil,
		"status":    "PAID",
		"placed_at": base.Truncate(time.Millisecond),
	}
	if n%2 == 0 {
		m["coupon"] = map[string]any{"string": "SPRING"}
		m["shipping"] = map[string]any{"checkout.Address": map[string]any{"city": fmt.Sprintf("City %d", n), "zip": "75001"}}
	}
	if v2 {
		m["channel"] = "app"
	}
	return m
}

func signupData(n uint64) map[string]any {
	return map[string]any{
		"user":  fmt.Sprintf("user-%d", n),
		"meta":  map[string]any{"source": "ads", "tags": []any{"a", fmt.Sprint(n)}},
		"score": float64(n) / 4,
		"ok":    n%2 == 1,
	}
}

// mkEvent builds an event; its data is encoded with the schema of id.
func mkEvent(t testing.TB, r resolver, seq uint64, id int, at time.Time) routing.Event {
	t.Helper()
	var contract string
	var v map[string]any
	switch id {
	case orderV1, orderV2:
		contract, v = "checkout.order_placed", orderData(seq, id == orderV2)
	case signup:
		contract, v = "users.signed_up", signupData(seq)
	default:
		contract, v = "unknown", nil
	}
	var data []byte
	if s, ok := r[id]; ok {
		var err error
		if data, err = avro.Marshal(s, v); err != nil {
			t.Fatalf("encoding event %d: %v", seq, err)
		}
	}
	return routing.Event{
		Seq: seq, ID: fmt.Sprintf("ev-%d", seq), Contract: contract, SchemaID: id,
		Key: fmt.Sprintf("k-%d", seq%3), Time: at, Received: at.Add(1500 * time.Microsecond), Data: data,
	}
}

// orders returns events seq first..last of one schema id at one time.
func orders(t testing.TB, r resolver, first, last uint64, id int, at time.Time) []routing.Event {
	var evs []routing.Event
	for s := first; s <= last; s++ {
		evs = append(evs, mkEvent(t, r, s, id, at))
	}
	return evs
}

var lakeRoute = routing.Route{Name: "lake", Class: routing.Analytic, Mode: routing.Append, Target: "{contract}/dt={date}/hr={hour}"}

func batch(r resolver, evs ...routing.Event) *routing.Batch {
	return &routing.Batch{Route: lakeRoute, Events: evs, Schemas: r}
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func openSink(t testing.TB, root, codec string) (*Sink, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	s, err := New(Config{Path: root, Codec: codec}, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

func mustWrite(t testing.TB, s *Sink, b *routing.Batch) {
	t.Helper()
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// files returns "dir/name" of every committed file under root, sorted.
func files(t testing.TB, root string) []string {
	t.Helper()
	cfs, err := Scan(root)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	var out []string
	for _, cf := range cfs {
		out = append(out, cf.Dir+"/"+cf.Name)
	}
	return out
}

// allEvents reads every committed file under root.
func allEvents(t testing.TB, root string) []StoredEvent {
	t.Helper()
	cfs, err := Scan(root)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	var out []StoredEvent
	for _, cf := range cfs {
		evs, err := ReadFile(cf.Path)
		if err != nil {
			t.Fatalf("ReadFile: %v", err)
		}
		out = append(out, evs...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// hidden lists hidden (temporary) files under root, except the lock file.
func hidden(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && info.Name()[0] == '.' && info.Name() != lockName {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// itemErrors returns the *routing.BatchError's items by index.
func itemErrors(t testing.TB, err error) map[int]error {
	t.Helper()
	var be *routing.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("error %v (%T) is not a *routing.BatchError", err, err)
	}
	out := map[int]error{}
	for _, it := range be.Items {
		out[it.Index] = it.Err
	}
	return out
}

func fileName(dir string, first, last uint64, id int) string {
	return dir + "/" + avrofile.FileName(first, last, id)
}

// forgetStream makes the sink forget what it knows of a stream except that it is
// loaded (empty) and its directory exists, so the next commit cannot know from its
// high-water mark that the name it writes may be taken.
func forgetStream(s *Sink, dir string, schemaID int) {
	st, unlock := s.streams.Lock(avrofile.StreamKey{Dir: dir, SchemaID: schemaID})
	*st = stream{StreamState: avrofile.StreamState{Loaded: true, DirReady: true}}
	unlock()
}
