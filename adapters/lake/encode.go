package lake

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
)

// Object container file constants (Avro specification, "Object Container Files").
var magic = [4]byte{'O', 'b', 'j', 1}

const (
	syncSize = 16

	metaSchema    = "avro.schema"
	metaCodec     = "avro.codec"
	metaContracts = "waybill.contracts" // JSON array of the contracts in the file
	metaRoute     = "waybill.route"     // route that wrote the file
	metaSchemaID  = "waybill.schema_id" // registry id of the data field's schema

	// blockTarget is the uncompressed size after which a data block is closed. Blocks
	// bound the memory a reader needs and let splitting readers seek by sync marker.
	blockTarget = 1 << 20

	wrapperNamespace = "waybill"
	wrapperName      = "Event"
)

// wrapperFields are the fields before "data", in order; the binary encoding of a
// wrapper datum is their encodings followed by Event.Data verbatim.
const wrapperFields = `{"name":"seq","type":"long","doc":"WAL sequence number"},` +
	`{"name":"id","type":"string","doc":"event id (idempotency key)"},` +
	`{"name":"key","type":"string","doc":"entity key, empty when the contract has none"},` +
	`{"name":"time","type":{"type":"long","logicalType":"timestamp-micros"},"doc":"event time"},` +
	`{"name":"received","type":{"type":"long","logicalType":"timestamp-micros"},"doc":"when the router accepted the event"},` +
	`{"name":"schema_id","type":"int","doc":"registry id of the schema of data"}`

// wrapper is the writer schema of files holding one contract schema.
type wrapper struct {
	contract avro.Schema // the data field's schema, as resolved
	json     []byte      // the wrapper schema text written as avro.schema
}

// newWrapper builds the waybill.Event wrapper schema around a contract schema and
// checks that it parses. The contract is embedded in hamba's full JSON form, which keeps
// logical types, defaults and custom properties. Named types of a contract without a
// namespace inherit the wrapper's namespace ("waybill") once embedded; if one of them
// would then collide with the wrapper's own name, the wrapper is named Event1, Event2...
// instead.
func newWrapper(contract avro.Schema) (*wrapper, error) {
	inner, err := json.Marshal(contract)
	if err != nil {
		return nil, fmt.Errorf("encoding the contract schema: %w", err)
	}
	taken := map[string]bool{}
	collectNames(contract, taken, map[avro.Schema]bool{})
	name := wrapperName
	for i := 1; taken[wrapperNamespace+"."+name]; i++ {
		name = wrapperName + strconv.Itoa(i)
	}
	text := `{"type":"record","name":"` + name + `","namespace":"` + wrapperNamespace + `",` +
		`"doc":"One Waybill event: envelope fields and the contract record.","fields":[` +
		wrapperFields + `,{"name":"data","type":` + string(inner) + `}]}`
	if _, err := avro.ParseWithCache(text, "", &avro.SchemaCache{}); err != nil {
		return nil, fmt.Errorf("embedding the contract schema in the %s.%s wrapper: %w", wrapperNamespace, name, err)
	}
	return &wrapper{contract: contract, json: []byte(text)}, nil
}

// collectNames adds the full names the named types of s get once embedded in the
// wrapper: names without a namespace move into the wrapper's.
func collectNames(s avro.Schema, names map[string]bool, seen map[avro.Schema]bool) {
	if seen[s] {
		return
	}
	seen[s] = true
	if n, ok := s.(avro.NamedSchema); ok {
		full := n.FullName()
		if !strings.Contains(full, ".") {
			full = wrapperNamespace + "." + full
		}
		names[full] = true
	}
	switch s := s.(type) {
	case *avro.RecordSchema:
		for _, f := range s.Fields() {
			collectNames(f.Type(), names, seen)
		}
	case *avro.ArraySchema:
		collectNames(s.Items(), names, seen)
	case *avro.MapSchema:
		collectNames(s.Values(), names, seen)
	case *avro.UnionSchema:
		for _, t := range s.Types() {
			collectNames(t, names, seen)
		}
	}
}

// appendLong appends an Avro long (or int): zig-zag, then base-128 varint, which is
// exactly encoding/binary's signed varint.
func appendLong(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func appendString(b []byte, s string) []byte {
	b = appendLong(b, int64(len(s)))
	return append(b, s...)
}

// micros is the timestamp-micros value of t.
func micros(t time.Time) int64 { return t.UnixMicro() }

// appendEnvelope appends the wrapper fields before "data".
func appendEnvelope(b []byte, seq uint64, id, key string, t, received time.Time, schemaID int) []byte {
	b = appendLong(b, int64(seq))
	b = appendString(b, id)
	b = appendString(b, key)
	b = appendLong(b, micros(t))
	b = appendLong(b, micros(received))
	return appendLong(b, int64(schemaID))
}

var errShort = errors.New("unexpected end of data")

// readLong reads an Avro long from b.
func readLong(b []byte) (int64, []byte, error) {
	v, n := binary.Varint(b)
	if n == 0 {
		return 0, nil, errShort
	}
	if n < 0 {
		return 0, nil, errors.New("long overflows 64 bits")
	}
	return v, b[n:], nil
}

func readInt(b []byte) (int64, []byte, error) {
	v, rest, err := readLong(b)
	if err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
		err = fmt.Errorf("int %d overflows 32 bits", v)
	}
	return v, rest, err
}

// readBytes reads an Avro bytes or string value without copying.
func readBytes(b []byte) ([]byte, []byte, error) {
	n, b, err := readLong(b)
	if err != nil {
		return nil, nil, err
	}
	if n < 0 {
		return nil, nil, fmt.Errorf("negative length %d", n)
	}
	if n > int64(len(b)) {
		return nil, nil, errShort
	}
	return b[:n], b[n:], nil
}

// checkDatum reports whether data is exactly one well-formed binary datum of schema s:
// union indexes, enum symbols, lengths and block counts in range, nothing missing or
// left over. It walks the bytes without building values, so a corrupt event is
// rejected on its own instead of making a whole file unreadable.
func checkDatum(s avro.Schema, data []byte) error {
	rest, err := skipDatum(s, data, 0)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%d trailing byte(s) after the datum", len(rest))
	}
	return nil
}

// maxDepth bounds nesting, so a recursive schema cannot exhaust the stack on hostile
// data.
const maxDepth = 1000

func skipDatum(s avro.Schema, b []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nesting deeper than %d", maxDepth)
	}
	switch s := s.(type) {
	case *avro.NullSchema:
		return b, nil
	case *avro.RefSchema:
		return skipDatum(s.Schema(), b, depth+1)
	case *avro.RecordSchema:
		var err error
		for _, f := range s.Fields() {
			if b, err = skipDatum(f.Type(), b, depth+1); err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name(), err)
			}
		}
		return b, nil
	case *avro.EnumSchema:
		i, b, err := readInt(b)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(s.Symbols())) {
			return nil, fmt.Errorf("enum %s: symbol index %d out of range", s.FullName(), i)
		}
		return b, nil
	case *avro.FixedSchema:
		if len(b) < s.Size() {
			return nil, errShort
		}
		return b[s.Size():], nil
	case *avro.UnionSchema:
		i, b, err := readLong(b)
		if err != nil {
			return nil, err
		}
		types := s.Types()
		if i < 0 || i >= int64(len(types)) {
			return nil, fmt.Errorf("union index %d out of range [0,%d)", i, len(types))
		}
		return skipDatum(types[i], b, depth+1)
	case *avro.ArraySchema:
		return skipBlocks(b, depth, func(b []byte) ([]byte, error) { return skipDatum(s.Items(), b, depth+1) })
	case *avro.MapSchema:
		return skipBlocks(b, depth, func(b []byte) ([]byte, error) {
			_, b, err := readBytes(b)
			if err != nil {
				return nil, fmt.Errorf("map key: %w", err)
			}
			return skipDatum(s.Values(), b, depth+1)
		})
	case *avro.PrimitiveSchema:
		switch s.Type() {
		case avro.Null:
			return b, nil
		case avro.Boolean:
			if len(b) < 1 {
				return nil, errShort
			}
			if b[0] > 1 {
				return nil, fmt.Errorf("boolean byte %d", b[0])
			}
			return b[1:], nil
		case avro.Int:
			_, b, err := readInt(b)
			return b, err
		case avro.Long:
			_, b, err := readLong(b)
			return b, err
		case avro.Float:
			if len(b) < 4 {
				return nil, errShort
			}
			return b[4:], nil
		case avro.Double:
			if len(b) < 8 {
				return nil, errShort
			}
			return b[8:], nil
		case avro.Bytes, avro.String:
			_, b, err := readBytes(b)
			return b, err
		}
	}
	return nil, fmt.Errorf("unsupported schema type %s", s.Type())
}

// skipBlocks skips an array's or map's blocks, each a count (negative: followed by the
// block's byte size) and that many items, ending with a zero count.
func skipBlocks(b []byte, depth int, item func([]byte) ([]byte, error)) ([]byte, error) {
	for {
		n, rest, err := readLong(b)
		if err != nil {
			return nil, err
		}
		b = rest
		if n == 0 {
			return b, nil
		}
		if n < 0 {
			if n == math.MinInt64 {
				return nil, errors.New("block count overflows")
			}
			n = -n
			size, rest, err := readLong(b)
			if err != nil {
				return nil, err
			}
			if size < 0 || size > int64(len(rest)) {
				return nil, fmt.Errorf("block size %d out of range", size)
			}
			b = rest
		}
		// Items of zero-size types (null, an empty record) take no bytes, so a count
		// cannot be bounded by the remaining data alone; allow 1Mi such items beyond it.
		if n > int64(len(b))+1<<20 {
			return nil, fmt.Errorf("block count %d exceeds the data", n)
		}
		for ; n > 0; n-- {
			if b, err = item(b); err != nil {
				return nil, err
			}
		}
	}
}

// containerWriter writes one object container file: header, then blocks of records.
type containerWriter struct {
	w       io.Writer
	sync    [syncSize]byte
	deflate bool
	block   []byte // encoded records of the open block (Sink.encode appends to it)
	count   int    // records in the open block
	zbuf    bytes.Buffer
	zw      *flate.Writer
	scratch []byte
}

var flatePool = sync.Pool{New: func() any {
	zw, _ := flate.NewWriter(io.Discard, flate.DefaultCompression)
	return zw
}}

// newContainerWriter writes the header: magic, the metadata map (keys sorted, so equal
// inputs give equal headers) and the sync marker.
func newContainerWriter(w io.Writer, schema []byte, codec string, meta map[string]string, sync [syncSize]byte) (*containerWriter, error) {
	cw := &containerWriter{w: w, sync: sync, deflate: codec == CodecDeflate}
	h := append([]byte(nil), magic[:]...)
	keys := make([]string, 0, len(meta)+2)
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h = appendLong(h, int64(len(keys)+2))
	h = appendString(h, metaSchema)
	h = appendString(h, string(schema))
	h = appendString(h, metaCodec)
	h = appendString(h, codec)
	for _, k := range keys {
		h = appendString(h, k)
		h = appendString(h, meta[k])
	}
	h = appendLong(h, 0)
	h = append(h, sync[:]...)
	if _, err := w.Write(h); err != nil {
		return nil, err
	}
	if cw.deflate {
		cw.zw = flatePool.Get().(*flate.Writer)
	}
	return cw, nil
}

// flush writes the open block: count, byte size, data (raw DEFLATE for the deflate
// codec, RFC 1951, no zlib header or checksum), sync marker.
func (cw *containerWriter) flush() error {
	if cw.count == 0 {
		return nil
	}
	data := cw.block
	if cw.deflate {
		cw.zbuf.Reset()
		cw.zw.Reset(&cw.zbuf)
		if _, err := cw.zw.Write(cw.block); err != nil {
			return err
		}
		if err := cw.zw.Close(); err != nil {
			return err
		}
		data = cw.zbuf.Bytes()
	}
	h := appendLong(cw.scratch[:0], int64(cw.count))
	h = appendLong(h, int64(len(data)))
	cw.scratch = h
	for _, p := range [][]byte{h, data, cw.sync[:]} {
		if _, err := cw.w.Write(p); err != nil {
			return err
		}
	}
	cw.block = cw.block[:0]
	cw.count = 0
	return nil
}

// close flushes the last block and releases the compressor.
func (cw *containerWriter) close() error {
	err := cw.flush()
	if cw.zw != nil {
		flatePool.Put(cw.zw)
		cw.zw = nil
	}
	return err
}
