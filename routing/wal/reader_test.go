package wal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type nextResult struct {
	rec Record
	err error
}

func nextAsync(r *Reader, ctx context.Context) <-chan nextResult {
	ch := make(chan nextResult, 1)
	go func() {
		rec, err := r.Next(ctx)
		ch <- nextResult{rec, err}
	}()
	return ch
}

func TestReaderNextBlocksUntilAppend(t *testing.T) {
	w := mustOpen(t, Options{Dir: t.TempDir()})
	defer mustClose(t, w)
	r, err := w.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ch := nextAsync(r, context.Background())
	select {
	case res := <-ch:
		t.Fatalf("Next returned before any append: %+v", res)
	default:
	}
	appendSeqs(t, w, 2)
	res := <-ch
	if res.err != nil {
		t.Fatal(res.err)
	}
	checkRecords(t, []Record{res.rec}, 1, 1)
	rec, err := r.Next(context.Background()) // already durable: no wait
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, []Record{rec}, 2, 2)

	// Across a roll, Next wakes up as well.
	ch = nextAsync(r, context.Background())
	appendSeqs(t, w, 1)
	if res := <-ch; res.err != nil || res.rec.Seq != 3 {
		t.Fatalf("Next = %+v", res)
	}
}

func TestReaderNextHonoursContext(t *testing.T) {
	w := mustOpen(t, Options{Dir: t.TempDir()})
	defer mustClose(t, w)
	r, err := w.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ch := nextAsync(r, ctx)
	cancel()
	if res := <-ch; !errors.Is(res.err, context.Canceled) {
		t.Fatalf("Next after cancel: %+v", res)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with deadline: %v", err)
	}
	// The reader is still usable afterwards.
	appendSeqs(t, w, 1)
	if rec, err := r.Next(context.Background()); err != nil || rec.Seq != 1 {
		t.Fatalf("Next = %+v, %v", rec, err)
	}
}

func TestTryNext(t *testing.T) {
	w := mustOpen(t, Options{Dir: t.TempDir(), SegmentBytes: 100})
	defer mustClose(t, w)
	r, err := w.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok, err := r.TryNext(); ok || err != nil {
		t.Fatalf("TryNext on empty log: ok=%v err=%v", ok, err)
	}
	appendSeqs(t, w, 3)
	appendSeqs(t, w, 3) // second segment
	var got []Record
	for i := 0; i < 6; i++ {
		rec, ok, err := r.TryNext()
		if !ok || err != nil {
			t.Fatalf("TryNext %d: ok=%v err=%v", i, ok, err)
		}
		got = append(got, rec)
	}
	checkRecords(t, got, 1, 6)
	if _, ok, err := r.TryNext(); ok || err != nil {
		t.Fatalf("TryNext past the end: ok=%v err=%v", ok, err)
	}
	r.Close()
	if _, _, err := r.TryNext(); !errors.Is(err, ErrClosed) {
		t.Fatalf("TryNext on closed reader: %v", err)
	}
}

func TestReaderFrom(t *testing.T) {
	w := mustOpen(t, Options{Dir: t.TempDir(), SegmentBytes: 200})
	defer mustClose(t, w)
	for i := 0; i < 10; i++ {
		appendSeqs(t, w, 3)
	}
	for _, from := range []uint64{1, 2, 7, 15, 29, 30, 31} {
		checkRecords(t, readAll(t, w, from), from, 30)
	}
	// A reader from the future waits for its first record.
	r, err := w.NewReader(33)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	appendSeqs(t, w, 2)
	if _, ok, _ := r.TryNext(); ok {
		t.Fatal("reader from 33 returned a record below 33")
	}
	ch := nextAsync(r, context.Background())
	appendSeqs(t, w, 2)
	if res := <-ch; res.err != nil || res.rec.Seq != 33 {
		t.Fatalf("Next = %+v", res)
	}
}

// TestReaderSeesOnlyDurable: records written but not yet fsynced are invisible.
func TestReaderSeesOnlyDurable(t *testing.T) {
	inSync := make(chan struct{})
	release := make(chan struct{})
	var n atomic.Int64
	h := hooks{beforeSync: func() {
		if n.Add(1) == 2 {
			close(inSync)
			<-release
		}
	}}
	w := mustOpenHooks(t, Options{Dir: t.TempDir()}, h)
	defer mustClose(t, w)
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock() // runs before mustClose even when the test fails
	appendSeqs(t, w, 1)
	r, err := w.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if rec, ok, err := r.TryNext(); !ok || err != nil || rec.Seq != 1 {
		t.Fatalf("TryNext = %+v %v %v", rec, ok, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		appendSeqs(t, w, 4)
	}()
	<-inSync // written, not yet fsynced
	if rec, ok, err := r.TryNext(); ok || err != nil {
		t.Fatalf("reader saw a record before its fsync: %+v %v", rec, err)
	}
	if w.LastSeq() != 1 {
		t.Fatalf("LastSeq = %d before the fsync", w.LastSeq())
	}
	unblock()
	<-done
	var got []Record
	for {
		rec, ok, err := r.TryNext()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, rec)
	}
	checkRecords(t, got, 2, 5)
}

func TestReaderAfterWALClose(t *testing.T) {
	w := mustOpen(t, Options{Dir: t.TempDir()})
	appendSeqs(t, w, 2)
	r, err := w.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if rec, err := r.Next(context.Background()); err != nil || rec.Seq != 1 {
		t.Fatalf("Next = %+v %v", rec, err)
	}
	blocked, err := w.NewReader(3)
	if err != nil {
		t.Fatal(err)
	}
	defer blocked.Close()
	ch := nextAsync(blocked, context.Background())
	mustClose(t, w)
	if res := <-ch; !errors.Is(res.err, ErrClosed) {
		t.Fatalf("blocked Next after Close: %+v", res)
	}
	// Durable records remain readable, then ErrClosed.
	if rec, err := r.Next(context.Background()); err != nil || rec.Seq != 2 {
		t.Fatalf("Next = %+v %v", rec, err)
	}
	if _, err := r.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next at end after Close: %v", err)
	}
	if _, err := w.NewReader(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewReader after Close: %v", err)
	}
	if err := w.Release(2); !errors.Is(err, ErrClosed) {
		t.Fatalf("Release after Close: %v", err)
	}
}

// TestReadersConcurrentWithAppendsAndRelease: several readers follow concurrent
// appenders through many segment rolls while a releaser deletes what all have read.
func TestReadersConcurrentWithAppendsAndRelease(t *testing.T) {
	const appenders, batches, batchSize, readers = 4, 50, 5, 3
	const total = appenders * batches * batchSize
	w := mustOpen(t, Options{Dir: t.TempDir(), SegmentBytes: 2048})
	defer mustClose(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // safety net only
	defer cancel()

	var cursors [readers]atomic.Uint64 // next seq each reader wants
	var wg sync.WaitGroup
	errc := make(chan error, readers+appenders+1)
	for i := 0; i < readers; i++ {
		cursors[i].Store(1)
		r, err := w.NewReader(1)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for want := uint64(1); want <= total; want++ {
				rec, err := r.Next(ctx)
				if err != nil {
					errc <- fmt.Errorf("reader %d at %d: %w", i, want, err)
					return
				}
				if rec.Seq != want {
					errc <- fmt.Errorf("reader %d: got seq %d, want %d", i, rec.Seq, want)
					return
				}
				cursors[i].Store(want + 1)
			}
		}()
	}
	var appWG sync.WaitGroup
	for a := 0; a < appenders; a++ {
		appWG.Add(1)
		go func() {
			defer appWG.Done()
			for b := 0; b < batches; b++ {
				batch := make([][]byte, batchSize)
				for j := range batch {
					batch[j] = []byte(fmt.Sprintf("a%d-b%d-%d-%040d", a, b, j, 0))
				}
				if _, _, err := w.Append(ctx, batch); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	releaserDone := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(releaserDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			minCur := uint64(1<<64 - 1)
			for i := range cursors {
				minCur = min(minCur, cursors[i].Load())
			}
			if err := w.Release(minCur); err != nil {
				errc <- err
				return
			}
			// Wait for the next commit (no sleeping): a reader just past the end.
			r, err := w.NewReader(w.LastSeq() + 1)
			if err != nil {
				errc <- err
				return
			}
			_, err = r.Next(ctx)
			r.Close()
			if err != nil {
				return // ctx ended: everything was read
			}
		}
	}()
	appWG.Wait()
	wg.Wait()
	close(stop)
	cancel()
	<-releaserDone
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if w.LastSeq() != total {
		t.Fatalf("LastSeq = %d, want %d", w.LastSeq(), total)
	}
	if err := w.Release(total + 1); err != nil {
		t.Fatal(err)
	}
	checkRecordsCount(t, readAll(t, w, w.FirstSeq()), w.FirstSeq(), total)
}

func checkRecordsCount(t *testing.T, recs []Record, from, to uint64) {
	t.Helper()
	if len(recs) != int(to+1-from) {
		t.Fatalf("%d records in [%d,%d]", len(recs), from, to)
	}
	for i, rec := range recs {
		if rec.Seq != from+uint64(i) {
			t.Fatalf("record %d has seq %d", i, rec.Seq)
		}
	}
}
