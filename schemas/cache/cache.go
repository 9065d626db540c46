package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamba/avro/v2"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/waybill-data/waybill/schemas"
)

// Schema is a schema record with its parsed Avro form (references resolved). Values
// handed out by the cache are shared: treat them as read-only.
type Schema struct {
	Record schemas.SchemaRecord
	Avro   avro.Schema

	classification map[string]string // schemas.Classification(Avro), computed once
}

// Version is one live version of a subject. Schema is never nil.
type Version struct {
	Subject string
	Version int
	ID      int
	Schema  *Schema
}

// ErrClosed is returned by Start and WaitForRevision once the cache is closed.
var ErrClosed = errors.New("schema cache closed")

// Defaults for the watch machinery (see doc.go).
const (
	defaultHeartbeat   = 500 * time.Millisecond
	defaultStaleAfter  = 2 * time.Second
	defaultMinBackoff  = 100 * time.Millisecond
	defaultMaxBackoff  = 2 * time.Second
	defaultListTimeout = 10 * time.Second
	defaultListPage    = 1000
	maxReferenceDepth  = 32
)

// cacheSeq numbers caches so that each gets its own watch stream.
var cacheSeq atomic.Uint64

// errCompacted ends a watch session whose resume revision was compacted away.
var errCompacted = errors.New("watch revision compacted")

// Cache is a read-only, watch-fed view of the registry's etcd state. Reads never lock:
// they load one immutable snapshot.
type Cache struct {
	cli  *clientv3.Client
	keys schemas.Keys
	log  *slog.Logger

	snap atomic.Pointer[snapshot]

	// Tuning; tests shorten these before Start.
	heartbeat   time.Duration // interval of watch progress requests
	staleAfter  time.Duration // silence after which the watch counts as broken
	minBackoff  time.Duration
	maxBackoff  time.Duration
	listTimeout time.Duration // bounds one list attempt (all its pages)
	listPage    int64         // keys per list page

	// Test hooks, set before Start.
	beforeWatch func(rev int64) // called in the watch goroutine before each watch session
	relists     atomic.Int64    // re-lists after compaction (not counting the initial load)
	onListError func(error)     // called after each failed list attempt

	runCtx    context.Context
	runCancel context.CancelFunc
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	kick        chan struct{} // asks the heartbeat for a progress request now
	lastContact atomic.Int64  // unix nanos of the last watch response
	streamKey   string        // gives this cache a watch stream of its own
	freshFlag   atomic.Bool   // mirror of !stale for the hot path

	mu         sync.Mutex
	started    bool
	loaded     bool // the first load completed
	stale      bool
	staleSince time.Time
	changed    chan struct{} // closed and replaced on every snapshot or staleness change
	listeners  []func(subject string)

	// Owned by the goroutine that builds snapshots (Start, then the watch goroutine).
	badSchemas map[int]bool // id -> retryable; every id here was logged once
}

// snapshot is one immutable state of the cache. Nothing reachable from a published
// snapshot is ever modified.
type snapshot struct {
	rev      int64
	records  map[int]*schemas.SchemaRecord // every schema record seen, by id
	parsed   map[int]*Schema               // the records that parsed
	subjects map[string]*subject
	live     []string // sorted names of subjects with a live version
}

type subject struct {
	versions    map[int]schemas.VersionRecord // every version, soft-deleted ones included
	contract    *schemas.Contract             // as stored (Classification empty); nil = none
	contractRaw string
	live        map[int]*Version // non-deleted versions whose schema parsed
	latest      *Version
}

// New returns a cache over cli for the registry under prefix (schemas.DefaultPrefix if
// empty). A nil logger means slog.Default(). Call Start to load it.
func New(cli *clientv3.Client, prefix string, logger *slog.Logger) *Cache {
	if prefix == "" {
		prefix = schemas.DefaultPrefix
	}
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cache{
		cli:         cli,
		keys:        schemas.Keys{Prefix: prefix},
		log:         logger.With("component", "schema-cache", "prefix", prefix),
		heartbeat:   defaultHeartbeat,
		staleAfter:  defaultStaleAfter,
		minBackoff:  defaultMinBackoff,
		maxBackoff:  defaultMaxBackoff,
		listTimeout: defaultListTimeout,
		listPage:    defaultListPage,
		runCtx:      ctx,
		runCancel:   cancel,
		closed:      make(chan struct{}),
		kick:        make(chan struct{}, 1),
		stale:       true, // not loaded yet
		staleSince:  time.Now(),
		changed:     make(chan struct{}),
		badSchemas:  map[int]bool{},
		streamKey:   strconv.FormatUint(cacheSeq.Add(1), 10),
	}
	c.snap.Store(&snapshot{
		records:  map[int]*schemas.SchemaRecord{},
		parsed:   map[int]*Schema{},
		subjects: map[string]*subject{},
	})
	return c
}

// Start lists everything under the prefix, retrying with backoff until it succeeds or
// ctx ends, publishes it, and then watches for changes in a goroutine until Close. It
// returns once the cache is loaded. ctx bounds only the initial load.
func (c *Cache) Start(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.runCtx.Err() != nil:
		c.mu.Unlock()
		return ErrClosed
	case c.started:
		c.mu.Unlock()
		return errors.New("schema cache already started")
	}
	c.started = true
	c.mu.Unlock()

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.runCtx, cancel) // Close aborts the load
	defer stop()
	if err := c.relist(lctx); err != nil {
		if c.runCtx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("loading schema cache: %w", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runCtx.Err() != nil {
		return ErrClosed
	}
	c.wg.Add(1)
	go c.run(c.runCtx)
	return nil
}

// Close stops watching and waits for the watch goroutine. Reads keep answering from the
// last state; WaitForRevision returns ErrClosed. Close is idempotent.
func (c *Cache) Close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.runCancel()
		close(c.closed)
		c.mu.Unlock()
		c.wg.Wait()
		c.mu.Lock()
		defer c.mu.Unlock()
		c.freshFlag.Store(false)
		if !c.stale {
			c.stale, c.staleSince = true, c.lastContactTime()
			c.broadcastLocked()
		}
	})
}

// SchemaByID returns a parsed schema by global id. Ids are never reused, so a schema
// stays available by id after its subjects are deleted.
func (c *Cache) SchemaByID(id int) (*Schema, bool) {
	s, ok := c.snap.Load().parsed[id]
	return s, ok
}

// Latest returns the highest non-deleted version of subject (versions whose schema
// could not be parsed are skipped).
func (c *Cache) Latest(subject string) (*Version, bool) {
	if s := c.snap.Load().subjects[subject]; s != nil && s.latest != nil {
		return s.latest, true
	}
	return nil, false
}

// Version returns one non-deleted version of subject.
func (c *Cache) Version(subject string, version int) (*Version, bool) {
	if s := c.snap.Load().subjects[subject]; s != nil {
		v, ok := s.live[version]
		return v, ok
	}
	return nil, false
}

// SubjectHasSchema reports whether id is the schema of a live version of subject: an
// event may name an older schema id, but only one that belongs to its contract.
func (c *Cache) SubjectHasSchema(subject string, id int) bool {
	if s := c.snap.Load().subjects[subject]; s != nil {
		for _, v := range s.live {
			if v.ID == id {
				return true
			}
		}
	}
	return false
}

// Contract returns a copy of subject's contract with Classification derived from the
// subject's latest schema (empty when it has no live version).
func (c *Cache) Contract(subject string) (*schemas.Contract, bool) {
	s := c.snap.Load().subjects[subject]
	if s == nil || s.contract == nil {
		return nil, false
	}
	out := cloneContract(s.contract)
	out.Classification = map[string]string{}
	if s.latest != nil {
		maps.Copy(out.Classification, s.latest.Schema.classification)
	}
	return out, true
}

// Subjects lists the subjects with a live version, sorted.
func (c *Cache) Subjects() []string {
	return slices.Clone(c.snap.Load().live)
}

// Revision is the etcd revision the cache reflects: every change under the prefix up to
// it is applied. It also advances without changes under the prefix, through watch
// progress notifications.
func (c *Cache) Revision() int64 { return c.snap.Load().rev }

// WaitForRevision blocks until Revision() >= rev, ctx ends, or the cache is closed.
func (c *Cache) WaitForRevision(ctx context.Context, rev int64) error {
	for {
		ch := c.changes()
		if c.Revision() >= rev {
			return nil
		}
		select {
		case <-c.closed:
			return ErrClosed
		default:
		}
		// A revision past the last change under the prefix is reached only through a
		// progress notification: ask for one now instead of waiting for the heartbeat.
		select {
		case c.kick <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closed:
			return ErrClosed
		}
	}
}

// Stale reports whether the cache may be behind etcd — not loaded yet, watch broken or
// disconnected, or closed — and since when it was last known current.
func (c *Cache) Stale() (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stale {
		return false, 0
	}
	return true, time.Since(c.staleSince)
}

// OnChange registers fn to be called after every published change that affects a
// subject (its versions, its contract, or a re-list that changed it). It runs in the
// watch goroutine after the new state is visible to readers, so it must not block.
func (c *Cache) OnChange(fn func(subject string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listeners = append(c.listeners, fn)
}

// changes returns a channel closed at the next snapshot or staleness change.
func (c *Cache) changes() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *Cache) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// publish swaps in next, wakes waiters and tells listeners about changed subjects.
func (c *Cache) publish(next *snapshot, changed []string) {
	c.snap.Store(next)
	c.mu.Lock()
	c.broadcastLocked()
	listeners := slices.Clone(c.listeners)
	c.mu.Unlock()
	for _, subj := range changed {
		for _, fn := range listeners {
			fn(subj)
		}
	}
}

// lastContactTime is when etcd last answered (the cache was last known current).
func (c *Cache) lastContactTime() time.Time {
	if n := c.lastContact.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Now()
}

// markStale records that the cache may be behind etcd; it logs the transition once.
func (c *Cache) markStale(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.freshFlag.Store(false)
	if c.stale {
		return
	}
	c.stale, c.staleSince = true, c.lastContactTime()
	c.log.Warn("schema cache is stale: serving the last known state", "reason", reason, "last_contact", c.staleSince)
	c.broadcastLocked()
}

// markFresh records an answer from etcd on a working watch (or a completed list).
func (c *Cache) markFresh() {
	c.lastContact.Store(time.Now().UnixNano())
	if c.freshFlag.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runCtx.Err() != nil || !c.stale {
		return
	}
	if c.loaded {
		c.log.Info("schema cache is current again", "was_stale_for", time.Since(c.staleSince).Round(time.Millisecond))
	}
	c.stale, c.loaded = false, true
	c.freshFlag.Store(true)
	c.broadcastLocked()
}

// run is the watch goroutine: watch sessions, re-lists after compaction, and backoff
// between broken sessions.
func (c *Cache) run(ctx context.Context) {
	defer c.wg.Done()
	backoff := c.minBackoff
	for {
		if c.beforeWatch != nil {
			c.beforeWatch(c.Revision())
		}
		contacted, err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if contacted {
			backoff = c.minBackoff
		}
		if errors.Is(err, errCompacted) {
			c.log.Info("watch resume revision was compacted: re-listing", "revision", c.Revision())
			if c.relist(ctx) != nil {
				return // only when closed
			}
			c.relists.Add(1)
			backoff = c.minBackoff
			continue
		}
		c.markStale("watch interrupted: " + err.Error())
		c.log.Debug("etcd watch interrupted; resuming", "err", err, "from_revision", c.Revision(), "backoff", backoff)
		if !sleepCtx(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, c.maxBackoff)
	}
}

// session runs one watch from the current revision until it breaks. It reports whether
// etcd answered at all, and why it ended.
func (c *Cache) session(ctx context.Context) (contacted bool, err error) {
	// A stream of our own (unique metadata) so that progress requests concern only this
	// watch, and require a leader so that a lost quorum ends the watch.
	sctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(
		clientv3.WithRequireLeader(ctx), "waybill-schema-cache", c.streamKey))
	defer cancel()

	var silent atomic.Bool // set by the heartbeat when it gives up on this session
	hbDone := make(chan struct{})
	go c.heartbeatLoop(sctx, cancel, time.Now(), &silent, hbDone)
	defer func() { cancel(); <-hbDone }()

	// Watch from the applied revision itself, not rev+1: etcd answers progress requests
	// only for watchers that started at or below its current revision. Events at or
	// below the applied revision are skipped when applied.
	wch := c.cli.Watch(sctx, c.keys.Prefix, clientv3.WithPrefix(), clientv3.WithRev(c.Revision()),
		clientv3.WithCreatedNotify(), clientv3.WithProgressNotify())
	for {
		var resp clientv3.WatchResponse
		var ok bool
		// Not a plain range: while etcd is unreachable the client may hold the channel
		// open after cancellation until it reconnects, and Close must not wait for that.
		select {
		case resp, ok = <-wch:
		case <-sctx.Done():
		}
		if !ok {
			break
		}
		if resp.CompactRevision != 0 { // resp.Err() is ErrCompacted
			return contacted, errCompacted
		}
		if err := resp.Err(); err != nil {
			return contacted, err
		}
		contacted = true
		c.markFresh()
		switch {
		case resp.IsProgressNotify():
			c.advance(resp.Header.Revision)
		case len(resp.Events) > 0:
			c.applyEvents(resp.Events)
		}
	}
	switch {
	case silent.Load():
		return contacted, fmt.Errorf("no answer from etcd within %v", c.staleAfter)
	case ctx.Err() != nil:
		return contacted, ctx.Err()
	default:
		return contacted, errors.New("watch channel closed")
	}
}

// heartbeatLoop asks etcd for watch progress every heartbeat interval (and when a
// waiter kicks). A healthy watch answers with a progress notification; when nothing
// arrives for staleAfter the cache is marked stale and the session is cancelled so that
// run starts a new one.
func (c *Cache) heartbeatLoop(sctx context.Context, cancel context.CancelFunc, start time.Time, silent *atomic.Bool, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(c.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-sctx.Done():
			return
		case <-t.C:
			last := time.Unix(0, c.lastContact.Load())
			if time.Since(maxTime(last, start)) > c.staleAfter {
				c.markStale("no answer to watch progress requests")
				silent.Store(true)
				cancel()
				return
			}
		case <-c.kick:
		}
		if sctx.Err() != nil {
			return
		}
		rctx, rcancel := context.WithTimeout(sctx, c.heartbeat)
		if err := c.cli.RequestProgress(rctx); err != nil && sctx.Err() == nil {
			c.log.Debug("watch progress request failed", "err", err)
		}
		rcancel()
	}
}

// advance records a progress notification: nothing changed under the prefix up to rev.
func (c *Cache) advance(rev int64) {
	old := c.snap.Load()
	if rev <= old.rev {
		return
	}
	next := *old
	next.rev = rev
	c.publish(&next, nil)
}

// applyEvents applies one watch response as one new snapshot.
func (c *Cache) applyEvents(evs []*clientv3.Event) {
	old := c.snap.Load()
	rev := old.rev
	changes := make([]change, 0, len(evs))
	for _, ev := range evs {
		if ev.Kv.ModRevision <= old.rev {
			continue // already applied (the watch resumes at the applied revision)
		}
		rev = max(rev, ev.Kv.ModRevision)
		changes = append(changes, change{key: string(ev.Kv.Key), value: ev.Kv.Value, del: ev.Type == clientv3.EventTypeDelete})
	}
	if len(changes) == 0 {
		return
	}
	b := c.newBuilder(old, false)
	for _, ch := range changes {
		b.apply(ch)
	}
	next, changed := b.finish(rev)
	c.publish(next, changed)
}

// relist loads everything under the prefix at one revision, retrying with capped
// backoff until it succeeds or ctx ends, and publishes it as a new snapshot.
func (c *Cache) relist(ctx context.Context) error {
	backoff := c.minBackoff
	for {
		changes, rev, err := c.list(ctx)
		if err == nil {
			b := c.newBuilder(c.snap.Load(), true)
			for _, ch := range changes {
				b.apply(ch)
			}
			next, changed := b.finish(rev)
			c.publish(next, changed)
			c.markFresh()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c.onListError != nil {
			c.onListError(err)
		}
		c.markStale("listing failed: " + err.Error())
		c.log.Debug("listing the registry in etcd failed; retrying", "err", err, "backoff", backoff)
		if !sleepCtx(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, c.maxBackoff)
	}
}

// list reads every key under the prefix but the audit trail (which only grows, and
// which routers never need), in pages, all at the revision of the first page.
func (c *Cache) list(ctx context.Context) ([]change, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.listTimeout)
	defer cancel()
	audit := c.keys.AuditPrefix()
	var rev int64
	var out []change
	for _, r := range [][2]string{{c.keys.Prefix, audit}, {clientv3.GetPrefixRangeEnd(audit), clientv3.GetPrefixRangeEnd(c.keys.Prefix)}} {
		var err error
		if out, rev, err = c.listRange(ctx, r[0], r[1], rev, out); err != nil {
			return nil, 0, err
		}
	}
	return out, rev, nil
}

// listRange appends the keys in [from, end) at revision rev (0: the current one, which
// it returns).
func (c *Cache) listRange(ctx context.Context, from, end string, rev int64, out []change) ([]change, int64, error) {
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(c.listPage)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := c.cli.Get(ctx, from, opts...)
		if err != nil {
			return nil, 0, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			out = append(out, change{key: string(kv.Key), value: kv.Value})
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// change is one key's new value (or deletion), from a list or a watch event.
type change struct {
	key   string
	value []byte
	del   bool
}

// builder derives the next snapshot from a base one, copying only what changes.
type builder struct {
	c        *Cache
	base     *snapshot
	full     bool // a re-list: the result holds only what was applied
	records  map[int]*schemas.SchemaRecord
	parsed   map[int]*Schema
	touched  map[string]*subject // working copies of the subjects this change touches
	newIDs   []int
	versions bool // a version changed, so references may resolve differently
}

func (c *Cache) newBuilder(base *snapshot, full bool) *builder {
	b := &builder{c: c, base: base, full: full, touched: map[string]*subject{}}
	if full {
		b.records = map[int]*schemas.SchemaRecord{}
		b.parsed = maps.Clone(base.parsed) // pruned in finish to what is still listed
	}
	return b
}

func (b *builder) record(id int) *schemas.SchemaRecord {
	if b.records != nil {
		return b.records[id]
	}
	return b.base.records[id]
}

func (b *builder) parsedSchema(id int) *Schema {
	if b.parsed != nil {
		return b.parsed[id]
	}
	return b.base.parsed[id]
}

// subject returns the working copy of a subject, creating it on first touch.
func (b *builder) subject(name string) *subject {
	if s, ok := b.touched[name]; ok {
		return s
	}
	s := &subject{versions: map[int]schemas.VersionRecord{}}
	if old := b.base.subjects[name]; old != nil && !b.full {
		s.versions = maps.Clone(old.versions)
		s.contract, s.contractRaw = old.contract, old.contractRaw
	}
	b.touched[name] = s
	return s
}

// versionRecord looks a version up in the state being built.
func (b *builder) versionRecord(subject string, version int) (schemas.VersionRecord, bool) {
	if s, ok := b.touched[subject]; ok {
		v, found := s.versions[version]
		return v, found
	}
	if b.full {
		return schemas.VersionRecord{}, false
	}
	if s := b.base.subjects[subject]; s != nil {
		v, found := s.versions[version]
		return v, found
	}
	return schemas.VersionRecord{}, false
}

func (b *builder) apply(ch change) {
	log := b.c.log
	pk := b.c.keys.Parse(ch.key)
	switch pk.Kind {
	case schemas.KindSchema:
		if ch.del {
			return // ids are never reused: keep serving the record by id
		}
		var rec schemas.SchemaRecord
		if err := json.Unmarshal(ch.value, &rec); err != nil {
			log.Error("skipping undecodable schema record", "key", ch.key, "err", err)
			return
		}
		rec.ID = pk.ID
		if b.records == nil {
			b.records = maps.Clone(b.base.records)
		}
		b.records[pk.ID] = &rec
		if p := b.parsedSchema(pk.ID); p != nil && sameRecord(&p.Record, &rec) {
			return
		}
		if b.parsed == nil {
			b.parsed = maps.Clone(b.base.parsed)
		}
		delete(b.parsed, pk.ID)
		b.newIDs = append(b.newIDs, pk.ID)
	case schemas.KindVersion:
		b.versions = true
		s := b.subject(pk.Subject)
		if ch.del {
			delete(s.versions, pk.Version)
			return
		}
		var v schemas.VersionRecord
		if err := json.Unmarshal(ch.value, &v); err != nil {
			log.Error("skipping undecodable version record", "key", ch.key, "err", err)
			delete(s.versions, pk.Version)
			return
		}
		v.Subject, v.Version = pk.Subject, pk.Version
		s.versions[pk.Version] = v
	case schemas.KindContract:
		s := b.subject(pk.Subject)
		s.contract, s.contractRaw = nil, ""
		if ch.del {
			return
		}
		var ct schemas.Contract
		if err := json.Unmarshal(ch.value, &ct); err != nil {
			log.Error("skipping undecodable contract", "key", ch.key, "err", err)
			return
		}
		ct.Classification = nil
		s.contract, s.contractRaw = &ct, string(ch.value)
	}
}

// finish parses new schemas, rebuilds touched subjects and returns the new snapshot with
// the subjects whose served state changed.
func (b *builder) finish(rev int64) (*snapshot, []string) {
	c := b.c
	if b.full {
		for id, p := range b.parsed {
			if r := b.records[id]; r == nil || !sameRecord(&p.Record, r) {
				delete(b.parsed, id)
			}
		}
		for id := range b.records {
			if b.parsed[id] == nil {
				b.newIDs = append(b.newIDs, id)
			}
		}
		for id := range c.badSchemas {
			if b.records[id] == nil {
				delete(c.badSchemas, id)
			}
		}
	}
	// Retry schemas whose references did not resolve when versions changed.
	candidates := slices.Clone(b.newIDs)
	if b.versions && !b.full {
		for id, retryable := range c.badSchemas {
			if retryable && b.parsedSchema(id) == nil {
				candidates = append(candidates, id)
			}
		}
	}
	slices.Sort(candidates)
	candidates = slices.Compact(candidates)
	var recovered []int
	for _, id := range candidates {
		if b.parsedSchema(id) != nil {
			continue
		}
		s, retryable, err := b.parse(b.record(id))
		if err != nil {
			if _, logged := c.badSchemas[id]; !logged {
				c.log.Error("skipping schema that cannot be parsed", "id", id, "err", err, "will_retry", retryable)
			}
			c.badSchemas[id] = retryable
			continue
		}
		if b.parsed == nil {
			b.parsed = maps.Clone(b.base.parsed)
		}
		b.parsed[id] = s
		if _, was := c.badSchemas[id]; was {
			delete(c.badSchemas, id)
			recovered = append(recovered, id)
			c.log.Info("schema parsed after its references appeared", "id", id)
		}
	}
	// Subjects using a schema that only now parsed must be rebuilt too.
	if len(recovered) > 0 && !b.full {
		for name, s := range b.base.subjects {
			if _, ok := b.touched[name]; ok {
				continue
			}
			for _, v := range s.versions {
				if slices.Contains(recovered, v.ID) {
					b.subject(name)
					break
				}
			}
		}
	}

	next := &snapshot{rev: rev, records: b.base.records, parsed: b.base.parsed, subjects: b.base.subjects, live: b.base.live}
	if b.records != nil {
		next.records = b.records
	}
	if b.parsed != nil {
		next.parsed = b.parsed
	}
	if b.full {
		next.subjects = map[string]*subject{}
	} else if len(b.touched) > 0 {
		next.subjects = maps.Clone(b.base.subjects)
	}
	for name, s := range b.touched {
		if len(s.versions) == 0 && s.contract == nil {
			delete(next.subjects, name)
			continue
		}
		b.derive(s, name)
		next.subjects[name] = s
	}
	if b.full || len(b.touched) > 0 {
		next.live = make([]string, 0, len(next.subjects))
		for name, s := range next.subjects {
			if s.latest != nil {
				next.live = append(next.live, name)
			}
		}
		slices.Sort(next.live)
	}

	// Which subjects changed as readers see them.
	var changed []string
	consider := func(name string) {
		if !sameServed(b.base.subjects[name], next.subjects[name]) {
			changed = append(changed, name)
		}
	}
	if b.full {
		for name := range b.base.subjects {
			consider(name)
		}
		for name := range next.subjects {
			if b.base.subjects[name] == nil {
				consider(name)
			}
		}
	} else {
		for name := range b.touched {
			consider(name)
		}
	}
	slices.Sort(changed)
	return next, changed
}

// derive computes a subject's served versions from its records and the parsed schemas.
func (b *builder) derive(s *subject, name string) {
	s.live = map[int]*Version{}
	s.latest = nil
	for num, rec := range s.versions {
		if rec.Deleted {
			continue
		}
		p := b.parsedSchema(rec.ID)
		if p == nil {
			continue // unparseable or missing schema: logged where it failed
		}
		v := &Version{Subject: name, Version: num, ID: rec.ID, Schema: p}
		s.live[num] = v
		if s.latest == nil || num > s.latest.Version {
			s.latest = v
		}
	}
}

// parse parses a record with its references resolved through the state being built.
// retryable is true when the failure may go away once other versions appear.
func (b *builder) parse(rec *schemas.SchemaRecord) (s *Schema, retryable bool, err error) {
	if rec == nil {
		return nil, false, errors.New("schema record missing")
	}
	if rec.SchemaType != "" && rec.SchemaType != schemas.SchemaTypeAvro {
		return nil, false, fmt.Errorf("unsupported schema type %q", rec.SchemaType)
	}
	deps, err := b.resolve(rec.References)
	if err != nil {
		return nil, true, err
	}
	parsed, err := schemas.ParseAvro(rec.Schema, deps...)
	if err != nil {
		return nil, len(rec.References) > 0, err
	}
	return &Schema{Record: *rec, Avro: parsed, classification: schemas.Classification(parsed)}, false, nil
}

// resolve returns the texts of the schemas refs need, dependencies first (as the
// registry's etcdstore.ResolveReferences does).
func (b *builder) resolve(refs []schemas.Reference) ([]string, error) {
	var out []string
	seen := map[int]bool{}
	var walk func(refs []schemas.Reference, depth int) error
	walk = func(refs []schemas.Reference, depth int) error {
		if depth > maxReferenceDepth {
			return fmt.Errorf("references nest deeper than %d", maxReferenceDepth)
		}
		for _, r := range refs {
			v, ok := b.versionRecord(r.Subject, r.Version)
			if !ok {
				return fmt.Errorf("reference %q: subject %q version %d not found", r.Name, r.Subject, r.Version)
			}
			if seen[v.ID] {
				continue
			}
			seen[v.ID] = true
			dep := b.record(v.ID)
			if dep == nil {
				return fmt.Errorf("reference %q: schema id %d not found", r.Name, v.ID)
			}
			if err := walk(dep.References, depth+1); err != nil {
				return err
			}
			out = append(out, dep.Schema)
		}
		return nil
	}
	if err := walk(refs, 0); err != nil {
		return nil, err
	}
	return out, nil
}

func sameRecord(a, b *schemas.SchemaRecord) bool {
	return a.Fingerprint == b.Fingerprint && a.Schema == b.Schema && a.SchemaType == b.SchemaType &&
		slices.Equal(a.References, b.References)
}

// sameServed reports whether two states of a subject look the same to readers.
func sameServed(a, b *subject) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.contractRaw != b.contractRaw || len(a.live) != len(b.live) {
		return false
	}
	for num, va := range a.live {
		if vb := b.live[num]; vb == nil || vb.ID != va.ID {
			return false
		}
	}
	return true
}

func cloneContract(c *schemas.Contract) *schemas.Contract {
	out := *c
	out.Routes.Allowed = slices.Clone(c.Routes.Allowed)
	out.Routes.Required = slices.Clone(c.Routes.Required)
	out.Routes.Default = slices.Clone(c.Routes.Default)
	if c.PII != nil {
		out.PII = make(map[string]map[string]string, len(c.PII))
		for route, fields := range c.PII {
			out.PII[route] = maps.Clone(fields)
		}
	}
	return &out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
