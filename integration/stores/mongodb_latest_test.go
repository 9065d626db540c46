package stores

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	mongotest "github.com/waybill-data/waybill/integration/testserver/mongo"
	"github.com/waybill-data/waybill/routing"
)

// versionSchemas holds the one small schema of the latest-mode tests.
type versionSchemas struct{}

var versionAvro = avro.MustParse(`{"type":"record","name":"Version","fields":[{"name":"label","type":"string"}]}`)

func (versionSchemas) Avro(id int) (avro.Schema, error) {
	if id != 1 {
		return nil, fmt.Errorf("no schema %d", id)
	}
	return versionAvro, nil
}

// versionEvent is version v of key, at base + v seconds (and ids sort like versions).
func versionEvent(t testing.TB, contract, key string, v int) routing.Event {
	data, err := avro.Marshal(versionAvro, map[string]any{"label": fmt.Sprintf("%s v%d", key, v)})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 3, 1, 9, 0, v, 0, time.UTC)
	return routing.Event{Seq: uint64(v + 1), ID: fmt.Sprintf("%s-v%03d", key, v), Contract: contract, SchemaID: 1, Key: key, Time: at, Received: at, Data: data}
}

// storedVersions reads key → event id of every document of the route's collection.
func storedVersions(t *testing.T, m *mongoStore, route routing.Route, contract string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, d := range m.readAll(t, m.reader(t), route, contract, versionSchemas{}) {
		out[d.Key] = append(out[d.Key], d.EventID)
	}
	return out
}

// TestMongoDBLatestConcurrentWriters races several sinks (as routers after a restart,
// or overlapping deliveries would) upserting shuffled versions of the same keys, one
// event per write: whatever the interleaving, each key must end with its newest
// version. Against FerretDB the insert half of an upsert is not atomic with its match,
// so concurrent first writes of a key do collide on the duplicate key.
func TestMongoDBLatestConcurrentWriters(t *testing.T) {
	m := startMongo(t)
	const writers, keys, versions = 4, 3, 24
	route := routing.Route{Name: "race", Class: routing.Runtime, Mode: routing.Latest, Target: "wb_{contract}"}
	contract := "race_" + fmt.Sprint(time.Now().UnixNano()%1e6)
	var events []routing.Event
	for k := range keys {
		for v := range versions {
			events = append(events, versionEvent(t, contract, fmt.Sprintf("key%d", k), v))
		}
	}
	rng := mrand.New(mrand.NewPCG(7, 11))
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })

	sinks := make([]routing.Sink, writers)
	for i := range sinks {
		sinks[i] = m.open(t)
		defer sinks[i].Close()
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(events))
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(events); i += writers {
				b := &routing.Batch{Route: route, Events: []routing.Event{events[i]}, Schemas: versionSchemas{}}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				err := sinks[w].Write(ctx, b)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("writer %d, event %s: %w", w, events[i].ID, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := storedVersions(t, m, route, contract)
	for k := range keys {
		key := fmt.Sprintf("key%d", k)
		want := fmt.Sprintf("%s-v%03d", key, versions-1)
		if ids := got[key]; len(ids) != 1 || ids[0] != want {
			t.Errorf("%s holds %v, want [%s]", key, ids, want)
		}
	}
	if len(got) != keys {
		t.Errorf("%d keys stored, want %d: %v", len(got), keys, got)
	}
}

// TestMongoDBLatestNewestFails checks what a batch with several versions of a key does
// when the newest one's write fails: permanently, the next newest is written in its
// place (and only the newest is reported); retryably, every version of the key is
// reported retryable, and the retry stores the newest.
func TestMongoDBLatestNewestFails(t *testing.T) {
	m := startMongo(t)
	if m.server == nil {
		t.Skip("needs the test proxy to inject failures; skipped against a real MongoDB")
	}
	tests := []struct {
		name       string
		failure    mongotest.WriteFailure
		wantFailed []int // indexes in the batch
		retryable  bool
		stored     string // after retrying the retryable failures
	}{
		{"permanent", mongotest.PermanentFailure, []int{2}, false, "k-v001"},
		{"retryable", mongotest.RetryableFailure, []int{0, 1, 2}, true, "k-v002"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			route := routing.Route{Name: "newest", Class: routing.Analytic, Mode: routing.Latest, Target: "wb_{contract}"}
			contract := fmt.Sprintf("newest_%d_%d", i, time.Now().UnixNano()%1e6)
			batch := []routing.Event{versionEvent(t, contract, "k", 0), versionEvent(t, contract, "k", 1), versionEvent(t, contract, "k", 2)}
			other := versionEvent(t, contract, "other", 5)
			batch = append(batch, other)
			m.server.Proxy().FailNext([]string{batch[2].ID}, tt.failure)
			sink := m.open(t)
			defer sink.Close()
			err := sink.Write(context.Background(), &routing.Batch{Route: route, Events: batch, Schemas: versionSchemas{}})
			var be *routing.BatchError
			if !errors.As(err, &be) {
				t.Fatalf("Write = %v, want a BatchError", err)
			}
			var failed []int
			for _, it := range be.Items {
				failed = append(failed, it.Index)
				if routing.Retryable(it.Err) != tt.retryable {
					t.Errorf("event %d: retryable %t, want %t: %v", it.Index, !tt.retryable, tt.retryable, it.Err)
				}
			}
			if fmt.Sprint(failed) != fmt.Sprint(tt.wantFailed) {
				t.Fatalf("failed events %v, want %v", failed, tt.wantFailed)
			}
			if tt.retryable {
				var retry []routing.Event
				for _, i := range failed {
					retry = append(retry, batch[i])
				}
				if err := sink.Write(context.Background(), &routing.Batch{Route: route, Events: retry, Schemas: versionSchemas{}}); err != nil {
					t.Fatalf("retry: %v", err)
				}
			}
			got := storedVersions(t, m, route, contract)
			if fmt.Sprint(got["k"]) != "["+tt.stored+"]" || fmt.Sprint(got["other"]) != "[other-v005]" {
				t.Fatalf("stored %v, want k → %s and other → other-v005", got, tt.stored)
			}
		})
	}
}

// TestMongoDBLatestLargeBatches writes many keys' versions in large shuffled batches,
// as a busy runtime route does (the demo's profiles route found a loss here): every
// key must end with its newest version.
func TestMongoDBLatestLargeBatches(t *testing.T) {
	m := startMongo(t)
	const keys, versions, batch = 150, 8, 400
	route := routing.Route{Name: "bulk", Class: routing.Runtime, Mode: routing.Latest, Target: "wb_{contract}"}
	contract := "bulk_" + fmt.Sprint(time.Now().UnixNano()%1e6)
	var events []routing.Event
	for v := range versions {
		for k := range keys {
			events = append(events, versionEvent(t, contract, fmt.Sprintf("key%03d", k), v))
		}
	}
	rng := mrand.New(mrand.NewPCG(3, 5))
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	sink := m.open(t)
	defer sink.Close()
	for i := 0; i < len(events); i += batch {
		b := &routing.Batch{Route: route, Events: events[i:min(i+batch, len(events))], Schemas: versionSchemas{}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := sink.Write(ctx, b)
		cancel()
		if err != nil {
			t.Fatalf("batch at %d: %v", i, err)
		}
	}
	got := storedVersions(t, m, route, contract)
	var wrong []string
	for k := range keys {
		key := fmt.Sprintf("key%03d", k)
		want := fmt.Sprintf("%s-v%03d", key, versions-1)
		if ids := got[key]; len(ids) != 1 || ids[0] != want {
			wrong = append(wrong, fmt.Sprintf("%s holds %v, want [%s]", key, ids, want))
		}
	}
	if len(wrong) > 0 {
		t.Fatalf("%d of %d keys wrong, e.g. %v", len(wrong), keys, wrong[:min(5, len(wrong))])
	}
}
