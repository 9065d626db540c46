package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ---- helpers ----

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func bufLogger() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func mustOpen(t testing.TB, opts Options) *WAL {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	w, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w
}

func mustOpenHooks(t testing.TB, opts Options, h hooks) *WAL {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	w, err := open(opts, h)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return w
}

func mustClose(t testing.TB, w *WAL) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// payloadFor is the deterministic payload of record seq: its length varies with seq.
func payloadFor(seq uint64) []byte {
	n := int(seq*7%41) + 3
	p := make([]byte, n)
	copy(p, fmt.Sprintf("s%d:", seq))
	for i := len(fmt.Sprintf("s%d:", seq)); i < n; i++ {
		p[i] = byte('a' + (int(seq)+i)%26)
	}
	return p
}

// appendSeqs appends count records (as one batch) whose payloads are payloadFor of the
// sequences they are expected to get.
func appendSeqs(t testing.TB, w *WAL, count int) (uint64, uint64) {
	t.Helper()
	next := w.LastSeq() + 1
	batch := make([][]byte, count)
	for i := range batch {
		batch[i] = payloadFor(next + uint64(i))
	}
	first, last, err := w.Append(context.Background(), batch)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if first != next || last != next+uint64(count)-1 {
		t.Fatalf("Append returned [%d,%d], want [%d,%d]", first, last, next, next+uint64(count)-1)
	}
	return first, last
}

// readAll reads every durable record from `from` without blocking.
func readAll(t testing.TB, w *WAL, from uint64) []Record {
	t.Helper()
	r, err := w.NewReader(from)
	if err != nil {
		t.Fatalf("NewReader(%d): %v", from, err)
	}
	defer r.Close()
	var out []Record
	for {
		rec, ok, err := r.TryNext()
		if err != nil {
			t.Fatalf("TryNext: %v", err)
		}
		if !ok {
			return out
		}
		out = append(out, rec)
	}
}

// checkRecords verifies that recs are exactly the sequences [from, to] with payloadFor payloads.
func checkRecords(t testing.TB, recs []Record, from, to uint64) {
	t.Helper()
	want := int(to + 1 - from) // 0 when to == from-1
	if len(recs) != want {
		t.Fatalf("got %d records, want %d (seqs %d..%d)", len(recs), want, from, to)
	}
	for i, rec := range recs {
		seq := from + uint64(i)
		if rec.Seq != seq {
			t.Fatalf("record %d has seq %d, want %d", i, rec.Seq, seq)
		}
		if !bytes.Equal(rec.Payload, payloadFor(seq)) {
			t.Fatalf("record %d payload %q, want %q", seq, rec.Payload, payloadFor(seq))
		}
	}
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	bases, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range bases {
		out = append(out, segmentPath(dir, b))
	}
	return out
}

// recordOffsets returns the offsets of the records of a (valid) segment file and its size.
func recordOffsets(t testing.TB, path string) ([]int64, []uint64, int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	var seqs []uint64
	off := segHeaderSize
	for off < len(data) {
		seq, _, n, err := decodeRecord(data[off:])
		if err != nil {
			t.Fatalf("%s at %d: %v", path, off, err)
		}
		offs = append(offs, int64(off))
		seqs = append(seqs, seq)
		off += n
	}
	return offs, seqs, int64(len(data))
}

// copySegments copies the segment files of src into a new directory.
func copySegments(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	for _, p := range segFiles(t, src) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(p)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func flipByte(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// ---- tests ----

func TestOnDiskFormat(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir})
	if _, _, err := w.Append(context.Background(), [][]byte{[]byte("hello"), {}}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, w)

	data, err := os.ReadFile(filepath.Join(dir, "00000000000000000001.wal"))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	tab := crc32.MakeTable(crc32.Castagnoli)
	if len(data) != 20+16+5+16 {
		t.Fatalf("segment is %d bytes, want %d", len(data), 20+16+5+16)
	}
	if string(data[0:4]) != "WBWL" || le.Uint16(data[4:6]) != 1 || le.Uint16(data[6:8]) != 0 || le.Uint64(data[8:16]) != 1 {
		t.Fatalf("bad segment header % x", data[:20])
	}
	if le.Uint32(data[16:20]) != crc32.Checksum(data[0:16], tab) {
		t.Fatal("segment header CRC does not cover bytes 0..15")
	}
	rec := data[20:]
	if le.Uint32(rec[4:8]) != 5 || le.Uint64(rec[8:16]) != 1 || string(rec[16:21]) != "hello" {
		t.Fatalf("bad first record % x", rec[:21])
	}
	if le.Uint32(rec[0:4]) != crc32.Checksum(rec[4:21], tab) {
		t.Fatal("record CRC does not cover length, seq and payload")
	}
	rec = rec[21:]
	if le.Uint32(rec[4:8]) != 0 || le.Uint64(rec[8:16]) != 2 || le.Uint32(rec[0:4]) != crc32.Checksum(rec[4:16], tab) {
		t.Fatalf("bad empty record % x", rec)
	}
}

func TestRoundTripAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 300}
	w := mustOpen(t, opts)
	if w.LastSeq() != 0 || w.FirstSeq() != 1 {
		t.Fatalf("empty log: LastSeq=%d FirstSeq=%d", w.LastSeq(), w.FirstSeq())
	}
	for i := 0; i < 40; i++ {
		appendSeqs(t, w, i%5+1)
	}
	last := w.LastSeq()
	if last != 120 { // sum of 1..5 repeated 8 times
		t.Fatalf("LastSeq = %d, want 120", last)
	}
	checkRecords(t, readAll(t, w, 1), 1, last)
	checkRecords(t, readAll(t, w, 57), 57, last)
	files := segFiles(t, dir)
	if len(files) < 5 {
		t.Fatalf("only %d segments with SegmentBytes=300", len(files))
	}
	if filepath.Base(files[0]) != "00000000000000000001.wal" {
		t.Fatalf("first segment named %s", filepath.Base(files[0]))
	}
	var total int64
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	if w.Size() != total {
		t.Fatalf("Size() = %d, files hold %d", w.Size(), total)
	}
	mustClose(t, w)

	w = mustOpen(t, opts)
	defer mustClose(t, w)
	if w.LastSeq() != last || w.FirstSeq() != 1 || w.Size() != total {
		t.Fatalf("after reopen: LastSeq=%d FirstSeq=%d Size=%d", w.LastSeq(), w.FirstSeq(), w.Size())
	}
	appendSeqs(t, w, 3) // numbering continues at last+1 (checked by appendSeqs)
	checkRecords(t, readAll(t, w, 1), 1, last+3)
}

func TestAppendValidation(t *testing.T) {
	w := mustOpen(t, Options{Dir: t.TempDir()})
	ctx := context.Background()
	if f, l, err := w.Append(ctx, nil); f != 0 || l != 0 || err != nil {
		t.Fatalf("empty Append = %d, %d, %v", f, l, err)
	}
	big := make([]byte, MaxPayload+1)
	if _, _, err := w.Append(ctx, [][]byte{[]byte("x"), big}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized payload: %v, want ErrTooLarge", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := w.Append(cctx, [][]byte{[]byte("x")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	if w.LastSeq() != 0 {
		t.Fatalf("rejected appends consumed sequences: LastSeq=%d", w.LastSeq())
	}
	// A payload of exactly MaxPayload is accepted.
	if f, l, err := w.Append(ctx, [][]byte{make([]byte, MaxPayload)}); err != nil || f != 1 || l != 1 {
		t.Fatalf("max payload: %d %d %v", f, l, err)
	}
	mustClose(t, w)
	if _, _, err := w.Append(ctx, [][]byte{[]byte("x")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestOpenLocksDirectory(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir})
	if w2, err := Open(Options{Dir: dir, Logger: discardLogger()}); err == nil {
		w2.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
	mustClose(t, w)
	mustClose(t, mustOpen(t, Options{Dir: dir}))
	if _, err := Open(Options{}); err == nil {
		t.Fatal("Open without Dir succeeded")
	}
}

// TestGroupCommitCoalesces holds the first fsync until every other Append is queued:
// the second write+fsync must then cover all of them.
func TestGroupCommitCoalesces(t *testing.T) {
	const n = 64
	var enqueued atomic.Int64
	allQueued := make(chan struct{})
	var syncCalls atomic.Int64
	h := hooks{
		onEnqueue: func(int) {
			if enqueued.Add(1) == n {
				close(allQueued)
			}
		},
		beforeSync: func() {
			if syncCalls.Add(1) == 1 {
				<-allQueued
			}
		},
	}
	w := mustOpenHooks(t, Options{Dir: t.TempDir()}, h)
	defer mustClose(t, w)

	type res struct{ first, last uint64 }
	results := make([]res, n)
	var wg sync.WaitGroup
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := [][]byte{[]byte(fmt.Sprintf("g%d-0", g)), []byte(fmt.Sprintf("g%d-1", g))}
			f, l, err := w.Append(context.Background(), batch)
			if err != nil {
				t.Errorf("Append: %v", err)
				return
			}
			results[g] = res{f, l}
		}()
	}
	wg.Wait()
	if got := w.syncs.Load(); got > 2 {
		t.Fatalf("%d fsyncs for %d concurrent Appends, want at most 2", got, n)
	}
	seen := map[uint64]bool{}
	for g, r := range results {
		if r.last != r.first+1 {
			t.Fatalf("goroutine %d got [%d,%d]", g, r.first, r.last)
		}
		for s := r.first; s <= r.last; s++ {
			if seen[s] {
				t.Fatalf("sequence %d returned twice", s)
			}
			seen[s] = true
		}
	}
	recs := readAll(t, w, 1)
	if len(recs) != 2*n {
		t.Fatalf("%d records, want %d", len(recs), 2*n)
	}
	for g, r := range results {
		for i := 0; i < 2; i++ {
			if got := string(recs[r.first-1+uint64(i)].Payload); got != fmt.Sprintf("g%d-%d", g, i) {
				t.Fatalf("seq %d holds %q, want g%d-%d", r.first+uint64(i), got, g, i)
			}
		}
	}
}

// TestGroupCommitStress runs free concurrent appenders: every record must be present
// exactly once, in its Append's order, and group commit must save most fsyncs.
func TestGroupCommitStress(t *testing.T) {
	const goroutines, perG = 16, 40
	w := mustOpen(t, Options{Dir: t.TempDir(), SegmentBytes: 64 << 10})
	defer mustClose(t, w)
	var wg sync.WaitGroup
	var calls atomic.Int64
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				k := i%7 + 1
				batch := make([][]byte, k)
				for j := range batch {
					batch[j] = []byte(fmt.Sprintf("%d/%d/%d", g, i, j))
				}
				f, l, err := w.Append(context.Background(), batch)
				calls.Add(1)
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				if l-f+1 != uint64(k) {
					t.Errorf("Append of %d returned [%d,%d]", k, f, l)
				}
			}
		}()
	}
	wg.Wait()
	recs := readAll(t, w, 1)
	seen := map[string]bool{}
	for i, rec := range recs {
		if rec.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, rec.Seq)
		}
		s := string(rec.Payload)
		if seen[s] {
			t.Fatalf("payload %s twice", s)
		}
		seen[s] = true
		var g, b, j int
		if _, err := fmt.Sscanf(s, "%d/%d/%d", &g, &b, &j); err != nil {
			t.Fatalf("bad payload %q", s)
		}
		if j > 0 { // records of one Append are consecutive
			if want := fmt.Sprintf("%d/%d/%d", g, b, j-1); string(recs[i-1].Payload) != want {
				t.Fatalf("seq %d: %s does not follow %s", rec.Seq, s, want)
			}
		}
	}
	want := 0
	for i := 0; i < perG; i++ {
		want += (i%7 + 1) * goroutines
	}
	if len(recs) != want {
		t.Fatalf("%d records, want %d", len(recs), want)
	}
	if s, c := w.syncs.Load(), calls.Load(); s*2 > c {
		t.Fatalf("%d fsyncs for %d Appends: group commit is not coalescing", s, c)
	}
	t.Logf("%d appends, %d fsyncs", calls.Load(), w.syncs.Load())
}

// TestAppendCancelWhileQueued: an Append whose ctx ends while it is still queued is
// withdrawn and never written.
func TestAppendCancelWhileQueued(t *testing.T) {
	inSync := make(chan struct{})
	releaseSync := make(chan struct{})
	queued := make(chan int, 10)
	var first atomic.Bool
	h := hooks{
		beforeSync: func() {
			if first.CompareAndSwap(false, true) {
				close(inSync)
				<-releaseSync
			}
		},
		onEnqueue: func(q int) { queued <- q },
	}
	w := mustOpenHooks(t, Options{Dir: t.TempDir()}, h)
	defer mustClose(t, w)
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(releaseSync) }) }
	defer unblock() // runs before mustClose even when the test fails

	aDone := make(chan error, 1)
	go func() {
		_, _, err := w.Append(context.Background(), [][]byte{payloadFor(1)})
		aDone <- err
	}()
	<-queued
	<-inSync // A is being fsynced; the writer is busy
	ctx, cancel := context.WithCancel(context.Background())
	bDone := make(chan error, 1)
	go func() {
		_, _, err := w.Append(ctx, [][]byte{[]byte("withdrawn")})
		bDone <- err
	}()
	<-queued // B is queued behind the busy writer
	cancel()
	select {
	case err := <-bDone:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("queued Append after cancel: %v", err)
		}
	case <-time.After(10 * time.Second): // failure guard only; a withdrawn Append returns at once
		t.Fatal("queued Append did not return after its context was cancelled")
	}
	unblock()
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	appendSeqs(t, w, 1) // gets seq 2: the withdrawn batch consumed nothing
	checkRecords(t, readAll(t, w, 1), 1, 2)
}

// TestTornTail cuts the last segment at every byte offset inside its last three records:
// Open must keep exactly the earlier records and appends must continue.
func TestTornTail(t *testing.T) {
	src := t.TempDir()
	w := mustOpen(t, Options{Dir: src, SegmentBytes: 200})
	for i := 0; i < 12; i++ {
		appendSeqs(t, w, 1)
	}
	appendSeqs(t, w, 3)
	mustClose(t, w)
	files := segFiles(t, src)
	if len(files) < 2 {
		t.Fatalf("want several segments, got %d", len(files))
	}
	lastFile := files[len(files)-1]
	offs, seqs, size := recordOffsets(t, lastFile)
	if len(offs) < 3 {
		t.Fatalf("last segment has %d records", len(offs))
	}
	cuts := 0
	for k := len(offs) - 3; k < len(offs); k++ {
		end := size
		if k+1 < len(offs) {
			end = offs[k+1]
		}
		for cut := offs[k] + 1; cut < end; cut++ {
			cuts++
			dir := copySegments(t, src)
			p := filepath.Join(dir, filepath.Base(lastFile))
			if err := os.Truncate(p, cut); err != nil {
				t.Fatal(err)
			}
			log, logBuf := bufLogger()
			w, err := Open(Options{Dir: dir, SegmentBytes: 200, Logger: log})
			if err != nil {
				t.Fatalf("cut at %d (record seq %d): Open: %v", cut, seqs[k], err)
			}
			want := seqs[k] - 1
			if w.LastSeq() != want {
				t.Fatalf("cut at %d: LastSeq = %d, want %d", cut, w.LastSeq(), want)
			}
			if st, _ := os.Stat(p); st.Size() != offs[k] {
				t.Fatalf("cut at %d: file truncated to %d, want %d", cut, st.Size(), offs[k])
			}
			if l := logBuf.String(); !strings.Contains(l, "truncated torn tail") ||
				!strings.Contains(l, fmt.Sprintf("dropped_bytes=%d", cut-offs[k])) {
				t.Fatalf("cut at %d: no log line with the dropped bytes:\n%s", cut, l)
			}
			appendSeqs(t, w, 2)
			checkRecords(t, readAll(t, w, 1), 1, want+2)
			mustClose(t, w)
			// And the repaired log reopens cleanly.
			w = mustOpen(t, Options{Dir: dir, SegmentBytes: 200})
			checkRecords(t, readAll(t, w, 1), 1, want+2)
			mustClose(t, w)
		}
	}
	if cuts < 3*recHeaderSize {
		t.Fatalf("only %d cut points", cuts)
	}
}

// TestTornTailChecksum: a final record with a bad CRC (and nothing after it) is a torn
// tail too.
func TestTornTailChecksum(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir})
	appendSeqs(t, w, 5)
	mustClose(t, w)
	p := segFiles(t, dir)[0]
	offs, _, size := recordOffsets(t, p)
	flipByte(t, p, size-1) // last payload byte of record 5
	log, logBuf := bufLogger()
	w, err := Open(Options{Dir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, w)
	if w.LastSeq() != 4 {
		t.Fatalf("LastSeq = %d, want 4", w.LastSeq())
	}
	if l := logBuf.String(); !strings.Contains(l, fmt.Sprintf("dropped_bytes=%d", size-offs[4])) ||
		!strings.Contains(l, "checksum mismatch") {
		t.Fatalf("log:\n%s", l)
	}
	appendSeqs(t, w, 1)
	checkRecords(t, readAll(t, w, 1), 1, 5)
}

// TestTornSegmentCreation: a last segment shorter than its header (crash while rolling)
// holds no records and is repaired.
func TestTornSegmentCreation(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir})
	appendSeqs(t, w, 4)
	mustClose(t, w)
	torn := segmentPath(dir, 5)
	if err := os.WriteFile(torn, []byte("WBWL\x01"), 0o644); err != nil {
		t.Fatal(err)
	}
	w = mustOpen(t, Options{Dir: dir})
	defer mustClose(t, w)
	if w.LastSeq() != 4 {
		t.Fatalf("LastSeq = %d", w.LastSeq())
	}
	appendSeqs(t, w, 2)
	checkRecords(t, readAll(t, w, 1), 1, 6)
	if offs, _, _ := recordOffsets(t, torn); len(offs) != 2 {
		t.Fatalf("repaired segment holds %d records, want 2", len(offs))
	}
}

func wantCorruption(t *testing.T, dir, segment string, offset int64) {
	t.Helper()
	w, err := Open(Options{Dir: dir, Logger: discardLogger()})
	if err == nil {
		w.Close()
		t.Fatalf("Open succeeded on a corrupt log (want corruption in %s at %d)", filepath.Base(segment), offset)
	}
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		t.Fatalf("Open: %v, want *CorruptionError", err)
	}
	if ce.Segment != segment || ce.Offset != offset {
		t.Fatalf("CorruptionError{%s, %d, %q}, want segment %s offset %d", ce.Segment, ce.Offset, ce.Reason, segment, offset)
	}
	if msg := ce.Error(); !strings.Contains(msg, segment) || !strings.Contains(msg, fmt.Sprint(offset)) || ce.Reason == "" {
		t.Fatalf("Error() = %q does not name file, offset and reason", msg)
	}
}

func TestMidSegmentCorruption(t *testing.T) {
	src := t.TempDir()
	w := mustOpen(t, Options{Dir: src})
	appendSeqs(t, w, 10)
	mustClose(t, w)
	name := filepath.Base(segFiles(t, src)[0])
	offs, _, _ := recordOffsets(t, segFiles(t, src)[0])
	for _, tc := range []struct {
		name  string
		delta int64 // byte of record 5 to flip
	}{
		{"crc", 1},
		{"length", 4},
		{"length-high", 6},
		{"seq", 9},
		{"payload", recHeaderSize + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copySegments(t, src)
			p := filepath.Join(dir, name)
			flipByte(t, p, offs[4]+tc.delta)
			wantCorruption(t, dir, p, offs[4])
		})
	}
	t.Run("last-but-one-record", func(t *testing.T) {
		dir := copySegments(t, src)
		p := filepath.Join(dir, name)
		flipByte(t, p, offs[8]+recHeaderSize)
		wantCorruption(t, dir, p, offs[8])
	})
	t.Run("bad-header", func(t *testing.T) {
		dir := copySegments(t, src)
		p := filepath.Join(dir, name)
		flipByte(t, p, 1)
		wantCorruption(t, dir, p, 0)
	})
	t.Run("wrong-seq-valid-crc", func(t *testing.T) {
		// A record re-encoded with a different sequence is valid on its own but breaks
		// the numbering: corruption even at the tail.
		dir := copySegments(t, src)
		p := filepath.Join(dir, name)
		data, _ := os.ReadFile(p)
		_, payload, _, _ := decodeRecord(data[offs[9]:])
		data = appendRecord(data[:offs[9]], 99, append([]byte(nil), payload...))
		os.WriteFile(p, data, 0o644)
		wantCorruption(t, dir, p, offs[9])
	})
}

func TestNonLastSegmentCorruption(t *testing.T) {
	src := t.TempDir()
	w := mustOpen(t, Options{Dir: src, SegmentBytes: 150})
	for i := 0; i < 20; i++ {
		appendSeqs(t, w, 1)
	}
	mustClose(t, w)
	files := segFiles(t, src)
	if len(files) < 3 {
		t.Fatalf("%d segments", len(files))
	}
	first := filepath.Base(files[0])
	offs, _, size := recordOffsets(t, files[0])

	t.Run("last-record-of-first-segment", func(t *testing.T) {
		dir := copySegments(t, src)
		p := filepath.Join(dir, first)
		flipByte(t, p, size-1)
		wantCorruption(t, dir, p, offs[len(offs)-1])
	})
	t.Run("truncated-first-segment", func(t *testing.T) {
		dir := copySegments(t, src)
		p := filepath.Join(dir, first)
		os.Truncate(p, size-1)
		wantCorruption(t, dir, p, offs[len(offs)-1])
	})
	t.Run("missing-middle-segment", func(t *testing.T) {
		dir := copySegments(t, src)
		os.Remove(filepath.Join(dir, filepath.Base(files[1])))
		wantCorruption(t, dir, filepath.Join(dir, filepath.Base(files[2])), 0)
	})
}

func TestRelease(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir, SegmentBytes: 150})
	defer mustClose(t, w)
	for i := 0; i < 30; i++ {
		appendSeqs(t, w, 1)
	}
	files := segFiles(t, dir)
	if len(files) < 5 {
		t.Fatalf("%d segments", len(files))
	}
	bases := make([]uint64, len(files))
	for i, p := range files {
		bases[i], _ = parseSegmentName(filepath.Base(p))
	}
	// A reader opened before Release, positioned in the first segment.
	early, err := w.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()

	// upTo inside segment 1 (not past its last record): only segment 0 goes.
	if err := w.Release(bases[2] - 1); err != nil {
		t.Fatal(err)
	}
	if got := segFiles(t, dir); len(got) != len(files)-1 || got[0] != files[1] {
		t.Fatalf("after Release(%d): %v", bases[2]-1, got)
	}
	if w.FirstSeq() != bases[1] {
		t.Fatalf("FirstSeq = %d, want %d", w.FirstSeq(), bases[1])
	}
	if _, err := os.Stat(files[0]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("released segment still on disk: %v", err)
	}
	if _, err := w.NewReader(bases[1] - 1); !errors.Is(err, ErrReleased) {
		t.Fatalf("NewReader before FirstSeq: %v, want ErrReleased", err)
	}
	// Exactly at a boundary: segment 1's last record is bases[2]-1; upTo == bases[2] frees it.
	if err := w.Release(bases[2]); err != nil {
		t.Fatal(err)
	}
	if w.FirstSeq() != bases[2] {
		t.Fatalf("FirstSeq = %d, want %d", w.FirstSeq(), bases[2])
	}
	// The early reader had the deleted first segment open: it reads all of it, then
	// moves on through the remaining segments.
	var got []Record
	for {
		rec, ok, err := early.TryNext()
		if err != nil {
			t.Fatalf("reader over released segment: %v", err)
		}
		if !ok {
			break
		}
		got = append(got, rec)
		if rec.Seq == bases[1]-1 {
			break // finished segment 0 (deleted); the next segment was deleted too
		}
	}
	checkRecords(t, got, 1, bases[1]-1)
	if _, _, err := early.TryNext(); !errors.Is(err, ErrReleased) {
		t.Fatalf("reader moving into a released segment: %v, want ErrReleased", err)
	}

	// Release everything: the active segment stays.
	if err := w.Release(w.LastSeq() + 1); err != nil {
		t.Fatal(err)
	}
	left := segFiles(t, dir)
	if len(left) != 1 || left[0] != files[len(files)-1] {
		t.Fatalf("after releasing all: %v", left)
	}
	st, _ := os.Stat(left[0])
	if w.Size() != st.Size() {
		t.Fatalf("Size = %d, file is %d", w.Size(), st.Size())
	}
	checkRecords(t, readAll(t, w, w.FirstSeq()), w.FirstSeq(), w.LastSeq())
}

// TestReaderKeepsDeletedSegment: a reader that has a segment open but has not read a
// byte of it yet reads it fully after Release unlinked it.
func TestReaderKeepsDeletedSegment(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir, SegmentBytes: 150})
	defer mustClose(t, w)
	for i := 0; i < 30; i++ {
		appendSeqs(t, w, 1)
	}
	files := segFiles(t, dir)
	second, _ := parseSegmentName(filepath.Base(files[1]))
	r, err := w.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := w.Release(second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(files[0]); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("segment not deleted")
	}
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
	checkRecords(t, got, 1, 30)
}

func TestBudgetErrFull(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 1024, MaxBytes: 6 * 1024}
	w := mustOpen(t, opts)
	var fullErr error
	for i := 0; i < 1000; i++ {
		before := w.LastSeq()
		batch := make([][]byte, 4)
		for j := range batch {
			batch[j] = payloadFor(before + 1 + uint64(j))
		}
		if _, _, err := w.Append(context.Background(), batch); err != nil {
			fullErr = err
			if w.LastSeq() != before {
				t.Fatalf("failed Append moved LastSeq")
			}
			break
		}
	}
	if !errors.Is(fullErr, ErrFull) {
		t.Fatalf("want ErrFull, got %v", fullErr)
	}
	if w.Size() > opts.MaxBytes {
		t.Fatalf("Size %d exceeds budget %d", w.Size(), opts.MaxBytes)
	}
	// Still full on retry.
	if _, _, err := w.Append(context.Background(), [][]byte{make([]byte, 600)}); !errors.Is(err, ErrFull) {
		t.Fatalf("retry: %v", err)
	}
	last := w.LastSeq()
	sizeBefore := w.Size()
	if err := w.Release(last / 2); err != nil {
		t.Fatal(err)
	}
	if w.Size() >= sizeBefore {
		t.Fatalf("Release freed nothing (%d -> %d)", sizeBefore, w.Size())
	}
	first := w.FirstSeq()
	appendSeqs(t, w, 4)
	appendSeqs(t, w, 4)
	last = w.LastSeq()
	mustClose(t, w)

	w = mustOpen(t, opts)
	defer mustClose(t, w)
	if w.FirstSeq() != first || w.LastSeq() != last {
		t.Fatalf("after reopen: [%d,%d], want [%d,%d]", w.FirstSeq(), w.LastSeq(), first, last)
	}
	checkRecords(t, readAll(t, w, first), first, last)
}

// faultFile injects errors into the active segment's writes and syncs.
type faultFile struct {
	*os.File
	ctl *faultCtl
}

type faultCtl struct {
	mu       sync.Mutex
	writeErr error // returned after writing half of the bytes
	syncErr  error // returned by the next Sync only
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	f.ctl.mu.Lock()
	err := f.ctl.writeErr
	f.ctl.mu.Unlock()
	if err != nil {
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	f.ctl.mu.Lock()
	err := f.ctl.syncErr
	f.ctl.syncErr = nil // a failed fsync reports its error once, as Linux does
	f.ctl.mu.Unlock()
	if err != nil {
		return err
	}
	return f.File.Sync()
}

func (c *faultCtl) set(writeErr, syncErr error) {
	c.mu.Lock()
	c.writeErr, c.syncErr = writeErr, syncErr
	c.mu.Unlock()
}

func faultHooks(ctl *faultCtl) hooks {
	return hooks{openFile: func(path string, flag int) (segFile, error) {
		f, err := os.OpenFile(path, flag, 0o644)
		if err != nil {
			return nil, err
		}
		return &faultFile{File: f, ctl: ctl}, nil
	}}
}

func activeSize(t *testing.T, dir string) int64 {
	files := segFiles(t, dir)
	st, err := os.Stat(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestENOSPC(t *testing.T) {
	enospc := &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	for _, tc := range []struct {
		name              string
		writeErr, syncErr error
	}{
		{"write", enospc, nil},
		{"fsync", nil, enospc},
		{"quota", &os.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctl := &faultCtl{}
			w := mustOpenHooks(t, Options{Dir: dir}, faultHooks(ctl))
			appendSeqs(t, w, 5)
			size := activeSize(t, dir)
			r, err := w.NewReader(1) // reads up to the end before the failure
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for i := 0; i < 5; i++ {
				if _, ok, err := r.TryNext(); !ok || err != nil {
					t.Fatalf("TryNext: %v %v", ok, err)
				}
			}
			ctl.set(tc.writeErr, tc.syncErr)
			batch := [][]byte{bytes.Repeat([]byte("x"), 4000), bytes.Repeat([]byte("y"), 4000)}
			if _, _, err := w.Append(context.Background(), batch); !errors.Is(err, ErrFull) {
				t.Fatalf("Append: %v, want ErrFull", err)
			}
			if got := activeSize(t, dir); got != size {
				t.Fatalf("segment is %d bytes after the failed append, want %d (truncated back)", got, size)
			}
			if w.LastSeq() != 5 {
				t.Fatalf("LastSeq = %d", w.LastSeq())
			}
			ctl.set(nil, nil)
			appendSeqs(t, w, 3) // continues at 6
			// The reader sees the new records 6..8, never bytes of the failed write.
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
			checkRecords(t, got, 6, 8)
			mustClose(t, w)
			log, logBuf := bufLogger()
			w = mustOpen(t, Options{Dir: dir, Logger: log})
			defer mustClose(t, w)
			checkRecords(t, readAll(t, w, 1), 1, 8)
			if strings.Contains(logBuf.String(), "torn") {
				t.Fatalf("the log needed repair:\n%s", logBuf)
			}
		})
	}
}

func TestFsyncFailureIsFatal(t *testing.T) {
	dir := t.TempDir()
	ctl := &faultCtl{}
	w := mustOpenHooks(t, Options{Dir: dir}, faultHooks(ctl))
	appendSeqs(t, w, 5)
	ctl.set(nil, &os.PathError{Op: "sync", Path: "x", Err: syscall.EIO})
	_, _, err := w.Append(context.Background(), [][]byte{[]byte("lost")})
	if !errors.Is(err, ErrFailed) || errors.Is(err, ErrFull) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append with failing fsync: %v", err)
	}
	if !errors.Is(w.Failed(), ErrFailed) {
		t.Fatalf("Failed() = %v after an fsync failure, want ErrFailed", w.Failed())
	}
	ctl.set(nil, nil)
	if _, _, err := w.Append(context.Background(), [][]byte{[]byte("after")}); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append after fsync failure: %v, want ErrFailed", err)
	}
	if w.LastSeq() != 5 {
		t.Fatalf("LastSeq = %d", w.LastSeq())
	}
	checkRecords(t, readAll(t, w, 1), 1, 5)
	mustClose(t, w)
	w = mustOpen(t, Options{Dir: dir})
	defer mustClose(t, w)
	appendSeqs(t, w, 1)
	checkRecords(t, readAll(t, w, 1), 1, 6)
}

// TestOtherWriteErrorNotFatal: a non-space write error fails the group but the file is
// truncated back and the WAL keeps working.
func TestOtherWriteErrorNotFatal(t *testing.T) {
	dir := t.TempDir()
	ctl := &faultCtl{}
	w := mustOpenHooks(t, Options{Dir: dir}, faultHooks(ctl))
	defer mustClose(t, w)
	appendSeqs(t, w, 2)
	ctl.set(&os.PathError{Op: "write", Path: "x", Err: syscall.EIO}, nil)
	if _, _, err := w.Append(context.Background(), [][]byte{[]byte("x"), []byte("y")}); err == nil || errors.Is(err, ErrFull) {
		t.Fatalf("Append: %v", err)
	}
	ctl.set(nil, nil)
	appendSeqs(t, w, 2)
	checkRecords(t, readAll(t, w, 1), 1, 4)
}

func TestSegmentNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		base uint64
		ok   bool
	}{
		{"00000000000000000001.wal", 1, true},
		{"00000000000000123456.wal", 123456, true},
		{"18446744073709551615.wal", 1<<64 - 1, true},
		{"99999999999999999999.wal", 0, false},
		{"0000000000000000001.wal", 0, false},
		{"00000000000000000001.wal.tmp", 0, false},
		{"0000000000000000000a.wal", 0, false},
		{"LOCK", 0, false},
	} {
		base, ok := parseSegmentName(tc.name)
		if ok != tc.ok || base != tc.base {
			t.Errorf("parseSegmentName(%q) = %d, %v", tc.name, base, ok)
		}
		if tc.ok && segmentName(tc.base) != tc.name {
			t.Errorf("segmentName(%d) = %q", tc.base, segmentName(tc.base))
		}
	}
}

// TestReaderDetectsCorruption: a durable record damaged after Open is reported by the
// reader, not returned.
func TestReaderDetectsCorruption(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir})
	defer mustClose(t, w)
	appendSeqs(t, w, 4)
	p := segFiles(t, dir)[0]
	offs, _, _ := recordOffsets(t, p)
	flipByte(t, p, offs[2]+recHeaderSize)
	r, err := w.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; i < 2; i++ {
		if _, ok, err := r.TryNext(); !ok || err != nil {
			t.Fatalf("TryNext: %v %v", ok, err)
		}
	}
	_, _, err = r.TryNext()
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Segment != p || ce.Offset != offs[2] {
		t.Fatalf("TryNext on a damaged record: %v", err)
	}
}

func TestObserveSyncSeesEveryGroupCommit(t *testing.T) {
	var mu sync.Mutex
	var seen []time.Duration
	w := mustOpen(t, Options{Dir: t.TempDir(), ObserveSync: func(d time.Duration) {
		mu.Lock()
		seen = append(seen, d)
		mu.Unlock()
	}})
	defer w.Close()
	for range 3 {
		if _, _, err := w.Append(context.Background(), [][]byte{[]byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if int64(len(seen)) != w.syncs.Load() || len(seen) != 3 {
		t.Fatalf("observed %d fsyncs, WAL issued %d (3 sequential appends)", len(seen), w.syncs.Load())
	}
	if w.Failed() != nil {
		t.Fatalf("a healthy WAL reports %v", w.Failed())
	}
}

// TestReserveKeepsFreeSpace: Append fails with ErrFull, writing nothing, when it would
// leave less than ReserveBytes free on the file system, and works again once space
// is free.
func TestReserveKeepsFreeSpace(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir, ReserveBytes: 1 << 20})
	defer mustClose(t, w)
	free := int64(1<<20 + 10_000)
	w.freeOf = func(string) (int64, error) { return free, nil }
	appendSeqs(t, w, 3)
	big := [][]byte{bytes.Repeat([]byte("x"), 20_000)}
	_, _, err := w.Append(context.Background(), big)
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "in reserve") {
		t.Fatalf("Append over the reserve: %v, want ErrFull naming the reserve", err)
	}
	if w.LastSeq() != 3 {
		t.Fatalf("LastSeq %d after the refused append", w.LastSeq())
	}
	free = 10 << 20
	if _, last, err := w.Append(context.Background(), big); err != nil || last != 4 {
		t.Fatalf("Append with space again: %d, %v", last, err)
	}
	// A file system whose free space cannot be read does not stop appends.
	w.freeOf = func(string) (int64, error) { return 0, errors.New("statfs: boom") }
	if _, _, err := w.Append(context.Background(), big); err != nil {
		t.Fatalf("Append with statfs failing: %v", err)
	}
	if n, err := freeBytes(dir); err != nil || n <= 0 {
		t.Fatalf("freeBytes(%s) = %d, %v", dir, n, err)
	}
}
