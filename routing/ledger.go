package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/waybill-data/waybill/routing/wal"
)

// Ledger counts, per contract, hour (of event time, UTC) and route, the events
// accepted. It is a WAL consumer with its own checkpoint: the counts as of a sequence
// are saved together with that sequence (ledger.json, written atomically), and on
// start the records after it are counted again, so a crash neither loses nor doubles a
// count. Delivered counts live with each route's cursor; dead-letter counts come from
// the dead-letter store.
type Ledger struct {
	path string

	mu       sync.Mutex
	through  uint64
	accepted map[string]int64 // LedgerKey + "|" + route
	reader   *wal.Reader
	decode   func(uint64, []byte) (*Record, error)
}

type ledgerFile struct {
	Through  uint64           `json:"through"`
	Accepted map[string]int64 `json:"accepted"`
}

// LedgerKey is "contract|2026-11-22T10" (the event's hour, UTC).
func LedgerKey(contract string, t time.Time) string {
	return contract + "|" + t.UTC().Format("2006-01-02T15")
}

// OpenLedger loads the ledger checkpoint from stateDir.
func OpenLedger(stateDir string) (*Ledger, error) {
	l := &Ledger{path: filepath.Join(stateDir, "ledger.json"), accepted: map[string]int64{}}
	raw, err := os.ReadFile(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ledger: %w", err)
	}
	var f ledgerFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("ledger %s is corrupt: %w", l.path, err)
	}
	l.through = f.Through
	if f.Accepted != nil {
		l.accepted = f.Accepted
	}
	return l, nil
}

// Recover counts the records after the checkpoint and keeps a reader for later ones.
func (l *Ledger) Recover(w *wal.WAL, decode func(uint64, []byte) (*Record, error)) error {
	from := l.through + 1
	if first := w.FirstSeq(); first > from {
		return fmt.Errorf("ledger checkpoint %d is older than the WAL's first record %d: counts would be lost", l.through, first)
	}
	rd, err := w.NewReader(from)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	l.reader = rd
	l.decode = decode
	return l.catchUp()
}

// catchUp counts every record durable so far. A nil reader (before Recover) counts nothing.
func (l *Ledger) catchUp() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reader == nil {
		return nil
	}
	var keys ledgerKeys
	var lastKey string
	var lastRoutes, counters []string // counters[i] is lastKey + "|" + lastRoutes[i]
	for {
		rec, ok, err := l.reader.TryNext()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		r, err := l.decode(rec.Seq, rec.Payload)
		if err == nil && !r.Replay && !r.Erasure { // erasure requests are not events
			// Runs of records share contract, hour and routes: build their counter
			// names once per run, not once per record.
			if key := keys.of(r.Contract, r.Time); key != lastKey || !slices.Equal(r.Routes, lastRoutes) {
				lastKey, lastRoutes, counters = key, r.Routes, counters[:0]
				for _, route := range r.Routes {
					counters = append(counters, key+"|"+route)
				}
			}
			for _, c := range counters {
				l.accepted[c]++
			}
		}
		l.through = rec.Seq
	}
}

// ledgerKeys memoizes LedgerKey over runs of events of one contract and hour, which is
// how events arrive: formatting the hour per event would be the ledger's main cost.
type ledgerKeys struct {
	contract string
	hour     int64
	key      string
}

func (k *ledgerKeys) of(contract string, t time.Time) string {
	hour := t.Unix()
	if hour < 0 {
		hour -= 3599 // floor, not truncation toward zero
	}
	hour /= 3600
	if k.key == "" || hour != k.hour || contract != k.contract {
		k.contract, k.hour, k.key = contract, hour, LedgerKey(contract, t)
	}
	return k.key
}

// Checkpoint counts what is new and saves the counts with their sequence.
func (l *Ledger) Checkpoint(uint64) error {
	if l.reader == nil {
		return nil
	}
	if err := l.catchUp(); err != nil {
		return err
	}
	l.mu.Lock()
	raw, err := json.Marshal(ledgerFile{Through: l.through, Accepted: l.accepted})
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return writeFileAtomic(l.path, raw)
}

// CheckpointSeq is the last sequence whose counts are saved.
func (l *Ledger) CheckpointSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.through
}

// LedgerRow is one line of the ledger.
type LedgerRow struct {
	Contract     string `json:"contract"`
	Hour         string `json:"hour"`
	Route        string `json:"route"`
	Accepted     int64  `json:"accepted"`
	Delivered    int64  `json:"delivered"`
	DeadLettered int64  `json:"dead_lettered"`
	Pending      int64  `json:"pending"`
}

// Rows merges accepted, delivered and dead-lettered counts into sorted rows.
func (rt *Router) LedgerRows() ([]LedgerRow, error) {
	if err := rt.ledger.catchUp(); err != nil {
		return nil, err
	}
	rows := map[string]*LedgerRow{}
	row := func(key, route string) *LedgerRow {
		k := key + "|" + route
		if r, ok := rows[k]; ok {
			return r
		}
		contract, hour, _ := strings.Cut(key, "|")
		r := &LedgerRow{Contract: contract, Hour: hour, Route: route}
		rows[k] = r
		return r
	}
	rt.ledger.mu.Lock()
	for k, n := range rt.ledger.accepted {
		i := strings.LastIndex(k, "|")
		row(k[:i], k[i+1:]).Accepted = n
	}
	rt.ledger.mu.Unlock()
	for name, r := range rt.routes {
		for key, n := range r.deliveredCounts() {
			row(key, name).Delivered = n
		}
	}
	for _, d := range rt.dead.Counts() {
		row(d.key, d.route).DeadLettered = d.n
	}
	out := make([]LedgerRow, 0, len(rows))
	for _, r := range rows {
		r.Pending = r.Accepted - r.Delivered - r.DeadLettered
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Contract != b.Contract {
			return a.Contract < b.Contract
		}
		if a.Hour != b.Hour {
			return a.Hour < b.Hour
		}
		return a.Route < b.Route
	})
	return out, nil
}

// LatestSamples returns, per latest-mode route, the newest delivered version of each
// sampled key (see sample.go).
func (rt *Router) LatestSamples() map[string]LatestSample {
	out := map[string]LatestSample{}
	for name, r := range rt.routes {
		if r.cfg.Mode == Latest {
			out[name] = r.latestSample()
		}
	}
	return out
}
