package routing

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Record is an accepted event as it is stored in the WAL: the event plus the routes it
// must reach. The WAL assigns Seq.
type Record struct {
	Event
	Routes []string
	// Replay marks a dead letter sent again: the ledger counted it as accepted the
	// first time, so it must not be counted again.
	Replay bool
	// Erasure marks an erasure request (erasure.go), not an event: Routes are the
	// latest-mode routes that must remove Key of Contract, in WAL order with the events
	// before and after it. ID is the request's id, Time and Received when it was made,
	// Data is empty.
	Erasure bool
	// producerID: the producer chose the id (it may resend it; see dedup.go), rather
	// than the router generating it.
	producerID bool
}

// recordVersion is the first byte of every WAL payload written by this package.
const recordVersion = 1

const (
	flagReplay     = 1
	flagProducerID = 2
	flagErasure    = 4
)

// maxRoutesPerRecord bounds decoding work on a corrupt payload.
const maxRoutesPerRecord = 256

// AppendRecord encodes r (without Seq, which the WAL holds) as a WAL payload.
//
// Payload format, version 1 (all integers are unsigned LEB128 varints unless noted;
// "str" is a varint length followed by that many UTF-8 bytes):
//
//	u8   version (= 1)
//	u8   flags: bit 0 = replay of a dead letter; bit 1 = the producer chose the event
//	     id (the router generated it otherwise); bit 2 = an erasure request, not an
//	     event (its data is empty); other bits zero
//	str  event id
//	str  contract (subject)
//	uvar schema id
//	str  key
//	var  event time, Unix microseconds (zigzag varint)
//	var  received time, Unix microseconds (zigzag varint)
//	uvar number of routes, then that many str route names
//	str  data: the Avro binary datum under schema id (the rest of the payload)
func AppendRecord(dst []byte, r *Record) []byte {
	var flags byte
	if r.Replay {
		flags |= flagReplay
	}
	if r.producerID {
		flags |= flagProducerID
	}
	if r.Erasure {
		flags |= flagErasure
	}
	dst = append(dst, recordVersion, flags)
	dst = appendString(dst, r.ID)
	dst = appendString(dst, r.Contract)
	dst = binary.AppendUvarint(dst, uint64(r.SchemaID))
	dst = appendString(dst, r.Key)
	dst = binary.AppendVarint(dst, r.Time.UnixMicro())
	dst = binary.AppendVarint(dst, r.Received.UnixMicro())
	dst = binary.AppendUvarint(dst, uint64(len(r.Routes)))
	for _, rt := range r.Routes {
		dst = appendString(dst, rt)
	}
	return appendString(dst, string(r.Data))
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var (
	errShortRecord      = errors.New("record is truncated")
	errNonMinimalVarint = errors.New("record has a varint that is not minimally encoded")
)

// DecodeRecord decodes a WAL payload. Data aliases p.
func DecodeRecord(seq uint64, p []byte) (*Record, error) {
	d := decoder{buf: p}
	if v := d.byte(); v != recordVersion {
		if d.err != nil {
			return nil, d.err
		}
		return nil, fmt.Errorf("record %d: unknown payload version %d", seq, v)
	}
	flags := d.byte()
	if flags&^(flagReplay|flagProducerID|flagErasure) != 0 {
		return nil, fmt.Errorf("record %d: unknown flags %#x", seq, flags)
	}
	r := &Record{Replay: flags&flagReplay != 0, producerID: flags&flagProducerID != 0, Erasure: flags&flagErasure != 0}
	r.Seq = seq
	r.ID = d.string()
	r.Contract = d.string()
	if id := d.uvarint(); id > math.MaxInt32 {
		return nil, fmt.Errorf("record %d: schema id %d is out of range", seq, id)
	} else {
		r.SchemaID = int(id)
	}
	r.Key = d.string()
	r.Time = time.UnixMicro(d.varint()).UTC()
	r.Received = time.UnixMicro(d.varint()).UTC()
	n := d.uvarint()
	if n > maxRoutesPerRecord {
		return nil, fmt.Errorf("record %d: %d routes is more than %d", seq, n, maxRoutesPerRecord)
	}
	r.Routes = make([]string, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		r.Routes = append(r.Routes, d.string())
	}
	r.Data = d.bytes()
	if d.err != nil {
		return nil, fmt.Errorf("record %d: %w", seq, d.err)
	}
	if len(d.buf) != 0 {
		return nil, fmt.Errorf("record %d: %d unexpected trailing bytes", seq, len(d.buf))
	}
	return r, nil
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.buf) < 1 {
		d.err = errShortRecord
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.err = errShortRecord
		return 0
	}
	if n != uvarintLen(v) {
		// A padded varint decodes to the same value; refusing it keeps one payload
		// per record, so a decoded record re-encodes to exactly the bytes read.
		d.err = errNonMinimalVarint
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.err = errShortRecord
		return 0
	}
	if ux := uint64(v) << 1; n != uvarintLen(ux^uint64(v>>63)) {
		d.err = errNonMinimalVarint
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// uvarintLen is the length of the minimal encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.err = errShortRecord
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) string() string { return string(d.bytes()) }

// HasRoute reports whether the record must reach route.
func (r *Record) HasRoute(route string) bool {
	for _, rt := range r.Routes {
		if rt == route {
			return true
		}
	}
	return false
}
