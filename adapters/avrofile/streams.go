package avrofile

import (
	"fmt"
	"sort"
	"sync"

	"github.com/waybill-data/waybill/routing"
)

// StreamKey identifies a stream: the files of one schema id in one target directory.
type StreamKey struct {
	Dir      string // rendered target, relative to the sink's root, '/'-separated
	SchemaID int
}

// StreamState is what a file sink knows of a stream, a cache of what its directory
// holds; a sink embeds it in its own stream state. After any failure the sink sets
// Loaded to false, so the next write rebuilds it from the directory.
type StreamState struct {
	Loaded   bool
	DirReady bool     // the directory exists (created by this process or found)
	HWM      uint64   // high-water mark: the highest committed sequence number (0: none)
	Route    string   // the route writing the stream, once known in this process
	Pending  []string // committed data files whose manifest still has to be written
}

// Claim records that route writes the stream. A stream belongs to one route (two
// routes' sequence ranges would mix in one directory and break the high-water mark),
// so another route gets a permanent error naming both.
func (s *StreamState) Claim(store string, k StreamKey, route string) error {
	if s.Route != "" && s.Route != route {
		return routing.Permanent(fmt.Errorf("%s: target directory %q is written by route %q, not %q: a target directory must belong to one route",
			store, k.Dir, s.Route, route))
	}
	s.Route = route
	return nil
}

// DefaultMaxStreams is how many streams a Streams table keeps by default.
const DefaultMaxStreams = 4096

// Streams is a file sink's table of stream states S, each locked for a whole commit
// (a stream's files are written in order). Target directories usually include the date
// or hour, so a long-running sink keeps meeting new ones; past Max streams, Evict
// drops the least recently written ones that clean reports droppable (a later write
// rebuilds them from their directories). It is safe for concurrent use.
type Streams[S any] struct {
	max   int
	clean func(*S) bool

	mu    sync.Mutex
	m     map[StreamKey]*streamEntry[S]
	ticks uint64 // counts stream uses
}

type streamEntry[S any] struct {
	mu      sync.Mutex
	state   S
	lastUse uint64 // Streams.ticks when last locked, for eviction
	evicted bool   // removed from the table; whoever locked it must look it up again
}

// NewStreams returns a table keeping about max streams (DefaultMaxStreams if max <=
// 0); clean reports whether a state can be dropped without losing anything.
func NewStreams[S any](max int, clean func(*S) bool) *Streams[S] {
	if max <= 0 {
		max = DefaultMaxStreams
	}
	return &Streams[S]{max: max, clean: clean, m: map[StreamKey]*streamEntry[S]{}}
}

// Lock returns the state of k (a zero S the first time), locked, and the function
// that unlocks it.
func (t *Streams[S]) Lock(k StreamKey) (*S, func()) {
	for {
		t.mu.Lock()
		e := t.m[k]
		if e == nil {
			e = &streamEntry[S]{}
			t.m[k] = e
		}
		t.ticks++
		tick := t.ticks
		t.mu.Unlock()
		e.mu.Lock()
		if !e.evicted {
			e.lastUse = tick
			return &e.state, e.mu.Unlock
		}
		e.mu.Unlock()
	}
}

// Len is the number of streams in memory.
func (t *Streams[S]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Evict drops the least recently written clean streams when there are more than max,
// down to half of max. Streams locked at the time are kept.
func (t *Streams[S]) Evict() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) <= t.max {
		return
	}
	type cand struct {
		k  StreamKey
		e  *streamEntry[S]
		at uint64
	}
	var cands []cand
	for k, e := range t.m {
		if e.mu.TryLock() {
			if t.clean(&e.state) {
				cands = append(cands, cand{k, e, e.lastUse})
			} else {
				e.mu.Unlock()
			}
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].at < cands[j].at })
	drop := len(t.m) - t.max/2
	for i, c := range cands {
		if i < drop {
			c.e.evicted = true
			delete(t.m, c.k)
		}
		c.e.mu.Unlock()
	}
}
