package routing

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/waybill-data/waybill/routing/wal"
)

// DeadLetter is an event a route gave up on, with the reason.
type DeadLetter struct {
	Route    string    `json:"route"`
	Seq      uint64    `json:"seq"`
	ID       string    `json:"id"`
	Contract string    `json:"contract"`
	SchemaID int       `json:"schema_id"`
	Key      string    `json:"key,omitempty"`
	Time     time.Time `json:"time"`
	Received time.Time `json:"received"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"dead_lettered_at"`
	Data     []byte    `json:"data,omitempty"` // Avro binary; omitted from listings
	// Erasure: this is an erasure request the route gave up on (a runtime route past
	// max_lag, or a store that refused it), not an event; a replay carries it out.
	Erasure bool `json:"erasure,omitempty"`
	// Erased: the event's key was erased on this route after it was dead-lettered; its
	// data is gone (also from the log file) and it is never replayed.
	Erased bool `json:"erased,omitempty"`
}

// DeadLetters is the durable dead-letter store: one append-only JSON-lines log per
// route (deadletters/{route}.log). A line is either {"op":"add","letter":{...}} or
// {"op":"replayed","seq":N}; the live set is rebuilt from the log at open. Writes are
// buffered and made durable by Sync, which routes call before their cursor passes the
// events concerned.
type DeadLetters struct {
	dir string

	mu      sync.Mutex
	logs    map[string]*dlLog
	letters map[string]map[uint64]*DeadLetter // route -> seq -> live letter
}

type dlLog struct {
	f     *os.File
	w     *bufio.Writer
	dirty bool
}

type dlLine struct {
	Op     string      `json:"op"`
	Letter *DeadLetter `json:"letter,omitempty"`
	Seq    uint64      `json:"seq,omitempty"`
}

// OpenDeadLetters loads every route's log in dir.
func OpenDeadLetters(dir string) (*DeadLetters, error) {
	d := &DeadLetters{dir: dir, logs: map[string]*dlLog{}, letters: map[string]map[uint64]*DeadLetter{}}
	paths, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		route := strings.TrimSuffix(filepath.Base(p), ".log")
		if err := d.load(route, p); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *DeadLetters) load(route, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening dead letters: %w", err)
	}
	defer f.Close()
	live := map[uint64]*DeadLetter{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		var line dlLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			// Only a torn last line (crash mid-write before its Sync) is expected here.
			if !sc.Scan() {
				break
			}
			return fmt.Errorf("dead letters %s line %d is corrupt: %w", path, n, err)
		}
		switch line.Op {
		case "add":
			if line.Letter != nil {
				live[line.Letter.Seq] = line.Letter
			}
		case "replayed":
			delete(live, line.Seq)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading dead letters %s: %w", path, err)
	}
	d.letters[route] = live
	return nil
}

func (d *DeadLetters) log(route string) (*dlLog, error) {
	if l, ok := d.logs[route]; ok {
		return l, nil
	}
	f, err := os.OpenFile(filepath.Join(d.dir, route+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	l := &dlLog{f: f, w: bufio.NewWriter(f)}
	d.logs[route] = l
	return l, nil
}

func (d *DeadLetters) write(route string, line dlLine) error {
	l, err := d.log(route)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(line)
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	if _, err := l.w.Write(raw); err != nil {
		return err
	}
	l.dirty = true
	return nil
}

// Add records a dead letter (durable after the next Sync).
func (d *DeadLetters) Add(route string, ev Event, reason string, now time.Time) error {
	return d.add(route, &DeadLetter{Route: route, Seq: ev.Seq, ID: ev.ID, Contract: ev.Contract, SchemaID: ev.SchemaID,
		Key: ev.Key, Time: ev.Time, Received: ev.Received, Reason: reason, At: now.UTC(), Data: ev.Data})
}

func (d *DeadLetters) add(route string, letter *DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.write(route, dlLine{Op: "add", Letter: letter}); err != nil {
		return err
	}
	if d.letters[route] == nil {
		d.letters[route] = map[uint64]*DeadLetter{}
	}
	d.letters[route][letter.Seq] = letter
	return nil
}

// Sync makes every buffered line durable.
func (d *DeadLetters) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.logs {
		if !l.dirty {
			continue
		}
		if err := l.w.Flush(); err != nil {
			return err
		}
		if err := l.f.Sync(); err != nil {
			return err
		}
		l.dirty = false
	}
	return nil
}

// List returns a route's live dead letters (all routes when route is ""), oldest
// first, without their data, at most limit.
func (d *DeadLetters) List(route string, limit int) []DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []DeadLetter
	for r, m := range d.letters {
		if route != "" && r != route {
			continue
		}
		for _, l := range m {
			c := *l
			c.Data = nil
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Route != out[j].Route {
			return out[i].Route < out[j].Route
		}
		return out[i].Seq < out[j].Seq
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Replay appends a route's live dead letters to the WAL again, addressed to that route
// only, and marks them replayed. It returns how many letters were replayed, how many
// of them are events (erasure requests are replayed too, as erasure requests) and the
// bytes of their data (the route's backlog grows by the events and their bytes).
// Letters whose key was erased since stay as they are.
func (d *DeadLetters) Replay(ctx context.Context, route string, w *wal.WAL) (replayed, events, dataBytes int, err error) {
	d.mu.Lock()
	letters := make([]*DeadLetter, 0, len(d.letters[route]))
	for _, l := range d.letters[route] {
		if !l.Erased {
			letters = append(letters, l)
		}
	}
	d.mu.Unlock()
	if len(letters) == 0 {
		return 0, 0, 0, nil
	}
	sort.Slice(letters, func(i, j int) bool { return letters[i].Seq < letters[j].Seq })
	payloads := make([][]byte, len(letters))
	for i, l := range letters {
		dataBytes += len(l.Data)
		if !l.Erasure {
			events++
		}
		payloads[i] = AppendRecord(nil, &Record{Event: Event{ID: l.ID, Contract: l.Contract, SchemaID: l.SchemaID,
			Key: l.Key, Time: l.Time, Received: l.Received, Data: l.Data}, Routes: []string{route}, Replay: true, Erasure: l.Erasure})
	}
	if _, _, err := w.Append(ctx, payloads); err != nil {
		return 0, 0, 0, fmt.Errorf("replaying dead letters: %w", err)
	}
	d.mu.Lock()
	var errs []error
	for _, l := range letters {
		errs = append(errs, d.write(route, dlLine{Op: "replayed", Seq: l.Seq}))
		delete(d.letters[route], l.Seq)
	}
	d.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, 0, err
	}
	return len(letters), events, dataBytes, d.Sync()
}

type dlCount struct {
	route, key string
	n          int64
}

// Counts returns live dead letters per route and ledger key.
func (d *DeadLetters) Counts() []dlCount {
	d.mu.Lock()
	defer d.mu.Unlock()
	agg := map[[2]string]int64{}
	for route, m := range d.letters {
		for _, l := range m {
			if !l.Erasure { // not an event: the ledger does not count it
				agg[[2]string{route, LedgerKey(l.Contract, l.Time)}]++
			}
		}
	}
	out := make([]dlCount, 0, len(agg))
	for k, n := range agg {
		out = append(out, dlCount{route: k[0], key: k[1], n: n})
	}
	return out
}

// Close flushes and closes the logs.
func (d *DeadLetters) Close() error {
	err := d.Sync()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.logs {
		err = errors.Join(err, l.f.Close())
	}
	d.logs = map[string]*dlLog{}
	return err
}

// EraseKey marks a route's live dead letters of contract's key, dead-lettered before
// the erasure request at sequence before, erased: their data is dropped and they are
// never replayed (they stay listed, and counted, as dead-lettered). The route's log is
// then rewritten with the live letters only, so the erased data leaves the disk too.
// It returns how many letters it erased.
func (d *DeadLetters) EraseKey(route, contract, key string, before uint64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, l := range d.letters[route] {
		if !l.Erasure && !l.Erased && l.Seq < before && l.Contract == contract && l.Key == key {
			l.Erased, l.Data = true, nil
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, d.compact(route)
}

// compact rewrites a route's log as one add line per live letter: temp file, fsync,
// rename, fsync directory. d.mu is held.
func (d *DeadLetters) compact(route string) error {
	if l, ok := d.logs[route]; ok {
		err := l.w.Flush()
		err = errors.Join(err, l.f.Close())
		delete(d.logs, route)
		if err != nil {
			return err
		}
	}
	letters := make([]*DeadLetter, 0, len(d.letters[route]))
	for _, l := range d.letters[route] {
		letters = append(letters, l)
	}
	sort.Slice(letters, func(i, j int) bool { return letters[i].Seq < letters[j].Seq })
	var buf []byte
	for _, l := range letters {
		raw, err := json.Marshal(dlLine{Op: "add", Letter: l})
		if err != nil {
			return err
		}
		buf = append(append(buf, raw...), '\n')
	}
	return writeFileAtomic(filepath.Join(d.dir, route+".log"), buf)
}
