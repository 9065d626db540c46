package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// On-disk format constants; doc.go describes the layout they implement.
const (
	segMagic       = "WBWL"    // first four bytes of every segment
	formatVersion  = 1         // segment header version
	segHeaderSize  = 20        // magic(4) version(2) reserved(2) base(8) crc(4)
	recHeaderSize  = 16        // crc(4) length(4) seq(8)
	segSuffix      = ".wal"    // segment file suffix
	segNameDigits  = 20        // zero-padded decimal base sequence
	lockFileName   = "LOCK"    // flock'ed for the lifetime of an open WAL
	readChunkBytes = 256 << 10 // read-ahead of scanners and readers
)

// MaxPayload is the largest payload a record may carry (16 MiB). Append rejects larger
// payloads with ErrTooLarge; a length field above it is treated as damage.
const MaxPayload = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segmentName is the file name of the segment whose first sequence is base.
func segmentName(base uint64) string {
	return fmt.Sprintf("%0*d%s", segNameDigits, base, segSuffix)
}

// parseSegmentName returns the base sequence encoded in a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	if len(name) != segNameDigits+len(segSuffix) || !strings.HasSuffix(name, segSuffix) {
		return 0, false
	}
	digits := name[:segNameDigits]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	base, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return base, true
}

// listSegments returns the segment files of dir ordered by base sequence.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []uint64
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if base, ok := parseSegmentName(e.Name()); ok {
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// encodeSegmentHeader returns the header of a segment starting at base.
func encodeSegmentHeader(base uint64) []byte {
	h := make([]byte, segHeaderSize)
	copy(h[0:4], segMagic)
	binary.LittleEndian.PutUint16(h[4:6], formatVersion)
	// h[6:8] reserved, zero
	binary.LittleEndian.PutUint64(h[8:16], base)
	binary.LittleEndian.PutUint32(h[16:20], crc32.Checksum(h[0:16], castagnoli))
	return h
}

// checkSegmentHeader validates a segment header against the base from its file name.
// It returns the offset of the offending field and a reason when the header is bad.
func checkSegmentHeader(h []byte, base uint64) (int64, string, bool) {
	if len(h) < segHeaderSize {
		return int64(len(h)), fmt.Sprintf("segment header truncated (%d of %d bytes)", len(h), segHeaderSize), false
	}
	if string(h[0:4]) != segMagic {
		return 0, fmt.Sprintf("bad magic %q", h[0:4]), false
	}
	if got := binary.LittleEndian.Uint32(h[16:20]); got != crc32.Checksum(h[0:16], castagnoli) {
		return 16, "segment header checksum mismatch", false
	}
	if v := binary.LittleEndian.Uint16(h[4:6]); v != formatVersion {
		return 4, fmt.Sprintf("unsupported format version %d", v), false
	}
	if got := binary.LittleEndian.Uint64(h[8:16]); got != base {
		return 8, fmt.Sprintf("header base sequence %d does not match file name (%d)", got, base), false
	}
	return 0, "", true
}

// appendRecord appends the encoding of one record to dst.
func appendRecord(dst []byte, seq uint64, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, recHeaderSize)...)
	dst = append(dst, payload...)
	h := dst[start:]
	binary.LittleEndian.PutUint32(h[4:8], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:16], seq)
	binary.LittleEndian.PutUint32(h[0:4], crc32.Checksum(h[4:], castagnoli))
	return dst
}

// recordSize is the encoded size of a record with an n-byte payload.
func recordSize(n int) int64 { return recHeaderSize + int64(n) }

// Decoding failures. errRecordTruncated means the bytes ended inside the record (what a
// torn write leaves); the others mean the bytes are present but wrong.
var (
	errRecordTruncated = errors.New("truncated record")
	errRecordLength    = errors.New("record length exceeds maximum payload")
	errRecordChecksum  = errors.New("record checksum mismatch")
)

// decodeRecord decodes the record at the start of b. payload aliases b; n is the number
// of bytes the record occupies.
func decodeRecord(b []byte) (seq uint64, payload []byte, n int, err error) {
	if len(b) < recHeaderSize {
		return 0, nil, 0, errRecordTruncated
	}
	ln := binary.LittleEndian.Uint32(b[4:8])
	if ln > MaxPayload {
		return 0, nil, 0, errRecordLength
	}
	n = recHeaderSize + int(ln)
	if len(b) < n {
		return 0, nil, 0, errRecordTruncated
	}
	if binary.LittleEndian.Uint32(b[0:4]) != crc32.Checksum(b[4:n], castagnoli) {
		return 0, nil, 0, errRecordChecksum
	}
	return binary.LittleEndian.Uint64(b[8:16]), b[recHeaderSize:n:n], n, nil
}

// window is a read-ahead buffer over a file read with ReadAt. Slices it returns are
// valid until the next call.
type window struct {
	ra   io.ReaderAt
	buf  []byte
	data []byte // bytes of the file starting at off
	off  int64
}

func (w *window) reset(ra io.ReaderAt) {
	w.ra = ra
	w.data = nil
	w.off = 0
}

// bytes returns the file bytes [off, off+n), never reading at or past end. The result is
// shorter than n when end (or the end of the file) comes first.
func (w *window) bytes(off int64, n int, end int64) ([]byte, error) {
	if off >= w.off && off+int64(n) <= w.off+int64(len(w.data)) {
		i := int(off - w.off)
		return w.data[i : i+n], nil
	}
	want := max(n, readChunkBytes)
	if rem := end - off; int64(want) > rem {
		want = int(max(rem, 0))
	}
	if cap(w.buf) < want {
		w.buf = make([]byte, want)
	}
	nr, err := w.ra.ReadAt(w.buf[:want], off)
	if err != nil && !errors.Is(err, io.EOF) {
		w.data = nil
		return nil, err
	}
	w.data = w.buf[:nr]
	w.off = off
	return w.data[:min(n, nr)], nil
}

// readRecord reads the record at off (bytes at or past end are not read). payload
// aliases the window.
func (w *window) readRecord(off, end int64) (seq uint64, payload []byte, n int, err error) {
	h, err := w.bytes(off, recHeaderSize, end)
	if err != nil {
		return 0, nil, 0, err
	}
	if len(h) < recHeaderSize {
		return 0, nil, 0, errRecordTruncated
	}
	ln := binary.LittleEndian.Uint32(h[4:8])
	if ln > MaxPayload {
		return 0, nil, 0, errRecordLength
	}
	b, err := w.bytes(off, recHeaderSize+int(ln), end)
	if err != nil {
		return 0, nil, 0, err
	}
	return decodeRecord(b)
}

// recordFailure describes why the record at off could not be read, for logs and
// CorruptionError.Reason.
func recordFailure(err error, w *window, off, end int64) string {
	switch {
	case errors.Is(err, errRecordTruncated):
		if end-off < recHeaderSize {
			return fmt.Sprintf("truncated record header (%d of %d bytes)", end-off, recHeaderSize)
		}
		if h, herr := w.bytes(off, recHeaderSize, end); herr == nil && len(h) == recHeaderSize {
			return fmt.Sprintf("truncated payload (%d of %d bytes)", end-off-recHeaderSize, binary.LittleEndian.Uint32(h[4:8]))
		}
		return "truncated record"
	case errors.Is(err, errRecordLength):
		return fmt.Sprintf("record length exceeds maximum payload (%d bytes)", MaxPayload)
	default:
		return err.Error()
	}
}

// scanResult is what scanRecords found in a segment.
type scanResult struct {
	next    uint64 // sequence the next record must carry
	goodEnd int64  // offset just past the last good record
	err     error  // why scanning stopped before end (nil: clean end)
	reason  string // human description of err
	seqErr  bool   // the record had a valid checksum but the wrong sequence
}

// scanRecords verifies the records of a segment from offset start to end, expecting
// sequences from base on.
func scanRecords(w *window, start, end int64, base uint64) scanResult {
	r := scanResult{next: base, goodEnd: start}
	for r.goodEnd < end {
		seq, _, n, err := w.readRecord(r.goodEnd, end)
		if err != nil {
			r.err, r.reason = err, recordFailure(err, w, r.goodEnd, end)
			return r
		}
		if seq != r.next {
			r.err = errors.New("sequence mismatch")
			r.reason = fmt.Sprintf("record has sequence %d, expected %d", seq, r.next)
			r.seqErr = true
			return r
		}
		r.goodEnd += int64(n)
		r.next++
	}
	return r
}

// validRecordAfter reports whether a valid record with a sequence >= minSeq starts
// anywhere in [from, end). It tells mid-segment damage (valid records follow) from a
// torn tail (nothing valid follows). Candidates are filtered by a plausible sequence and
// length before their checksum is computed.
func validRecordAfter(w *window, from, end int64, minSeq uint64) (bool, error) {
	for p := from; p+recHeaderSize <= end; p++ {
		h, err := w.bytes(p, recHeaderSize, end)
		if err != nil {
			return false, err
		}
		if len(h) < recHeaderSize {
			return false, nil
		}
		seq := binary.LittleEndian.Uint64(h[8:16])
		if seq < minSeq || seq-minSeq > uint64(end-p)/recHeaderSize {
			continue
		}
		ln := binary.LittleEndian.Uint32(h[4:8])
		if ln > MaxPayload || p+recHeaderSize+int64(ln) > end {
			continue
		}
		b, err := w.bytes(p, recHeaderSize+int(ln), end)
		if err != nil {
			return false, err
		}
		if _, _, _, err := decodeRecord(b); err == nil {
			return true, nil
		}
	}
	return false, nil
}

// segment is the in-memory description of one segment file. base and path never
// change; the other fields are guarded by WAL.mu.
type segment struct {
	base   uint64
	path   string
	last   uint64 // last durable sequence in the segment; base-1 when it has none
	size   int64  // durable size in bytes (header included)
	sealed bool   // a later segment exists; this one will not grow
}

// segFile is the writable side of the active segment. It is an interface so tests can
// inject write and sync failures.
type segFile interface {
	WriteAt(p []byte, off int64) (int, error)
	Truncate(size int64) error
	Sync() error
	Close() error
}

// openSegmentFile opens (or creates, with flag) a segment file for writing.
func openSegmentFile(path string, flag int) (segFile, error) {
	return os.OpenFile(path, flag, 0o644)
}

// syncDir fsyncs a directory so that file creations and removals in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// segmentPath is the path of the segment starting at base in dir.
func segmentPath(dir string, base uint64) string {
	return filepath.Join(dir, segmentName(base))
}
