package wal

import (
	"context"
	"fmt"
	"os"
	"sort"
)

// Record is one record of the log.
type Record struct {
	Seq     uint64
	Payload []byte // owned by the caller
}

// Reader reads records in sequence order from its own cursor, across segment
// boundaries, seeing only durable (fsynced) records. A Reader is not safe for concurrent
// use by several goroutines; use one Reader per goroutine (any number may read
// concurrently with appends and Release).
type Reader struct {
	w      *WAL
	seg    *segment
	f      *os.File // this reader's own descriptor of seg
	win    window
	off    int64  // offset of the next record in f
	next   uint64 // sequence the record at off must carry
	from   uint64 // records below this are skipped
	end    int64  // durable size of seg as last seen; bytes past it are never read
	closed bool
}

// NewReader returns a reader of the records with Seq >= from. It fails with ErrReleased
// when from < FirstSeq() (those records were deleted). from may be past LastSeq(); the
// reader then waits for those records to be appended.
func (w *WAL) NewReader(from uint64) (*Reader, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return nil, ErrClosed
	}
	if first := w.segs[0].base; from < first {
		return nil, fmt.Errorf("%w: reader from %d, first sequence on disk is %d", ErrReleased, from, first)
	}
	// The last segment whose base is <= from holds it (or will).
	i := sort.Search(len(w.segs), func(i int) bool { return w.segs[i].base > from }) - 1
	seg := w.segs[i]
	// Opened under the lock so Release cannot delete the file between lookup and open.
	f, err := os.Open(seg.path)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	r := &Reader{w: w, seg: seg, f: f, off: segHeaderSize, next: seg.base, from: from, end: seg.size}
	r.win.reset(f)
	return r, nil
}

// Next returns the next durable record, blocking until one is appended or ctx ends
// (returning ctx.Err()). After the WAL is closed it returns the records that were
// already durable, then ErrClosed.
func (r *Reader) Next(ctx context.Context) (Record, error) {
	rec, _, err := r.read(ctx, true)
	return rec, err
}

// TryNext returns the next record if one is already durable (ok=false otherwise),
// never blocking.
func (r *Reader) TryNext() (rec Record, ok bool, err error) {
	return r.read(nil, false)
}

func (r *Reader) read(ctx context.Context, block bool) (Record, bool, error) {
	if r.closed {
		return Record{}, false, ErrClosed
	}
	for {
		if r.off < r.end {
			seq, payload, n, err := r.win.readRecord(r.off, r.end)
			if err != nil {
				if isDecodeError(err) {
					return Record{}, false, &CorruptionError{Segment: r.seg.path, Offset: r.off,
						Reason: recordFailure(err, &r.win, r.off, r.end)}
				}
				return Record{}, false, fmt.Errorf("wal: reading %s: %w", r.seg.path, err)
			}
			if seq != r.next {
				return Record{}, false, &CorruptionError{Segment: r.seg.path, Offset: r.off,
					Reason: fmt.Sprintf("record has sequence %d, expected %d", seq, r.next)}
			}
			r.off += int64(n)
			r.next++
			if seq < r.from {
				continue
			}
			return Record{Seq: seq, Payload: append([]byte(nil), payload...)}, true, nil
		}
		more, wait, err := r.refresh()
		if err != nil {
			return Record{}, false, err
		}
		if more {
			continue
		}
		if !block {
			return Record{}, false, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return Record{}, false, ctx.Err()
		case <-r.w.closedCh:
		}
	}
}

// refresh looks at the WAL's durable state once the reader has read everything it knew
// about: more durable bytes in its segment, or a move to the next segment (more=true);
// otherwise it returns the channel closed at the next commit.
func (r *Reader) refresh() (more bool, wait <-chan struct{}, err error) {
	w := r.w
	w.mu.RLock()
	defer w.mu.RUnlock()
	if r.seg.size > r.end {
		r.end = r.seg.size
		return true, nil, nil
	}
	if r.seg.sealed {
		// Every record of the sealed segment has been read; the next one starts at r.next.
		i := sort.Search(len(w.segs), func(i int) bool { return w.segs[i].base >= r.next })
		if i == len(w.segs) || w.segs[i].base != r.next {
			return false, nil, fmt.Errorf("%w: reader needs sequence %d, first sequence on disk is %d",
				ErrReleased, r.next, w.segs[0].base)
		}
		next := w.segs[i]
		f, err := os.Open(next.path)
		if err != nil {
			return false, nil, fmt.Errorf("wal: %w", err)
		}
		r.f.Close()
		r.f, r.seg, r.off, r.end = f, next, segHeaderSize, next.size
		r.win.reset(f)
		return true, nil, nil
	}
	if w.closed {
		return false, nil, ErrClosed
	}
	return false, w.commitCh, nil
}

// Close releases the reader's file. Further calls return ErrClosed.
func (r *Reader) Close() error {
	if r.closed {
		return ErrClosed
	}
	r.closed = true
	return r.f.Close()
}
