package wal

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record decoder: it must never panic, a
// record that decodes must re-encode to exactly the bytes it was decoded from, and the
// buffered file reader (window.readRecord) and the tail scanner must agree with it.
func FuzzDecodeRecord(f *testing.F) {
	seeds := [][]byte{
		appendRecord(nil, 1, []byte("hello")),
		appendRecord(nil, 2, nil),
		appendRecord(nil, 1<<63, bytes.Repeat([]byte{0xff}, 300)),
		appendRecord(appendRecord(nil, 7, []byte("a")), 8, []byte("bc")),
		appendRecord(nil, 3, []byte("torn"))[:10],
		appendRecord(nil, 3, []byte("torn"))[:18],
		make([]byte, 16),
		{},
	}
	bad := appendRecord(nil, 5, []byte("checksum"))
	bad[len(bad)-1] ^= 1
	seeds = append(seeds, bad)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, payload, n, err := decodeRecord(b)
		if err == nil {
			if n < recHeaderSize || n > len(b) || len(payload) != n-recHeaderSize {
				t.Fatalf("decoded n=%d payload=%d from %d bytes", n, len(payload), len(b))
			}
			if re := appendRecord(nil, seq, payload); !bytes.Equal(re, b[:n]) {
				t.Fatalf("re-encoding differs:\n got % x\nwant % x", re, b[:n])
			}
		} else if !isDecodeError(err) {
			t.Fatalf("unexpected error type %v", err)
		}

		// The same bytes read through a window from a "file".
		var w window
		w.reset(bytes.NewReader(b))
		seq2, payload2, n2, err2 := w.readRecord(0, int64(len(b)))
		if !errors.Is(err2, err) || seq2 != seq || n2 != n || !bytes.Equal(payload2, payload) {
			t.Fatalf("window.readRecord = (%d, %d, %v), decodeRecord = (%d, %d, %v)", seq2, n2, err2, seq, n, err)
		}
		if err != nil {
			_ = recordFailure(err, &w, 0, int64(len(b)))
		}

		// The tail scanner must not panic and must find a record that decodes at 0
		// (when told to look for its sequence).
		found, serr := validRecordAfter(&w, 0, int64(len(b)), seq)
		if serr != nil {
			t.Fatal(serr)
		}
		if err == nil && !found {
			t.Fatal("validRecordAfter missed a valid record at offset 0")
		}
	})
}
