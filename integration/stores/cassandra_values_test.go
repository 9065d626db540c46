package stores

import (
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/hamba/avro/v2"
	"gopkg.in/inf.v0"

	"github.com/waybill-data/waybill/adapters/avrovalue"
)

// This file maps rows read with gocql back to avrovalue's model through the contract's
// schema, following the layout documented in adapters/cassandra (and
// docs/STORE_TYPES.md), without the adapter's code: each column is captured as the
// driver hands it over (type and bytes) and decoded with gocql's own Unmarshal.

// cqlCell is one value as the driver read it: its CQL type and bytes (nil for null).
type cqlCell struct {
	info gocql.TypeInfo
	data []byte
}

// UnmarshalCQL implements gocql.Unmarshaler; it keeps a copy, since the driver reuses
// its buffers.
func (c *cqlCell) UnmarshalCQL(info gocql.TypeInfo, data []byte) error {
	c.info = info
	if data != nil {
		c.data = append([]byte{}, data...)
	}
	return nil
}

func (c cqlCell) null() bool { return c.data == nil }

// decode unmarshals the cell with gocql into dst.
func (c cqlCell) decode(dst any) error { return gocql.Unmarshal(c.info, c.data, dst) }

// udtCells is a user type value, field by field.
type udtCells map[string]cqlCell

// UnmarshalUDT implements gocql.UDTUnmarshaler.
func (u udtCells) UnmarshalUDT(name string, info gocql.TypeInfo, data []byte) error {
	var c cqlCell
	if err := c.UnmarshalCQL(info, data); err != nil {
		return err
	}
	u[name] = c
	return nil
}

// cqlToValue maps a stored value of schema s back. inCollection is true for list
// elements and map values, where a [null, T] union is a one-element tuple.
func cqlToValue(s avro.Schema, c cqlCell, inCollection bool) (any, error) {
	if r, ok := s.(*avro.RefSchema); ok {
		return cqlToValue(r.Schema(), c, inCollection)
	}
	if u, ok := s.(*avro.UnionSchema); ok {
		return cqlUnion(u, c, inCollection)
	}
	if c.null() {
		return nil, fmt.Errorf("null for a non-null %s", s.Type())
	}
	switch s := s.(type) {
	case *avro.PrimitiveSchema:
		return cqlPrimitive(s, c)
	case *avro.EnumSchema:
		var v string
		if err := c.decode(&v); err != nil {
			return nil, err
		}
		for _, sym := range s.Symbols() {
			if sym == v {
				return v, nil
			}
		}
		return nil, fmt.Errorf("%q is not a symbol of %s", v, s.FullName())
	case *avro.FixedSchema:
		if dec, ok := s.Logical().(*avro.DecimalLogicalSchema); ok {
			return cqlDecimal(c, dec)
		}
		var b []byte
		if err := c.decode(&b); err != nil {
			return nil, err
		}
		if len(b) != s.Size() {
			return nil, fmt.Errorf("fixed %s: %d bytes, want %d", s.FullName(), len(b), s.Size())
		}
		return b, nil
	case *avro.ArraySchema:
		var items []cqlCell
		if err := c.decode(&items); err != nil {
			return nil, err
		}
		out := []any{}
		for i, it := range items {
			v, err := cqlToValue(s.Items(), it, true)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, v)
		}
		return out, nil
	case *avro.MapSchema:
		var m map[string]cqlCell
		if err := c.decode(&m); err != nil {
			return nil, err
		}
		out := map[string]any{}
		for k, it := range m {
			v, err := cqlToValue(s.Values(), it, true)
			if err != nil {
				return nil, fmt.Errorf("{%s}: %w", k, err)
			}
			out[k] = v
		}
		return out, nil
	case *avro.RecordSchema:
		fields := udtCells{}
		if err := c.decode(fields); err != nil {
			return nil, err
		}
		return cqlRecord(s, func(name string) cqlCell { return fields[name] })
	}
	return nil, fmt.Errorf("unsupported schema %s", s.Type())
}

// cqlRecord builds a record from its fields' cells.
func cqlRecord(s *avro.RecordSchema, field func(name string) cqlCell) (*avrovalue.Record, error) {
	r := &avrovalue.Record{Name: s.FullName()}
	for _, f := range s.Fields() {
		v, err := cqlToValue(f.Type(), field(f.Name()), false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		r.Fields = append(r.Fields, avrovalue.Field{Name: f.Name(), Value: v})
	}
	return r, nil
}

// cqlUnion reads a union: a nullable T is T or null; a union of several types (or a
// nullable T in a collection) is a user type with one field per non-null branch,
// named as Avro's JSON encoding names the branch, the branch taken set (none: null).
func cqlUnion(u *avro.UnionSchema, c cqlCell, inCollection bool) (any, error) {
	var branches []avro.Schema
	nullable := false
	for _, t := range u.Types() {
		if t.Type() == avro.Null {
			nullable = true
		} else {
			branches = append(branches, t)
		}
	}
	if c.null() {
		return nil, nil
	}
	if len(branches) == 1 && !(nullable && inCollection) {
		return cqlToValue(branches[0], c, false)
	}
	fields := udtCells{}
	if err := c.decode(fields); err != nil {
		return nil, err
	}
	var out any
	set := 0
	for _, b := range branches {
		name := string(b.Type())
		if n, ok := b.(avro.NamedSchema); ok {
			name = n.FullName()
		}
		f := fields[name]
		if f.null() {
			continue
		}
		set++
		v, err := cqlToValue(b, f, false)
		if err != nil {
			return nil, fmt.Errorf("branch %s: %w", name, err)
		}
		out = v
	}
	if set > 1 {
		return nil, fmt.Errorf("union value has %d branches set", set)
	}
	return out, nil
}

func cqlPrimitive(s *avro.PrimitiveSchema, c cqlCell) (any, error) {
	logical := avro.LogicalType("")
	if l := s.Logical(); l != nil {
		logical = l.Type()
	}
	switch s.Type() {
	case avro.Boolean:
		var v bool
		return v, c.decode(&v)
	case avro.Int:
		switch logical {
		case avro.Date:
			var t time.Time
			if err := c.decode(&t); err != nil {
				return nil, err
			}
			days := t.Unix() / 86400
			if t.Unix()%86400 != 0 {
				return nil, fmt.Errorf("date %s is not at midnight", t)
			}
			return avrovalue.Date{Days: int32(days)}, nil
		case avro.TimeMillis:
			var d time.Duration
			return d, c.decode(&d)
		}
		var v int32
		return v, c.decode(&v)
	case avro.Long:
		if logical == avro.TimestampMillis || logical == avro.LocalTimestampMillis {
			var t time.Time
			if err := c.decode(&t); err != nil {
				return nil, err
			}
			if logical == avro.LocalTimestampMillis {
				return avrovalue.LocalTimestamp{Time: t.UTC()}, nil
			}
			return t.UTC(), nil
		}
		if logical == avro.TimeMicros {
			var d time.Duration
			return d, c.decode(&d)
		}
		var v int64
		if err := c.decode(&v); err != nil {
			return nil, err
		}
		switch logical {
		case avro.TimestampMicros:
			return time.UnixMicro(v).UTC(), nil
		case "timestamp-nanos":
			return time.Unix(0, v).UTC(), nil
		case avro.LocalTimestampMicros:
			return avrovalue.LocalTimestamp{Time: time.UnixMicro(v).UTC()}, nil
		}
		return v, nil
	case avro.Float:
		var v float32
		return v, c.decode(&v)
	case avro.Double:
		var v float64
		return v, c.decode(&v)
	case avro.String:
		if logical == avro.UUID {
			var u gocql.UUID
			if err := c.decode(&u); err != nil {
				return nil, err
			}
			return u.String(), nil
		}
		var v string
		return v, c.decode(&v)
	case avro.Bytes:
		if dec, ok := s.Logical().(*avro.DecimalLogicalSchema); ok {
			return cqlDecimal(c, dec)
		}
		var b []byte
		if err := c.decode(&b); err != nil {
			return nil, err
		}
		if b == nil {
			b = []byte{}
		}
		return b, nil
	}
	return nil, fmt.Errorf("unsupported primitive %s", s.Type())
}

// cqlDecimal reads a CQL decimal as the schema's decimal: the stored scale may differ
// (values compare numerically), but the value must be exact at the schema's scale.
func cqlDecimal(c cqlCell, dec *avro.DecimalLogicalSchema) (any, error) {
	var d inf.Dec
	if err := c.decode(&d); err != nil {
		return nil, err
	}
	if int(d.Scale()) > dec.Scale() {
		return nil, fmt.Errorf("decimal %s has scale %d, more than the schema's %d", d.String(), d.Scale(), dec.Scale())
	}
	return avrovalue.Decimal{Unscaled: d.UnscaledBig(), Scale: int(d.Scale()), Precision: dec.Precision()}, nil
}
