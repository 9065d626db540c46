package sinktest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/verify"
)

// memStore is an in-memory store with the behaviour the suite demands, and switchable
// defects that the suite must catch.
type memStore struct {
	mu        sync.Mutex
	defect    string
	down      bool
	failNext  map[string]bool // id → permanent
	records   map[string][]Stored
	schemas   Schemas
	latestKey map[string]string // contract/key → record index key
}

type memSink struct{ st *memStore }

func (m *memSink) Close() error { return nil }

func (m *memSink) Write(_ context.Context, b *routing.Batch) error {
	st := m.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.down {
		if st.defect == "permanent_outage" {
			return routing.Permanent(errors.New("connection refused"))
		}
		return errors.New("connection refused")
	}
	var items []routing.ItemError
	for i, ev := range b.Events {
		if permanent, ok := st.failNext[ev.ID]; ok {
			delete(st.failNext, ev.ID)
			err := errors.New("injected")
			if permanent {
				err = routing.Permanent(err)
			}
			items = append(items, routing.ItemError{Index: i, Err: err})
			continue
		}
		schema, _ := st.schemas.Avro(ev.SchemaID)
		v, err := avrovalue.Decode(schema, ev.Data)
		if err != nil {
			return routing.Permanent(err)
		}
		rec := Stored{ID: ev.ID, Key: ev.Key, Time: ev.Time, SchemaID: ev.SchemaID, Value: v}
		slot := ev.Contract + "/" + ev.ID
		if b.Route.Mode == routing.Latest {
			slot = ev.Contract + "/key/" + ev.Key
			if cur := st.records[slot]; len(cur) == 1 && st.defect != "regress" {
				old := cur[0]
				if old.Time.After(ev.Time) || old.Time.Equal(ev.Time) && old.ID >= ev.ID {
					continue
				}
			}
			st.records[slot] = []Stored{rec}
			continue
		}
		if st.defect == "dup" {
			st.records[slot] = append(st.records[slot], rec)
		} else {
			st.records[slot] = []Stored{rec}
		}
	}
	if st.defect == "lose" && len(items) > 0 {
		return nil
	}
	if items != nil {
		return &routing.BatchError{Items: items}
	}
	return nil
}

// Count implements verify.Inventory over the records.
func (m *memSink) Count(_ context.Context, _ routing.Route, contract string, since, until time.Time) (map[string]verify.HourCount, error) {
	st := m.st
	st.mu.Lock()
	defer st.mu.Unlock()
	tally := verify.NewTally(since, until)
	for slot, recs := range st.records {
		if strings.HasPrefix(slot, contract+"/") {
			for _, r := range recs {
				tally.Add(r.Time, r.ID)
			}
		}
	}
	counts := tally.Counts()
	if st.defect == "miscount" {
		for h, c := range counts {
			c.Records++
			counts[h] = c
		}
	}
	return counts, nil
}

// Versions implements verify.Inventory over the latest records.
func (m *memSink) Versions(_ context.Context, _ routing.Route, contract string, keys []string) (map[string]routing.Version, error) {
	st := m.st
	st.mu.Lock()
	defer st.mu.Unlock()
	out := map[string]routing.Version{}
	for _, k := range keys {
		if recs := st.records[contract+"/key/"+k]; len(recs) == 1 {
			out[k] = routing.Version{ID: recs[0].ID, Time: recs[0].Time.UTC()}
		}
	}
	return out, nil
}

func (st *memStore) store() Store {
	return Store{
		Name:   "memory",
		Modes:  []routing.Mode{routing.Append, routing.Latest},
		Target: "{contract}",
		Open:   func(*testing.T, routing.Class) routing.Sink { return &memSink{st} },
		Read: func(_ *testing.T, _ routing.Route, contract string) []Stored {
			st.mu.Lock()
			defer st.mu.Unlock()
			var out []Stored
			for slot, recs := range st.records {
				if strings.HasPrefix(slot, contract+"/") {
					out = append(out, recs...)
				}
			}
			return out
		},
		Down: func(*testing.T) { st.mu.Lock(); st.down = true; st.mu.Unlock() },
		Up:   func(*testing.T) { st.mu.Lock(); st.down = false; st.mu.Unlock() },
		FailNext: func(_ *testing.T, ids []string, permanent bool) {
			st.mu.Lock()
			defer st.mu.Unlock()
			for _, id := range ids {
				st.failNext[id] = permanent
			}
		},
	}
}

func newMemStore(defect string) *memStore {
	return &memStore{defect: defect, failNext: map[string]bool{}, records: map[string][]Stored{}}
}

// TestSuitePassesACorrectStore runs every subtest against the correct memory store.
func TestSuitePassesACorrectStore(t *testing.T) {
	Run(t, newMemStore("").store())
}

// TestDefectiveStore is run as a subprocess by TestSuiteCatchesDefects.
func TestDefectiveStore(t *testing.T) {
	defect := os.Getenv("SINKTEST_DEFECT")
	if defect == "" {
		t.Skip("run by TestSuiteCatchesDefects with SINKTEST_DEFECT set")
	}
	Run(t, newMemStore(defect).store())
}

// TestSuiteCatchesDefects proves the suite can fail: each defect must make it fail with
// the expected complaint.
func TestSuiteCatchesDefects(t *testing.T) {
	cases := []struct{ defect, subtest, complaint string }{
		{"dup", "redelivery", "stored 2 times"},
		{"regress", "latest", "holds event"},
		{"lose", "partial_failure", "want a *routing.BatchError"},
		{"permanent_outage", "outage", "classified permanent"},
		{"miscount", "inventory_count", "want 7 records"},
	}
	for _, c := range cases {
		t.Run(c.defect, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestDefectiveStore$/^"+c.subtest+"$", "-test.v")
			cmd.Env = append(os.Environ(), "SINKTEST_DEFECT="+c.defect)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store with defect %q:\n%s", c.defect, out)
			}
			if !strings.Contains(string(out), c.complaint) {
				t.Fatalf("defect %q: output lacks %q:\n%s", c.defect, c.complaint, out)
			}
		})
	}
}
