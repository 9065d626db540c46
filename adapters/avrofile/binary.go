package avrofile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hamba/avro/v2"
)

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

// CheckDatum reports whether data is exactly one well-formed binary datum of schema s:
// union indexes, enum symbols, lengths and block counts in range, nothing missing or
// left over. It walks the bytes without building values, so a corrupt event is
// rejected on its own instead of making a whole file unreadable.
func CheckDatum(s avro.Schema, data []byte) error {
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
