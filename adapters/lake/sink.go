package lake

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
)

// Sink writes batches to a local-filesystem lake as Avro object container files. See
// the package documentation for the layout and the commit protocol. It is safe for
// concurrent use by several routes; each route must call Write one batch at a time.
type Sink struct {
	root  string
	codec string
	log   *slog.Logger
	lock  *os.File // holds the exclusive flock on the root while open

	// life is held shared by Write and exclusively by Close, so Close waits for writes
	// in flight.
	life sync.RWMutex

	mu        sync.Mutex // guards the fields below
	closed    bool
	streams   map[streamKey]*stream
	ticks     uint64 // counts stream uses
	templates map[string]*target.Template
	wrappers  map[int]*wrapper
}

// streamKey identifies a stream: the files of one schema id in one target directory.
type streamKey struct {
	dir      string // rendered target, relative to the root, '/'-separated
	schemaID int
}

// stream is the in-memory state of a stream, a cache of what its directory holds. Any
// failure drops the cache (loaded = false) so the next write rescans the directory.
type stream struct {
	mu       sync.Mutex // held for a whole commit: a stream's files are written in order
	loaded   bool
	dirReady bool   // the directory exists (created and synced by this process or found)
	hwm      uint64 // highest committed sequence number (0: none)
	route    string // the route writing this stream, once known in this process
	// unsynced is set when a file was renamed into the directory but the directory's
	// fsync failed: the next write must sync it before acknowledging anything.
	unsynced bool
	// pending lists committed files whose manifest still has to be written.
	pending []string
	lastUse uint64 // Sink.ticks when last written, for eviction
	evicted bool   // removed from Sink.streams; whoever locked it must look it up again
}

// clean reports whether the stream's state can be dropped and rebuilt from its
// directory without losing anything.
func (st *stream) clean() bool { return !st.unsynced && len(st.pending) == 0 }

// maxStreams bounds the streams kept in memory. Target directories usually include the
// date or hour, so a long-running sink keeps meeting new ones; past this many, the
// least recently written clean streams are dropped (a later write rescans the
// directory).
var maxStreams = 4096

// New opens (creating it if needed) the lake at cfg.Path, takes its lock file, checks
// that the file system can commit without overwriting, and recovers from a crash:
// temporary files are removed and missing manifests regenerated.
func New(cfg Config, logger *slog.Logger) (*Sink, error) {
	if errs := cfg.Validate("lake"); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	root := filepath.Clean(cfg.Path)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, ioError("mkdir", root, err)
	}
	lock, err := os.OpenFile(filepath.Join(root, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, ioError("open", filepath.Join(root, lockName), err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lake: %s is in use by another process (lock file %s)", root, lockName)
		}
		return nil, ioError("lock", filepath.Join(root, lockName), err)
	}
	s := &Sink{
		root:      root,
		codec:     cfg.codec(),
		log:       logger.With("sink", "lake", "path", root),
		lock:      lock,
		streams:   map[streamKey]*stream{},
		templates: map[string]*target.Template{},
		wrappers:  map[int]*wrapper{},
	}
	if err := s.probe(); err != nil {
		s.unlock()
		return nil, err
	}
	s.recover()
	return s, nil
}

// Close waits for writes in flight and releases the lake's lock. Write fails with
// ErrClosed afterwards.
func (s *Sink) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.unlock()
}

func (s *Sink) unlock() error {
	_ = unix.Flock(int(s.lock.Fd()), unix.LOCK_UN)
	return s.lock.Close()
}

// group is the events of one batch that go to one stream, as indexes into the batch.
type group struct {
	key     streamKey
	wrapper *wrapper
	idx     []int
}

// Write stores the batch. Events are grouped by (rendered target directory, schema id)
// and each group is committed as one file; events at or below their stream's
// high-water mark were committed before and are acknowledged without writing. It
// returns nil when every event is stored, a *routing.BatchError listing the failed
// events otherwise (a schema the resolver cannot give or a corrupt event is permanent;
// file system failures are *IOError, retryable except for names too long), or a
// permanent error for the whole batch when the route's target template is invalid.
func (s *Sink) Write(ctx context.Context, b *routing.Batch) error {
	if b == nil || len(b.Events) == 0 {
		return nil
	}
	s.life.RLock()
	defer s.life.RUnlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	tmpl, err := s.template(b.Route.Target)
	if err != nil {
		return routing.Permanent(fmt.Errorf("lake: route %q: %w", b.Route.Name, err))
	}
	if b.Route.Mode == routing.Latest {
		return routing.Permanent(fmt.Errorf("lake: route %q: the lake stores every event (append mode), not %s", b.Route.Name, b.Route.Mode))
	}
	if b.Schemas == nil {
		return routing.Permanent(fmt.Errorf("lake: route %q: batch has no schema resolver", b.Route.Name))
	}

	var fails []routing.ItemError
	fail := func(i int, err error) { fails = append(fails, routing.ItemError{Index: i, Err: err}) }

	groups := map[streamKey]*group{}
	wrappers := map[int]*wrapper{}
	wrapperErrs := map[int]error{}
	for i := range b.Events {
		ev := &b.Events[i]
		w, ok := wrappers[ev.SchemaID]
		if !ok {
			if err, bad := wrapperErrs[ev.SchemaID]; bad {
				fail(i, err)
				continue
			}
			if w, err = s.wrapperFor(b.Schemas, ev.SchemaID); err != nil {
				wrapperErrs[ev.SchemaID] = err
				fail(i, err)
				continue
			}
			wrappers[ev.SchemaID] = w
		}
		k := streamKey{dir: tmpl.Render(ev.Contract, b.Route.Name, ev.Time), schemaID: ev.SchemaID}
		g := groups[k]
		if g == nil {
			g = &group{key: k, wrapper: w}
			groups[k] = g
		}
		g.idx = append(g.idx, i)
	}

	order := make([]*group, 0, len(groups))
	for _, g := range groups {
		order = append(order, g)
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i].key, order[j].key
		return a.dir < b.dir || a.dir == b.dir && a.schemaID < b.schemaID
	})
	for _, g := range order {
		if err := ctx.Err(); err != nil {
			for _, i := range g.idx {
				fail(i, err)
			}
			continue
		}
		fails = append(fails, s.writeGroup(b, g)...)
	}
	s.evict()
	if len(fails) == 0 {
		return nil
	}
	sort.Slice(fails, func(i, j int) bool { return fails[i].Index < fails[j].Index })
	return &routing.BatchError{Items: fails}
}

// template returns the parsed target template, cached.
func (s *Sink) template(src string) (*target.Template, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.templates[src]; ok {
		return t, nil
	}
	t, err := target.Parse(src)
	if err != nil {
		return nil, err
	}
	s.templates[src] = t
	return t, nil
}

// wrapperFor resolves a schema id and returns its wrapper schema, cached per id for as
// long as the resolver returns the same parsed schema.
func (s *Sink) wrapperFor(schemas routing.Schemas, id int) (*wrapper, error) {
	if id < 0 || id > math.MaxInt32 {
		return nil, routing.Permanent(fmt.Errorf("lake: schema id %d is out of the Avro int range", id))
	}
	sch, err := schemas.Avro(id)
	if err == nil && sch == nil {
		err = errors.New("resolver returned no schema")
	}
	if err != nil {
		err = fmt.Errorf("lake: schema id %d: %w", id, err)
		// The resolver may say a failure is transient (registry unreachable); anything
		// else means the id cannot be resolved, which retrying will not change.
		var c interface{ Retryable() bool }
		if errors.As(err, &c) && c.Retryable() {
			return nil, err
		}
		return nil, routing.Permanent(err)
	}
	s.mu.Lock()
	w := s.wrappers[id]
	s.mu.Unlock()
	if w != nil && w.contract == sch {
		return w, nil
	}
	if w, err = newWrapper(sch); err != nil {
		return nil, routing.Permanent(fmt.Errorf("lake: schema id %d: %w", id, err))
	}
	s.mu.Lock()
	s.wrappers[id] = w
	s.mu.Unlock()
	return w, nil
}

// lockStream returns the stream of k, locked.
func (s *Sink) lockStream(k streamKey) *stream {
	for {
		s.mu.Lock()
		st := s.streams[k]
		if st == nil {
			st = &stream{}
			s.streams[k] = st
		}
		s.ticks++
		tick := s.ticks
		s.mu.Unlock()
		st.mu.Lock()
		if !st.evicted {
			st.lastUse = tick
			return st
		}
		st.mu.Unlock()
	}
}

// evict drops the least recently written clean streams when there are too many.
func (s *Sink) evict() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.streams) <= maxStreams {
		return
	}
	type cand struct {
		k  streamKey
		st *stream
		at uint64
	}
	var cands []cand
	for k, st := range s.streams {
		if st.mu.TryLock() {
			if st.clean() {
				cands = append(cands, cand{k, st, st.lastUse})
			} else {
				st.mu.Unlock()
			}
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].at < cands[j].at })
	drop := len(s.streams) - maxStreams/2
	for i, c := range cands {
		if i < drop {
			c.st.evicted = true
			delete(s.streams, c.k)
		}
		c.st.mu.Unlock()
	}
}

// writeGroup commits one group as one file and returns the failed events.
func (s *Sink) writeGroup(b *routing.Batch, g *group) (fails []routing.ItemError) {
	st := s.lockStream(g.key)
	defer st.mu.Unlock()

	failAll := func(idx []int, err error) {
		for _, i := range idx {
			fails = append(fails, routing.ItemError{Index: i, Err: err})
		}
	}
	if st.route != "" && st.route != b.Route.Name {
		failAll(g.idx, routing.Permanent(fmt.Errorf("lake: target directory %q is written by route %q, not %q: a target directory must belong to one route",
			g.key.dir, st.route, b.Route.Name)))
		return fails
	}
	if err := s.settle(g.key, st); err != nil {
		st.loaded = false
		failAll(g.idx, err)
		return fails
	}
	st.route = b.Route.Name

	// Events in sequence order; those at or below the high-water mark are committed.
	idx := g.idx
	if !slices.IsSortedFunc(idx, func(i, j int) int { return cmpSeq(b.Events[i].Seq, b.Events[j].Seq) }) {
		idx = slices.Clone(idx)
		slices.SortStableFunc(idx, func(i, j int) int { return cmpSeq(b.Events[i].Seq, b.Events[j].Seq) })
	}
	sel := make([]int, 0, len(idx))
	last, skipped := st.hwm, 0
	for _, i := range idx {
		ev := &b.Events[i]
		if ev.Seq <= last {
			skipped++
			continue
		}
		if err := checkEvent(g.wrapper, ev); err != nil {
			fails = append(fails, routing.ItemError{Index: i, Err: routing.Permanent(err)})
			continue
		}
		sel = append(sel, i)
		last = ev.Seq
	}
	if skipped > 0 {
		s.log.Debug("lake: skipped events already committed", "route", b.Route.Name, "dir", g.key.dir,
			"schema_id", g.key.schemaID, "skipped", skipped, "high_water", st.hwm)
	}
	if len(sel) == 0 {
		return fails
	}
	if err := s.commit(b, g, st, sel); err != nil {
		st.loaded = false
		st.dirReady = false
		failAll(sel, err)
	}
	return fails
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkEvent rejects events that cannot be stored: values out of the wrapper's ranges
// and data that is not one well-formed datum of its schema.
func checkEvent(w *wrapper, ev *routing.Event) error {
	if ev.Seq == 0 || ev.Seq > math.MaxInt64 {
		return fmt.Errorf("lake: event %q: sequence number %d is out of range", ev.ID, ev.Seq)
	}
	if err := checkDatum(w.contract, ev.Data); err != nil {
		return fmt.Errorf("lake: event %q (seq %d): data is not a valid datum of schema id %d: %w", ev.ID, ev.Seq, ev.SchemaID, err)
	}
	return nil
}

// settle brings a stream's cache up to date before a write: it loads the high-water
// mark from the directory if needed, syncs the directory if a previous commit could not,
// and writes manifests still pending.
func (s *Sink) settle(k streamKey, st *stream) error {
	dir := s.abs(k.dir)
	if !st.loaded {
		hwm, pending, err := s.loadStream(k)
		if err != nil {
			return err
		}
		st.hwm, st.pending, st.loaded = hwm, pending, true
		st.dirReady = hwm > 0 || len(pending) > 0
	}
	if st.unsynced {
		if err := syncDir(dir); err != nil {
			return err
		}
		st.unsynced = false
	}
	for len(st.pending) > 0 {
		name := st.pending[0]
		if err := s.healManifest(dir, name); err != nil {
			return err
		}
		st.pending = st.pending[1:]
	}
	return nil
}

// loadStream scans a stream's directory: the high-water mark is the largest last
// sequence number in the names of its data files; its stale temporary files are
// removed; its data files without a manifest are returned to get one.
func (s *Sink) loadStream(k streamKey) (hwm uint64, pending []string, err error) {
	dir := s.abs(k.dir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, ioError("read directory", dir, err)
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	removed := false
	for _, e := range entries {
		name := e.Name()
		if tmp, ok := strings.CutPrefix(name, tmpPrefix); ok {
			if final, ok := tmpTarget(tmp); ok {
				if _, _, id, ok := ParseFileName(final); ok && id == k.schemaID {
					if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
						return 0, nil, ioError("remove", filepath.Join(dir, name), err)
					}
					s.log.Info("lake: removed stale temporary file", "file", filepath.Join(dir, name))
					removed = true
				}
			}
			continue
		}
		_, last, id, ok := ParseFileName(name)
		if !ok || id != k.schemaID {
			continue
		}
		hwm = max(hwm, last)
		if !names[name+manifestSuffix] {
			pending = append(pending, name)
		}
	}
	if removed {
		if err := syncDir(dir); err != nil {
			return 0, nil, err
		}
	}
	return hwm, pending, nil
}

// tmpTarget returns the data file name a temporary file (without the ".tmp-" prefix)
// was written for: "<file>.<random>" or "<file>.manifest.json.<random>".
func tmpTarget(tmp string) (string, bool) {
	i := strings.Index(tmp, fileSuffix)
	if i < 0 {
		return "", false
	}
	return tmp[:i+len(fileSuffix)], true
}

func (s *Sink) abs(rel string) string { return filepath.Join(s.root, filepath.FromSlash(rel)) }

// commit writes the selected events of a group as one file and commits it.
func (s *Sink) commit(b *routing.Batch, g *group, st *stream, sel []int) error {
	dir := s.abs(g.key.dir)
	if !st.dirReady {
		if err := mkdirAllSync(s.root, g.key.dir); err != nil {
			return err
		}
		st.dirReady = true
	}
	first, last := b.Events[sel[0]].Seq, b.Events[sel[len(sel)-1]].Seq
	name := FileName(first, last, g.key.schemaID)

	m, tmp, err := s.writeTemp(b, g, dir, name, sel)
	if err != nil {
		return err
	}
	existed, err := commitNoReplace(dir, tmp, name)
	if err != nil {
		_ = os.Remove(filepath.Join(dir, tmp))
		return err
	}
	if existed {
		_ = os.Remove(filepath.Join(dir, tmp))
	}
	// The name is now in the directory: everything up to last is committed, even if
	// syncing the directory fails below (the next write syncs it first).
	st.hwm = last
	st.unsynced = true
	if err := syncDir(dir); err != nil {
		return err
	}
	st.unsynced = false

	if existed {
		s.adoptExisting(b, dir, name, sel)
		st.pending = append(st.pending, name)
	} else if err := writeManifest(dir, name, m); err != nil {
		st.pending = append(st.pending, name)
		return err
	}
	s.log.Debug("lake: committed", "route", b.Route.Name, "file", filepath.Join(dir, name), "events", len(sel), "bytes", m.Bytes)
	return s.settlePending(dir, st)
}

// settlePending writes pending manifests (after a commit that found its name taken).
func (s *Sink) settlePending(dir string, st *stream) error {
	for len(st.pending) > 0 {
		if err := s.healManifest(dir, st.pending[0]); err != nil {
			return err
		}
		st.pending = st.pending[1:]
	}
	return nil
}

// adoptExisting handles a commit whose final name was already taken. Names are derived
// from the sequence range, so this is normally the same file committed before a crash.
// The existing file is never overwritten and its events count as committed; a file that
// is unreadable or holds other events is reported loudly, as it means the lake was
// changed behind Waybill's back.
func (s *Sink) adoptExisting(b *routing.Batch, dir, name string, sel []int) {
	path := filepath.Join(dir, name)
	sum, err := summarize(path)
	same := err == nil && len(sum.seqs) == len(sel)
	for i := 0; same && i < len(sel); i++ {
		ev := &b.Events[sel[i]]
		same = sum.seqs[i] == ev.Seq && sum.ids[i] == ev.ID
	}
	if same {
		s.log.Info("lake: file was already committed", "route", b.Route.Name, "file", path, "events", len(sel))
		return
	}
	s.log.Error("lake: a different file already has this name; it was not overwritten and the batch's events are treated as committed",
		"route", b.Route.Name, "file", path, "events", len(sel), "first_seq", b.Events[sel[0]].Seq,
		"last_seq", b.Events[sel[len(sel)-1]].Seq, "read_error", err)
}

// healManifest writes the manifest of a committed data file from its contents, unless
// it exists. A data file that is not a valid lake file gets none (it is logged): only
// I/O failures are returned, so one damaged file cannot block its stream.
func (s *Sink) healManifest(dir, name string) error {
	mpath := filepath.Join(dir, name+manifestSuffix)
	if _, err := os.Lstat(mpath); err == nil {
		return nil
	}
	sum, err := summarize(filepath.Join(dir, name))
	if err != nil {
		var ie *IOError
		if errors.As(err, &ie) {
			return err
		}
		s.log.Error("lake: committed file is not a valid lake file; no manifest written", "file", filepath.Join(dir, name), "error", err)
		return nil
	}
	if err := writeManifest(dir, name, &sum.manifest); err != nil {
		return err
	}
	s.log.Info("lake: regenerated manifest", "file", filepath.Join(dir, name))
	return nil
}

// countingHash counts and hashes what is written through it.
type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// writeTemp writes the file to a new hidden temporary name in dir and syncs it. It
// returns the file's manifest and the temporary name.
func (s *Sink) writeTemp(b *routing.Batch, g *group, dir, name string, sel []int) (*Manifest, string, error) {
	tmp := tmpPrefix + name + "." + randomHex(8)
	path := filepath.Join(dir, tmp)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, "", ioError("create", path, err)
	}
	m, err := s.encode(f, b, g, name, sel)
	if err == nil {
		err = ioError("fsync", path, f.Sync())
	}
	if cerr := f.Close(); err == nil {
		err = ioError("close", path, cerr)
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, "", err
	}
	return m, tmp, nil
}

// encode writes the container file to f and returns its manifest.
func (s *Sink) encode(f *os.File, b *routing.Batch, g *group, name string, sel []int) (*Manifest, error) {
	sum := &countingHash{h: sha256.New()}
	bw := bufio.NewWriterSize(f, 256<<10)
	out := &teeWriter{w: bw, h: sum}

	m := &Manifest{File: name, SchemaID: g.key.schemaID, Route: b.Route.Name, Codec: s.codec}
	var contracts []string
	for _, i := range sel {
		if c := b.Events[i].Contract; !slices.Contains(contracts, c) {
			contracts = append(contracts, c)
		}
	}
	sort.Strings(contracts)
	m.setContracts(contracts)
	cjson, _ := json.Marshal(contracts)
	meta := map[string]string{
		metaContracts: string(cjson),
		metaRoute:     b.Route.Name,
		metaSchemaID:  fmt.Sprint(g.key.schemaID),
	}
	var syncMarker [syncSize]byte
	_, _ = rand.Read(syncMarker[:])
	cw, err := newContainerWriter(out, g.wrapper.json, s.codec, meta, syncMarker)
	if err != nil {
		return nil, ioError("write", f.Name(), err)
	}
	var minT, maxT int64
	for n, i := range sel {
		ev := &b.Events[i]
		t := micros(ev.Time)
		if n == 0 {
			minT, maxT = t, t
		}
		minT, maxT = min(minT, t), max(maxT, t)
		cw.block = appendEnvelope(cw.block, ev.Seq, ev.ID, ev.Key, ev.Time, ev.Received, ev.SchemaID)
		cw.block = append(cw.block, ev.Data...)
		cw.count++
		if len(cw.block) >= blockTarget {
			if err := cw.flush(); err != nil {
				cw.close()
				return nil, ioError("write", f.Name(), err)
			}
		}
	}
	if err := cw.close(); err != nil {
		return nil, ioError("write", f.Name(), err)
	}
	if err := bw.Flush(); err != nil {
		return nil, ioError("write", f.Name(), err)
	}
	m.Count = len(sel)
	m.FirstSeq, m.LastSeq = b.Events[sel[0]].Seq, b.Events[sel[len(sel)-1]].Seq
	m.MinTime, m.MaxTime = time.UnixMicro(minT).UTC(), time.UnixMicro(maxT).UTC()
	m.Bytes = sum.n
	m.SHA256 = hex.EncodeToString(sum.h.Sum(nil))
	return m, nil
}

// teeWriter writes to w and to h.
type teeWriter struct {
	w *bufio.Writer
	h *countingHash
}

func (t *teeWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.h.Write(p[:n])
	return n, err
}

// writeManifest writes <name>.manifest.json atomically: temporary file, fsync, rename
// (replacing is fine: a manifest is derived from its data file), directory fsync.
func writeManifest(dir, name string, m *Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	final := filepath.Join(dir, name+manifestSuffix)
	tmp := filepath.Join(dir, tmpPrefix+name+manifestSuffix+"."+randomHex(8))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return ioError("create", tmp, err)
	}
	_, err = f.Write(data)
	err = ioError("write", tmp, err)
	if err == nil {
		err = ioError("fsync", tmp, f.Sync())
	}
	if cerr := f.Close(); err == nil {
		err = ioError("close", tmp, cerr)
	}
	if err == nil {
		err = ioError("rename", final, os.Rename(tmp, final))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// renameNoReplace renames old to new within dir, failing with EEXIST if new exists. It
// is a variable so tests can simulate file systems without RENAME_NOREPLACE.
var renameNoReplace = func(dirfd int, old, new string) error {
	return unix.Renameat2(dirfd, old, dirfd, new, unix.RENAME_NOREPLACE)
}

// commitNoReplace moves the temporary file tmp to final in dir without ever replacing
// an existing final: renameat2(RENAME_NOREPLACE), or, where the file system does not
// support it (EINVAL, ENOSYS, EOPNOTSUPP), link(2) then unlink(2) of the temporary
// name. existed reports that final was already there (tmp is left in place then).
func commitNoReplace(dir, tmp, final string) (existed bool, err error) {
	d, err := os.Open(dir)
	if err != nil {
		return false, ioError("open", dir, err)
	}
	defer d.Close()
	fd := int(d.Fd())
	err = renameNoReplace(fd, tmp, final)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		err = unix.Linkat(fd, tmp, fd, final, 0)
		if err == nil {
			if uerr := unix.Unlinkat(fd, tmp, 0); uerr != nil {
				return false, ioError("unlink", filepath.Join(dir, tmp), uerr)
			}
			return false, nil
		}
	}
	if errors.Is(err, unix.EEXIST) {
		return true, nil
	}
	return false, ioError("rename", filepath.Join(dir, final), err)
}

// probe checks at startup that the file system under the root can commit without
// replacing (see commitNoReplace), so a lake on an unsuitable file system fails at New.
func (s *Sink) probe() error {
	base := tmpPrefix + "probe-" + randomHex(8)
	a, b := filepath.Join(s.root, base), filepath.Join(s.root, base+"-target")
	defer os.Remove(a)
	defer os.Remove(b)
	for _, p := range []string{a, b} {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return ioError("create", p, err)
		}
		f.Close()
	}
	existed, err := commitNoReplace(s.root, base, base+"-target")
	if err != nil {
		return fmt.Errorf("lake: %s cannot commit files without replacing (neither renameat2 RENAME_NOREPLACE nor hard links work): %w", s.root, err)
	}
	if !existed {
		return fmt.Errorf("lake: %s: a no-replace rename replaced an existing file", s.root)
	}
	return nil
}

// recover walks the lake at startup: it removes temporary files left by a crash
// (hidden names starting with ".tmp-") and regenerates the manifests of data files that
// were committed just before a crash. Hidden directories are skipped. It is best effort:
// a failure is logged and left for the first write to the stream concerned, which scans
// its directory again, so one damaged partition cannot keep the whole lake down.
func (s *Sink) recover() {
	var synced []string
	var heal [][2]string
	_ = filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			s.log.Error("lake: recovery cannot read a directory", "path", p, "error", err)
			if d != nil && d.IsDir() && p != s.root {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if p != s.root && strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		dir := filepath.Dir(p)
		if strings.HasPrefix(name, tmpPrefix) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.log.Error("lake: cannot remove stale temporary file", "file", p, "error", err)
				return nil
			}
			s.log.Info("lake: removed stale temporary file", "file", p)
			if !slices.Contains(synced, dir) {
				synced = append(synced, dir)
			}
			return nil
		}
		if _, _, _, ok := ParseFileName(name); ok {
			if _, err := os.Lstat(p + manifestSuffix); errors.Is(err, fs.ErrNotExist) {
				heal = append(heal, [2]string{dir, name})
			}
		}
		return nil
	})
	for _, dir := range synced {
		if err := syncDir(dir); err != nil {
			s.log.Error("lake: recovery", "error", err)
		}
	}
	for _, h := range heal {
		if err := s.healManifest(h[0], h[1]); err != nil {
			s.log.Error("lake: recovery cannot regenerate a manifest", "file", filepath.Join(h[0], h[1]), "error", err)
		}
	}
}

// mkdirAllSync creates root/rel and each missing parent, syncing every directory that
// got a new entry, so a committed file's directory survives a crash.
func mkdirAllSync(root, rel string) error {
	cur := root
	for _, c := range strings.Split(rel, "/") {
		next := filepath.Join(cur, c)
		err := os.Mkdir(next, 0o755)
		switch {
		case err == nil:
			if err := syncDir(cur); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
		default:
			return ioError("mkdir", next, err)
		}
		cur = next
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return ioError("open", dir, err)
	}
	err = d.Sync()
	d.Close()
	return ioError("fsync", dir, err)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
