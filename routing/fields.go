package routing

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/hamba/avro/v2"
)

// fieldAt reads the value at a dotted record path (the contract's key or time field)
// straight from one Avro binary datum of schema, skipping every field before it
// rather than decoding the whole record: intake does this for every event. Unions are
// looked through (a null branch is "absent", ok=false). Values are Go scalars: string,
// []byte (bytes, fixed), int32, int64, float32, float64, bool, or the enum symbol;
// logical types stay in their underlying form (a timestamp-millis is an int64).
func fieldAt(schema avro.Schema, data []byte, path string) (v any, ok bool, err error) {
	c := avroCursor{b: data}
	s := schema
	for part := range strings.SplitSeq(path, ".") {
		if s, ok, err = c.union(s); err != nil || !ok {
			return nil, false, err
		}
		rec, isRec := s.(*avro.RecordSchema)
		if !isRec {
			return nil, false, fmt.Errorf("%s is a %s, not a record", path, s.Type())
		}
		var field *avro.Field
		for _, f := range rec.Fields() {
			if f.Name() == part {
				field = f
				break
			}
			if err := c.skip(f.Type()); err != nil {
				return nil, false, err
			}
		}
		if field == nil {
			return nil, false, fmt.Errorf("record %s has no field %q", rec.FullName(), part)
		}
		s = field.Type()
	}
	if s, ok, err = c.union(s); err != nil || !ok {
		return nil, false, err
	}
	v, err = c.scalar(s)
	return v, err == nil, err
}

var errShortDatum = errors.New("avro datum ends early")

// avroCursor walks Avro binary data. The data was validated against its schema before,
// so errors here mean a schema/data mismatch and are reported, never guessed around.
type avroCursor struct {
	b   []byte
	off int
}

func (c *avroCursor) long() (int64, error) {
	v, n := binary.Varint(c.b[c.off:]) // Avro longs are zig-zag varints, as Varint reads
	if n <= 0 {
		return 0, errShortDatum
	}
	c.off += n
	return v, nil
}

func (c *avroCursor) take(n int64) ([]byte, error) {
	if n < 0 || n > int64(len(c.b)-c.off) {
		return nil, errShortDatum
	}
	out := c.b[c.off : c.off+int(n)]
	c.off += int(n)
	return out, nil
}

func (c *avroCursor) lengthPrefixed() ([]byte, error) {
	n, err := c.long()
	if err != nil {
		return nil, err
	}
	return c.take(n)
}

// union resolves s: a non-union is itself; a union reads its branch index. A null
// branch is ok=false.
func (c *avroCursor) union(s avro.Schema) (avro.Schema, bool, error) {
	s = derefSchema(s)
	u, isUnion := s.(*avro.UnionSchema)
	if !isUnion {
		return s, s.Type() != avro.Null, nil
	}
	i, err := c.long()
	if err != nil {
		return nil, false, err
	}
	types := u.Types()
	if i < 0 || i >= int64(len(types)) {
		return nil, false, fmt.Errorf("union branch %d out of range", i)
	}
	b := derefSchema(types[i])
	return b, b.Type() != avro.Null, nil
}

func derefSchema(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

// scalar reads one non-union value.
func (c *avroCursor) scalar(s avro.Schema) (any, error) {
	switch t := s.(type) {
	case *avro.PrimitiveSchema:
		switch t.Type() {
		case avro.String:
			b, err := c.lengthPrefixed()
			return string(b), err
		case avro.Bytes:
			b, err := c.lengthPrefixed()
			return b, err
		case avro.Int:
			v, err := c.long()
			return int32(v), err
		case avro.Long:
			return c.long()
		case avro.Float:
			b, err := c.take(4)
			if err != nil {
				return nil, err
			}
			return math.Float32frombits(binary.LittleEndian.Uint32(b)), nil
		case avro.Double:
			b, err := c.take(8)
			if err != nil {
				return nil, err
			}
			return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
		case avro.Boolean:
			b, err := c.take(1)
			if err != nil {
				return nil, err
			}
			return b[0] == 1, nil
		}
	case *avro.FixedSchema:
		return c.take(int64(t.Size()))
	case *avro.EnumSchema:
		i, err := c.long()
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(t.Symbols())) {
			return nil, fmt.Errorf("enum index %d out of range", i)
		}
		return t.Symbols()[i], nil
	}
	return nil, fmt.Errorf("a %s cannot be a key or time", s.Type())
}

// skip passes over one value of s.
func (c *avroCursor) skip(s avro.Schema) error {
	s = derefSchema(s)
	switch t := s.(type) {
	case *avro.NullSchema:
		return nil
	case *avro.PrimitiveSchema:
		switch t.Type() {
		case avro.Boolean:
			_, err := c.take(1)
			return err
		case avro.Int, avro.Long:
			_, err := c.long()
			return err
		case avro.Float:
			_, err := c.take(4)
			return err
		case avro.Double:
			_, err := c.take(8)
			return err
		case avro.String, avro.Bytes:
			_, err := c.lengthPrefixed()
			return err
		}
	case *avro.FixedSchema:
		_, err := c.take(int64(t.Size()))
		return err
	case *avro.EnumSchema:
		_, err := c.long()
		return err
	case *avro.UnionSchema:
		b, _, err := c.union(t)
		if err != nil {
			return err
		}
		return c.skip(b)
	case *avro.RecordSchema:
		for _, f := range t.Fields() {
			if err := c.skip(f.Type()); err != nil {
				return err
			}
		}
		return nil
	case *avro.ArraySchema:
		return c.skipBlocks(func() error { return c.skip(t.Items()) })
	case *avro.MapSchema:
		return c.skipBlocks(func() error {
			if _, err := c.lengthPrefixed(); err != nil {
				return err
			}
			return c.skip(t.Values())
		})
	}
	return fmt.Errorf("cannot skip a %s", s.Type())
}

// skipBlocks passes over the blocks of an array or map. A negative count is followed by
// the block's size in bytes, which lets the block be skipped whole.
func (c *avroCursor) skipBlocks(item func() error) error {
	for {
		n, err := c.long()
		if err != nil || n == 0 {
			return err
		}
		if n < 0 {
			size, err := c.long()
			if err != nil {
				return err
			}
			if _, err := c.take(size); err != nil {
				return err
			}
			continue
		}
		for range n {
			before := c.off
			if err := item(); err != nil {
				return err
			}
			if c.off == before {
				break // zero-width items (nulls): the rest of the block is empty too
			}
		}
	}
}
