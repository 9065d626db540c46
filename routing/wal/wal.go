package wal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultSegmentBytes is the segment size used when Options.SegmentBytes is 0.
const DefaultSegmentBytes = 64 << 20

// maxGroupBytes bounds the bytes one group commit writes; the rest of the queue waits
// for the next round. A single Append larger than this is still written in one go.
const maxGroupBytes = 8 << 20

// Options configures Open.
type Options struct {
	Dir          string // required; created if missing
	SegmentBytes int64  // roll to a new segment past this size (default 64 MiB)
	MaxBytes     int64  // disk budget for all segments; 0 = unlimited. Append fails with ErrFull when it would exceed it.
	// ReserveBytes is free space the WAL leaves on its file system: Append fails with
	// ErrFull when writing would leave less. The rest of the router's state (cursors,
	// the ledger, dead letters) is small and written by rename, so what the WAL leaves
	// free is what lets delivery advance, release segments and recover from a full
	// disk. 0: no reserve.
	ReserveBytes int64
	Logger       *slog.Logger // nil: slog.Default()
	// ObserveSync, when set, is told how long each group commit's data fsync took
	// (metrics). It runs on the writer goroutine and must not block.
	ObserveSync func(time.Duration)
}

// WAL is the router's durable write-ahead log. All methods are safe for concurrent use.
type WAL struct {
	dir      string
	segBytes int64
	maxBytes int64
	reserve  int64
	freeOf   func(dir string) (int64, error) // free bytes on dir's file system
	log      *slog.Logger
	lockFile *os.File

	// mu guards the segment list and the durable state readers look at.
	mu       sync.RWMutex
	segs     []*segment    // ordered by base; the last one is active
	size     int64         // durable bytes across segs
	commitCh chan struct{} // closed and replaced after every commit
	closed   bool

	durable atomic.Uint64 // last durable sequence
	syncs   atomic.Int64  // data fsyncs issued by group commits (tests read it)

	// Owned by the writer goroutine (and by Open before it starts it).
	active  *segment
	f       segFile
	nextSeq uint64
	buf     []byte
	failed  error

	// qmu guards the append queue.
	qmu     sync.Mutex
	queue   []*request
	closing bool
	failErr error // copy of failed for Append's fast path
	wake    chan struct{}

	writerDone chan struct{}
	closedCh   chan struct{}

	observeSync func(time.Duration)

	hooks hooks
}

// hooks lets tests inject failures and observe the writer.
type hooks struct {
	openFile   func(path string, flag int) (segFile, error)
	beforeSync func()
	onEnqueue  func(queued int)
}

// request is one Append waiting for its group commit.
type request struct {
	payloads    [][]byte
	size        int64
	taken       bool // the writer took it; guarded by WAL.qmu
	first, last uint64
	err         error
	done        chan struct{}
}

// Open opens (creating if needed) the WAL in opts.Dir and recovers it: see the package
// documentation for the recovery rules. Only one WAL may have a directory open at a
// time (enforced with flock on Dir/LOCK).
func Open(opts Options) (*WAL, error) {
	return open(opts, hooks{})
}

func open(opts Options, h hooks) (*WAL, error) {
	if opts.Dir == "" {
		return nil, errors.New("wal: Options.Dir is required")
	}
	if opts.SegmentBytes < 0 || opts.MaxBytes < 0 {
		return nil, errors.New("wal: Options.SegmentBytes and Options.MaxBytes must not be negative")
	}
	if opts.SegmentBytes == 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if h.openFile == nil {
		h.openFile = openSegmentFile
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	w := &WAL{
		dir:         opts.Dir,
		segBytes:    opts.SegmentBytes,
		maxBytes:    opts.MaxBytes,
		reserve:     opts.ReserveBytes,
		freeOf:      freeBytes,
		log:         opts.Logger,
		commitCh:    make(chan struct{}),
		observeSync: opts.ObserveSync,
		wake:        make(chan struct{}, 1),
		writerDone:  make(chan struct{}),
		closedCh:    make(chan struct{}),
		hooks:       h,
	}
	if err := w.lockDir(); err != nil {
		return nil, err
	}
	if err := w.recover(); err != nil {
		w.lockFile.Close()
		return nil, err
	}
	if w.f == nil {
		f, err := w.hooks.openFile(w.active.path, os.O_RDWR)
		if err != nil {
			w.lockFile.Close()
			return nil, fmt.Errorf("wal: %w", err)
		}
		w.f = f
	}
	w.log.Info("wal: opened", "dir", w.dir, "segments", len(w.segs),
		"first_seq", w.segs[0].base, "last_seq", w.durable.Load(), "bytes", w.size)
	go w.writeLoop()
	return w, nil
}

func (w *WAL) lockDir() error {
	f, err := os.OpenFile(filepath.Join(w.dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("wal: directory %s is in use by another WAL", w.dir)
		}
		return fmt.Errorf("wal: locking %s: %w", w.dir, err)
	}
	w.lockFile = f
	return nil
}

// recover scans the segments of the directory, applies the recovery rules and sets up
// the segment list and the writer state.
func (w *WAL) recover() error {
	bases, err := listSegments(w.dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	if len(bases) == 0 {
		f, seg, err := w.createSegment(1)
		if err != nil {
			return fmt.Errorf("wal: creating first segment: %w", err)
		}
		w.f = f
		w.segs = []*segment{seg}
		w.size = seg.size
		w.active = seg
		w.nextSeq = 1
		return nil
	}
	win := &window{}
	var prev *segment
	for i, base := range bases {
		path := segmentPath(w.dir, base)
		if base == 0 {
			return &CorruptionError{Segment: path, Offset: 0, Reason: "segment base sequence 0 (sequences start at 1)"}
		}
		if prev != nil && base != prev.last+1 {
			return &CorruptionError{Segment: path, Offset: 0,
				Reason: fmt.Sprintf("sequence gap: segment starts at %d but the previous segment ends at %d", base, prev.last)}
		}
		seg, err := w.recoverSegment(path, base, i == len(bases)-1, win)
		if err != nil {
			return err
		}
		if prev != nil {
			prev.sealed = true
		}
		w.segs = append(w.segs, seg)
		w.size += seg.size
		prev = seg
	}
	w.active = prev
	w.nextSeq = prev.last + 1
	w.durable.Store(prev.last)
	return nil
}

func isDecodeError(err error) bool {
	return errors.Is(err, errRecordTruncated) || errors.Is(err, errRecordLength) || errors.Is(err, errRecordChecksum)
}

// recoverSegment verifies one segment. Damage is fatal (*CorruptionError) except for a
// torn tail of the last segment, which is truncated away.
func (w *WAL) recoverSegment(path string, base uint64, last bool, win *window) (*segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	size := st.Size()
	win.reset(f)
	if size < segHeaderSize {
		if !last {
			return nil, &CorruptionError{Segment: path, Offset: size,
				Reason: fmt.Sprintf("segment header truncated (%d of %d bytes)", size, segHeaderSize)}
		}
		// A crash while the segment was being created: it holds no records.
		if err := rewriteHeader(path, base); err != nil {
			return nil, fmt.Errorf("wal: repairing torn segment header: %w", err)
		}
		w.log.Warn("wal: rewrote torn segment header", "segment", path, "dropped_bytes", size)
		return &segment{base: base, path: path, last: base - 1, size: segHeaderSize}, nil
	}
	h, err := win.bytes(0, segHeaderSize, size)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	if off, reason, ok := checkSegmentHeader(h, base); !ok {
		return nil, &CorruptionError{Segment: path, Offset: off, Reason: reason}
	}
	res := scanRecords(win, segHeaderSize, size, base)
	if res.err != nil {
		if !isDecodeError(res.err) && !res.seqErr {
			return nil, fmt.Errorf("wal: reading %s: %w", path, res.err)
		}
		if !last || res.seqErr {
			return nil, &CorruptionError{Segment: path, Offset: res.goodEnd, Reason: res.reason}
		}
		found, err := validRecordAfter(win, res.goodEnd+1, size, res.next)
		if err != nil {
			return nil, fmt.Errorf("wal: reading %s: %w", path, err)
		}
		if found {
			return nil, &CorruptionError{Segment: path, Offset: res.goodEnd,
				Reason: res.reason + " (valid records follow, so this is not a torn tail)"}
		}
		if err := truncateFile(path, res.goodEnd); err != nil {
			return nil, fmt.Errorf("wal: truncating torn tail: %w", err)
		}
		w.log.Warn("wal: truncated torn tail", "segment", path, "offset", res.goodEnd,
			"dropped_bytes", size-res.goodEnd, "reason", res.reason, "last_seq", res.next-1)
	}
	return &segment{base: base, path: path, last: res.next - 1, size: res.goodEnd}, nil
}

func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func rewriteHeader(path string, base uint64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(encodeSegmentHeader(base), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// createSegment creates the segment starting at base: header written and fsynced, then
// the directory fsynced. On failure the partial file is removed.
func (w *WAL) createSegment(base uint64) (segFile, *segment, error) {
	path := segmentPath(w.dir, base)
	f, err := w.hooks.openFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, nil, err
	}
	_, err = f.WriteAt(encodeSegmentHeader(base), 0)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(w.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		syncDir(w.dir)
		return nil, nil, err
	}
	return f, &segment{base: base, path: path, last: base - 1, size: segHeaderSize}, nil
}

// Append writes the payloads as consecutive records and returns their sequence numbers
// [first, last] once they are fsynced. Concurrent callers are group-committed: while
// one fsync runs, new appends queue and the next single write+fsync covers all of them.
// An Append's records are always consecutive and land in one segment.
//
// The payloads must not be modified until Append returns. An empty batch is a no-op
// returning (0, 0, nil). A payload over MaxPayload fails with ErrTooLarge, a batch that
// does not fit the disk budget or the disk with ErrFull (nothing of it is written).
// If ctx ends while the batch is still queued, Append returns ctx.Err() and nothing is
// written; once the writer has taken the batch, Append waits for the outcome (at most one
// fsync) and reports it.
func (w *WAL) Append(ctx context.Context, payloads [][]byte) (first, last uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if len(payloads) == 0 {
		return 0, 0, nil
	}
	var size int64
	for i, p := range payloads {
		if len(p) > MaxPayload {
			return 0, 0, fmt.Errorf("%w: payload %d is %d bytes (max %d)", ErrTooLarge, i, len(p), MaxPayload)
		}
		size += recordSize(len(p))
	}
	r := &request{payloads: payloads, size: size, done: make(chan struct{})}
	w.qmu.Lock()
	if w.closing {
		w.qmu.Unlock()
		return 0, 0, ErrClosed
	}
	if w.failErr != nil {
		err := w.failErr
		w.qmu.Unlock()
		return 0, 0, err
	}
	w.queue = append(w.queue, r)
	if w.hooks.onEnqueue != nil {
		w.hooks.onEnqueue(len(w.queue))
	}
	w.qmu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		w.qmu.Lock()
		if !r.taken {
			for i, q := range w.queue {
				if q == r {
					w.queue = append(w.queue[:i], w.queue[i+1:]...)
					break
				}
			}
			w.qmu.Unlock()
			return 0, 0, ctx.Err()
		}
		w.qmu.Unlock()
		<-r.done
	}
	return r.first, r.last, r.err
}

// writeLoop is the single writer: it takes what is queued, writes it with one write
// call, fsyncs once and wakes the callers, until Close has been called and the queue
// is empty.
func (w *WAL) writeLoop() {
	defer close(w.writerDone)
	for {
		group, roll, ok := w.takeGroup()
		if !ok {
			return
		}
		w.commit(group, roll)
		for _, r := range group {
			close(r.done)
		}
	}
}

// takeGroup waits for queued requests and takes as many as fit the current segment
// (and maxGroupBytes) — always at least one. roll reports that the active segment is
// past SegmentBytes and a new one must be started first.
func (w *WAL) takeGroup() (group []*request, roll bool, ok bool) {
	w.qmu.Lock()
	for len(w.queue) == 0 {
		if w.closing {
			w.qmu.Unlock()
			return nil, false, false
		}
		w.qmu.Unlock()
		<-w.wake
		w.qmu.Lock()
	}
	// The writer is the only one changing active.size and active.last.
	segSize := w.active.size
	roll = w.active.last >= w.active.base && segSize >= w.segBytes
	room := w.segBytes - segSize
	if roll {
		room = w.segBytes - segHeaderSize
	}
	limit := min(room, maxGroupBytes)
	n := 0
	var bytes int64
	for n < len(w.queue) {
		r := w.queue[n]
		if n > 0 && bytes+r.size > limit {
			break
		}
		bytes += r.size
		r.taken = true
		n++
	}
	group = make([]*request, n)
	copy(group, w.queue[:n])
	rest := copy(w.queue, w.queue[n:])
	clear(w.queue[rest:])
	w.queue = w.queue[:rest]
	w.qmu.Unlock()
	return group, roll, true
}

// commit writes one group: budget check, optional roll, one write, one fsync, publish.
func (w *WAL) commit(group []*request, roll bool) {
	if w.failed != nil {
		for _, r := range group {
			r.err = w.failed
		}
		return
	}
	avail := int64(math.MaxInt64)
	var used int64
	if w.maxBytes > 0 {
		w.mu.RLock()
		used = w.size
		w.mu.RUnlock()
		avail = w.maxBytes - used
		if roll {
			avail -= segHeaderSize
		}
	}
	var freeErr error
	if w.reserve > 0 {
		free, err := w.freeOf(w.dir)
		if err == nil {
			if roll {
				free -= segHeaderSize
			}
			if left := free - w.reserve; left < avail {
				avail = left
				freeErr = fmt.Errorf("%w: the file system has %d bytes free and the WAL keeps %d of them in reserve", ErrFull, free, w.reserve)
			}
		}
		// An unreadable free space (statfs failing) does not stop appends: the write
		// itself still reports a full disk as ErrFull.
	}
	buf := w.buf[:0]
	seq := w.nextSeq
	accepted := make([]*request, 0, len(group))
	for _, r := range group {
		if r.size > avail {
			r.err = fmt.Errorf("%w: appending %d bytes would exceed the disk budget of %d bytes (%d in use)",
				ErrFull, r.size, w.maxBytes, used)
			if freeErr != nil {
				r.err = fmt.Errorf("appending %d bytes: %w", r.size, freeErr)
			}
			continue
		}
		avail -= r.size
		r.first = seq
		for _, p := range r.payloads {
			buf = appendRecord(buf, seq, p)
			seq++
		}
		r.last = seq - 1
		accepted = append(accepted, r)
	}
	if cap(buf) <= 2*maxGroupBytes {
		w.buf = buf[:0]
	} else {
		w.buf = nil // do not keep a huge one-off buffer
	}
	if len(accepted) == 0 {
		return
	}
	fail := func(err error) {
		for _, r := range accepted {
			r.first, r.last, r.err = 0, 0, err
		}
	}
	if roll {
		if err := w.roll(); err != nil {
			if isNoSpace(err) {
				fail(fullError(err))
			} else {
				fail(fmt.Errorf("wal: creating segment %d: %w", w.nextSeq, err))
			}
			return
		}
	}
	off := w.active.size
	if _, err := w.f.WriteAt(buf, off); err != nil {
		// Drop whatever part of the write landed so the next group starts clean.
		if terr := w.f.Truncate(off); terr != nil {
			w.setFailed(fmt.Errorf("write failed (%v) and truncation back to offset %d failed: %w", err, off, terr))
			fail(w.failed)
			return
		}
		if isNoSpace(err) {
			fail(fullError(err))
		} else {
			fail(fmt.Errorf("wal: write: %w", err))
		}
		return
	}
	if w.hooks.beforeSync != nil {
		w.hooks.beforeSync()
	}
	w.syncs.Add(1)
	syncStart := time.Now()
	err := w.f.Sync()
	if w.observeSync != nil {
		w.observeSync(time.Since(syncStart))
	}
	if err != nil {
		if isNoSpace(err) {
			// Blocks for this write could not be allocated at writeback. Everything
			// before off was covered by an earlier successful fsync; drop the rest and
			// make the truncation itself durable before accepting more.
			terr := w.f.Truncate(off)
			if terr == nil {
				terr = w.f.Sync()
			}
			if terr == nil {
				fail(fullError(err))
				return
			}
			err = fmt.Errorf("%v; truncation back to offset %d failed: %w", err, off, terr)
		} else {
			// The kernel may have dropped the dirty pages: retrying fsync could report
			// success for data that is not on disk. Refuse all further appends.
			_ = w.f.Truncate(off)
		}
		w.setFailed(fmt.Errorf("fsync: %w", err))
		fail(w.failed)
		return
	}
	w.nextSeq = seq
	w.mu.Lock()
	w.active.size = off + int64(len(buf))
	w.active.last = seq - 1
	w.size += int64(len(buf))
	w.durable.Store(seq - 1)
	close(w.commitCh)
	w.commitCh = make(chan struct{})
	w.mu.Unlock()
}

// roll seals the active segment (already fully fsynced) and starts a new one.
func (w *WAL) roll() error {
	f, seg, err := w.createSegment(w.nextSeq)
	if err != nil {
		return err
	}
	old := w.f
	w.f = f
	w.mu.Lock()
	w.active.sealed = true
	w.segs = append(w.segs, seg)
	w.size += seg.size
	w.active = seg
	w.mu.Unlock()
	if err := old.Close(); err != nil {
		w.log.Warn("wal: closing sealed segment", "err", err)
	}
	return nil
}

func (w *WAL) setFailed(err error) {
	w.failed = fmt.Errorf("%w: %w", ErrFailed, err)
	w.qmu.Lock()
	w.failErr = w.failed
	w.qmu.Unlock()
	w.log.Error("wal: refusing further appends", "dir", w.dir, "err", err)
}

// Failed returns the error that made the WAL refuse all appends (wrapping ErrFailed),
// or nil while it accepts them.
func (w *WAL) Failed() error {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	return w.failErr
}

// LastSeq returns the last durable sequence (0 = empty log).
func (w *WAL) LastSeq() uint64 { return w.durable.Load() }

// FirstSeq returns the first sequence still on disk: the base of the oldest segment.
// When the log holds no records it is LastSeq()+1.
func (w *WAL) FirstSeq() uint64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.segs[0].base
}

// Size returns the durable bytes on disk across segments (headers included).
func (w *WAL) Size() int64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.size
}

// Release deletes whole segments whose every record has Seq < upTo, oldest first. The
// active (newest) segment is never deleted. Callers pass the minimum over all route
// cursors + 1. Readers that have a deleted segment open keep reading it (see the package
// documentation).
func (w *WAL) Release(upTo uint64) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	n := 0
	for n < len(w.segs)-1 && w.segs[n].sealed && w.segs[n].last < upTo {
		w.size -= w.segs[n].size
		n++
	}
	drop := append([]*segment(nil), w.segs[:n]...)
	if n > 0 {
		w.segs = append([]*segment(nil), w.segs[n:]...)
	}
	w.mu.Unlock()
	if n == 0 {
		return nil
	}
	// Removed outside the lock: no reader can find these segments any more.
	var errs []error
	for _, s := range drop {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := syncDir(w.dir); err != nil {
		errs = append(errs, err)
	}
	w.log.Debug("wal: released segments", "count", n, "up_to", upTo, "first_seq", drop[n-1].last+1)
	if len(errs) > 0 {
		return fmt.Errorf("wal: release: %w", errors.Join(errs...))
	}
	return nil
}

// Close waits for queued and in-flight appends, then closes the log. Readers blocked in
// Next return ErrClosed once they have no durable record left to return.
func (w *WAL) Close() error {
	w.qmu.Lock()
	if w.closing {
		w.qmu.Unlock()
		<-w.closedCh
		return ErrClosed
	}
	w.closing = true
	w.qmu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.writerDone
	err := w.f.Close()
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	close(w.closedCh)
	if cerr := w.lockFile.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: close: %w", err)
	}
	return nil
}
