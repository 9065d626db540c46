package avrovalue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/hamba/avro/v2"
)

// maxDepth bounds nesting (recursive schemas) so corrupt data cannot exhaust the stack.
const maxDepth = 256

var errTruncated = errors.New("data is truncated")

// Decode decodes one Avro binary datum of schema. The whole of data must be that datum.
func Decode(schema avro.Schema, data []byte) (any, error) {
	d := decoder{buf: data}
	v := d.value(schema, 0)
	if d.err != nil {
		return nil, fmt.Errorf("avro decode: %w", d.err)
	}
	if len(d.buf) != 0 {
		return nil, fmt.Errorf("avro decode: %d trailing bytes after the datum", len(d.buf))
	}
	return v, nil
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) long() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) int() int32 {
	v := d.long()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail(fmt.Errorf("int %d out of range", v))
		return 0
	}
	return int32(v)
}

func (d *decoder) take(n int64) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > int64(len(d.buf)) {
		d.fail(errTruncated)
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) bytes() []byte {
	b := d.take(d.long())
	if d.err != nil {
		return nil
	}
	return append([]byte{}, b...)
}

// blocks reads an array or map encoding: blocks of count items (a negative count is
// followed by the block's byte size), ending with a zero count.
func (d *decoder) blocks(item func()) {
	for d.err == nil {
		n := d.long()
		if n == 0 {
			return
		}
		if n < 0 {
			if n == math.MinInt64 {
				d.fail(errors.New("invalid block count"))
				return
			}
			n = -n
			d.long() // block size in bytes; not needed to decode
		}
		if n > int64(len(d.buf))+1 && n > 1<<20 {
			d.fail(errTruncated)
			return
		}
		for i := int64(0); i < n && d.err == nil; i++ {
			item()
		}
	}
}

func (d *decoder) value(s avro.Schema, depth int) any {
	if d.err != nil {
		return nil
	}
	if depth > maxDepth {
		d.fail(fmt.Errorf("nesting deeper than %d", maxDepth))
		return nil
	}
	switch s := s.(type) {
	case *avro.RefSchema:
		return d.value(s.Schema(), depth+1)
	case *avro.NullSchema:
		return nil
	case *avro.PrimitiveSchema:
		return d.primitive(s)
	case *avro.RecordSchema:
		r := &Record{Name: s.FullName(), Fields: make([]Field, 0, len(s.Fields()))}
		for _, f := range s.Fields() {
			r.Fields = append(r.Fields, Field{Name: f.Name(), Value: d.value(f.Type(), depth+1)})
		}
		return r
	case *avro.EnumSchema:
		i := d.int()
		syms := s.Symbols()
		if d.err == nil && (i < 0 || int(i) >= len(syms)) {
			d.fail(fmt.Errorf("enum %s: symbol index %d out of range", s.FullName(), i))
		}
		if d.err != nil {
			return nil
		}
		return syms[i]
	case *avro.ArraySchema:
		items := []any{}
		d.blocks(func() { items = append(items, d.value(s.Items(), depth+1)) })
		return items
	case *avro.MapSchema:
		m := map[string]any{}
		d.blocks(func() {
			k := string(d.take(d.long()))
			m[k] = d.value(s.Values(), depth+1)
		})
		return m
	case *avro.UnionSchema:
		i := d.long()
		types := s.Types()
		if d.err == nil && (i < 0 || i >= int64(len(types))) {
			d.fail(fmt.Errorf("union branch %d out of range", i))
		}
		if d.err != nil {
			return nil
		}
		return d.value(types[i], depth+1)
	case *avro.FixedSchema:
		b := append([]byte{}, d.take(int64(s.Size()))...)
		if d.err != nil {
			return nil
		}
		if dec, ok := s.Logical().(*avro.DecimalLogicalSchema); ok {
			return decimal(b, dec)
		}
		return b
	}
	d.fail(fmt.Errorf("unsupported schema type %T", s))
	return nil
}

func (d *decoder) primitive(s *avro.PrimitiveSchema) any {
	logical := avro.LogicalType("")
	if l := s.Logical(); l != nil {
		logical = l.Type()
	}
	switch s.Type() {
	case avro.Null:
		return nil
	case avro.Boolean:
		b := d.take(1)
		if d.err != nil {
			return nil
		}
		if b[0] > 1 {
			d.fail(fmt.Errorf("boolean byte %d", b[0]))
			return nil
		}
		return b[0] == 1
	case avro.Int:
		v := d.int()
		switch logical {
		case avro.Date:
			return Date{Days: v}
		case avro.TimeMillis:
			return time.Duration(v) * time.Millisecond
		}
		return v
	case avro.Long:
		v := d.long()
		switch logical {
		case avro.TimestampMillis:
			return time.UnixMilli(v).UTC()
		case avro.TimestampMicros:
			return time.UnixMicro(v).UTC()
		case "timestamp-nanos":
			return time.Unix(0, v).UTC()
		case avro.LocalTimestampMillis:
			return LocalTimestamp{time.UnixMilli(v).UTC()}
		case avro.LocalTimestampMicros:
			return LocalTimestamp{time.UnixMicro(v).UTC()}
		case avro.TimeMicros:
			return time.Duration(v) * time.Microsecond
		}
		return v
	case avro.Float:
		b := d.take(4)
		if d.err != nil {
			return nil
		}
		return math.Float32frombits(binary.LittleEndian.Uint32(b))
	case avro.Double:
		b := d.take(8)
		if d.err != nil {
			return nil
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case avro.String:
		return string(d.take(d.long()))
	case avro.Bytes:
		b := d.bytes()
		if d.err != nil {
			return nil
		}
		if dec, ok := s.Logical().(*avro.DecimalLogicalSchema); ok {
			return decimal(b, dec)
		}
		return b
	}
	d.fail(fmt.Errorf("unsupported primitive type %s", s.Type()))
	return nil
}

// decimal decodes a big-endian two's complement unscaled value.
func decimal(b []byte, l *avro.DecimalLogicalSchema) Decimal {
	u := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		u.Sub(u, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return Decimal{Unscaled: u, Scale: l.Scale(), Precision: l.Precision()}
}
