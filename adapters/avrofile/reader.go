package avrofile

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/routing"
)

// StoredEvent is one event read back from a data file.
type StoredEvent struct {
	Seq      uint64
	ID       string
	Key      string
	Time     time.Time // UTC, microsecond precision
	Received time.Time // UTC, microsecond precision
	SchemaID int
	Data     map[string]any // the contract record as hamba decodes it into Go values
}

type storedRecord struct {
	Seq      int64          `avro:"seq"`
	ID       string         `avro:"id"`
	Key      string         `avro:"key"`
	Time     time.Time      `avro:"time"`
	Received time.Time      `avro:"received"`
	SchemaID int            `avro:"schema_id"`
	Data     map[string]any `avro:"data"`
}

// readConfig decodes stored files: hamba's defaults, with room for large values.
var readConfig = avro.Config{MaxByteSliceSize: 256 << 20}.Freeze()

// Decode decodes a data file held in memory and returns its events in file order.
// The container framing (header, blocks, sync markers, codec) is parsed by this
// package; every record is decoded by hamba's decoder against the writer schema
// stored in the file, so the values are checked independently of the writer.
// (hamba's ocf package would also parse the framing, but it pulls in compression
// modules the adapters do not need.)
func Decode(raw []byte) ([]StoredEvent, error) {
	c, ws, err := open(raw)
	if err != nil {
		return nil, err
	}
	var out []StoredEvent
	for bi, blk := range c.Blocks {
		r := bytes.NewReader(blk.Data)
		dec := readConfig.NewDecoder(ws, r)
		for i := int64(0); i < blk.Count; i++ {
			var rec storedRecord
			if err := dec.Decode(&rec); err != nil {
				return nil, fmt.Errorf("block %d: event %d: %w", bi, len(out), err)
			}
			out = append(out, StoredEvent{
				Seq: uint64(rec.Seq), ID: rec.ID, Key: rec.Key,
				Time: rec.Time.UTC(), Received: rec.Received.UTC(),
				SchemaID: rec.SchemaID, Data: rec.Data,
			})
		}
	}
	return out, nil
}

// open parses a container file and its writer schema.
func open(raw []byte) (*Container, avro.Schema, error) {
	c, err := ParseContainer(raw)
	if err != nil {
		return nil, nil, err
	}
	// A fresh schema cache per file: two files may hold different versions of one
	// named type, which hamba's global cache would mix up.
	ws, err := avro.ParseWithCache(string(c.Meta[MetaSchema]), "", &avro.SchemaCache{})
	if err != nil {
		return nil, nil, fmt.Errorf("writer schema: %w", err)
	}
	return c, ws, nil
}

// Summary is what this package's own reader learns from a data file: enough to
// rebuild its manifest and to compare it with a batch.
type Summary struct {
	Manifest Manifest
	Seqs     []uint64 // sequence numbers, in file order
	IDs      []string // event ids, in file order
}

// Holds reports whether the file holds exactly events, in this order (same sequence
// numbers and ids): the file a commit of these events would have written.
func (s *Summary) Holds(events []*routing.Event) bool {
	if len(s.Seqs) != len(events) {
		return false
	}
	for i, ev := range events {
		if s.Seqs[i] != ev.Seq || s.IDs[i] != ev.ID {
			return false
		}
	}
	return true
}

// Summarize reads a data file (named name) held in memory with this package's
// container reader, checking every record against the wrapper schema, and returns its
// manifest. An error means raw is not a valid data file.
func Summarize(name string, raw []byte) (*Summary, error) {
	sum := sha256.Sum256(raw)
	c, ws, err := open(raw)
	if err != nil {
		return nil, err
	}
	data, err := dataSchema(ws)
	if err != nil {
		return nil, err
	}
	sm := &Summary{Manifest: Manifest{
		File:  name,
		Codec: c.Codec,
		Bytes: int64(len(raw)),
		Route: string(c.Meta[MetaRoute]),
	}}
	m := &sm.Manifest
	m.SHA256 = hex.EncodeToString(sum[:])
	var contracts []string
	if v, ok := c.Meta[MetaContracts]; ok {
		if err := json.Unmarshal(v, &contracts); err != nil {
			return nil, fmt.Errorf("metadata %s: %w", MetaContracts, err)
		}
	}
	m.setContracts(contracts)
	var minT, maxT int64
	for _, blk := range c.Blocks {
		r := &cursor{b: blk.Data}
		for i := int64(0); i < blk.Count; i++ {
			seq := r.long()
			id := r.bytes()
			r.bytes() // key
			t := r.long()
			r.long() // received
			schemaID := r.int()
			r.skip(data)
			if r.err != nil {
				return nil, fmt.Errorf("event %d: %w", m.Count, r.err)
			}
			if m.Count == 0 {
				m.FirstSeq, m.SchemaID, minT, maxT = uint64(seq), int(schemaID), t, t
			}
			m.LastSeq = uint64(seq)
			minT, maxT = min(minT, t), max(maxT, t)
			m.Count++
			sm.Seqs = append(sm.Seqs, uint64(seq))
			sm.IDs = append(sm.IDs, string(id))
		}
		if len(r.b) != 0 {
			return nil, fmt.Errorf("%d stray byte(s) at the end of a block", len(r.b))
		}
	}
	if m.Count == 0 {
		return nil, errors.New("no events")
	}
	m.MinTime, m.MaxTime = time.UnixMicro(minT).UTC(), time.UnixMicro(maxT).UTC()
	return sm, nil
}

// cursor reads binary values with a sticky error.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) long() int64 { return c.number(readLong) }
func (c *cursor) int() int64  { return c.number(readInt) }

func (c *cursor) number(read func([]byte) (int64, []byte, error)) int64 {
	if c.err != nil {
		return 0
	}
	var v int64
	v, c.b, c.err = read(c.b)
	return v
}

func (c *cursor) bytes() []byte {
	if c.err != nil {
		return nil
	}
	var v []byte
	v, c.b, c.err = readBytes(c.b)
	return v
}

func (c *cursor) skip(s avro.Schema) {
	if c.err == nil {
		c.b, c.err = skipDatum(s, c.b, 0)
	}
}

// dataSchema returns the schema of the wrapper's data field, checking that the fields
// before it are the envelope this package writes.
func dataSchema(ws avro.Schema) (avro.Schema, error) {
	rec, ok := ws.(*avro.RecordSchema)
	if !ok {
		return nil, errors.New("writer schema is not a record")
	}
	want := []struct {
		name string
		typ  avro.Type
	}{{"seq", avro.Long}, {"id", avro.String}, {"key", avro.String}, {"time", avro.Long}, {"received", avro.Long}, {"schema_id", avro.Int}, {"data", ""}}
	fields := rec.Fields()
	if len(fields) != len(want) {
		return nil, fmt.Errorf("writer schema has %d fields, want %d", len(fields), len(want))
	}
	for i, w := range want {
		if fields[i].Name() != w.name || (w.typ != "" && fields[i].Type().Type() != w.typ) {
			return nil, fmt.Errorf("writer schema field %d is %s %s, want %s %s", i, fields[i].Name(), fields[i].Type().Type(), w.name, w.typ)
		}
	}
	return fields[len(fields)-1].Type(), nil
}

// Block is one data block of a container file.
type Block struct {
	Count int64
	Data  []byte // decompressed
}

// Container is a parsed object container file.
type Container struct {
	Meta   map[string][]byte
	Codec  string
	Blocks []Block
}

// ParseContainer parses an object container file held in memory: magic, metadata,
// sync marker, and blocks (each followed by the same sync marker), inflating deflate
// blocks. Only the null and deflate codecs are supported.
func ParseContainer(b []byte) (*Container, error) {
	if len(b) < len(magic) || !bytes.Equal(b[:len(magic)], magic[:]) {
		return nil, errors.New("not an Avro object container file (bad magic)")
	}
	b = b[len(magic):]
	c := &Container{Meta: map[string][]byte{}}
	var err error
	for {
		var n int64
		if n, b, err = readLong(b); err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
		if n == 0 {
			break
		}
		if n < 0 {
			if _, b, err = readLong(b); err != nil { // block byte size
				return nil, fmt.Errorf("metadata: %w", err)
			}
			n = -n
		}
		for ; n > 0; n-- {
			var k, v []byte
			if k, b, err = readBytes(b); err != nil {
				return nil, fmt.Errorf("metadata: %w", err)
			}
			if v, b, err = readBytes(b); err != nil {
				return nil, fmt.Errorf("metadata: %w", err)
			}
			c.Meta[string(k)] = v
		}
	}
	if len(b) < syncSize {
		return nil, errors.New("header: missing sync marker")
	}
	sync := b[:syncSize]
	b = b[syncSize:]
	c.Codec = string(c.Meta[MetaCodec])
	if c.Codec == "" {
		c.Codec = CodecNull
	}
	if c.Codec != CodecNull && c.Codec != CodecDeflate {
		return nil, fmt.Errorf("unsupported codec %q", c.Codec)
	}
	for len(b) > 0 {
		var count int64
		var data []byte
		if count, b, err = readLong(b); err != nil {
			return nil, fmt.Errorf("block %d: %w", len(c.Blocks), err)
		}
		if data, b, err = readBytes(b); err != nil {
			return nil, fmt.Errorf("block %d: %w", len(c.Blocks), err)
		}
		if count < 0 {
			return nil, fmt.Errorf("block %d: negative count %d", len(c.Blocks), count)
		}
		if len(b) < syncSize || !bytes.Equal(b[:syncSize], sync) {
			return nil, fmt.Errorf("block %d: sync marker mismatch", len(c.Blocks))
		}
		b = b[syncSize:]
		if c.Codec == CodecDeflate {
			if data, err = io.ReadAll(flate.NewReader(bytes.NewReader(data))); err != nil {
				return nil, fmt.Errorf("block %d: inflate: %w", len(c.Blocks), err)
			}
		}
		c.Blocks = append(c.Blocks, Block{Count: count, Data: data})
	}
	return c, nil
}
