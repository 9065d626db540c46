package cassandra

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/hamba/avro/v2"
	"gopkg.in/inf.v0"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/routing"
)

// maxTimeOfDay is one past the largest CQL time: 24 hours.
const maxTimeOfDay = 24 * time.Hour

// rowValues returns the INSERT's values for one event, in the column order of
// tableDef.columns: the envelope, then the record's fields.
func (d *tableDef) rowValues(ev *routing.Event, value any) ([]any, error) {
	rec, ok := value.(*avrovalue.Record)
	if !ok {
		return nil, fmt.Errorf("decoded value is %T, not a record", value)
	}
	fields := d.record.Fields()
	if len(fields) != len(rec.Fields) {
		return nil, fmt.Errorf("record has %d fields, its schema %d", len(rec.Fields), len(fields))
	}
	vals := make([]any, 0, len(d.columns)+1)
	at, received := ev.Time.UnixMicro(), ev.Received.UnixMicro()
	if d.mode == routing.Latest {
		vals = append(vals, ev.Key, ev.ID, ev.Contract, at, received, int32(ev.SchemaID))
	} else {
		vals = append(vals, partitionOf(ev), cqlDate(dayOf(ev.Time)), at, ev.ID, ev.Key, ev.Contract, received, int32(ev.SchemaID))
	}
	for i, f := range fields {
		v, err := toCQL(f.Type(), rec.Fields[i].Value, false)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name(), err)
		}
		if v == nil {
			v = null // gocql marshals a nil interface as null for some types only
		}
		vals = append(vals, v)
	}
	return vals, nil
}

// null is a bound null of any type: gocql marshals every nil pointer as null, but a
// nil interface only for some types (not user types).
var null = (*struct{})(nil)

// partitionOf is the entity part of the append-mode partition key: the entity key,
// so a key's events of one day share a partition (and a batch); the event id for
// events without a key, so they spread over the cluster.
func partitionOf(ev *routing.Event) string {
	if ev.Key != "" {
		return ev.Key
	}
	return ev.ID
}

// dayOf is the UTC day of t, in days since 1970-01-01 (floor, also before 1970).
func dayOf(t time.Time) int32 {
	days := t.Unix() / 86400
	if t.Unix() < 0 && t.Unix()%86400 != 0 {
		days--
	}
	return int32(days)
}

// cqlDate is a CQL date: days since the epoch, sent as an unsigned count centred on
// 2^31 (the protocol's encoding). It is marshalled here so every Avro date (any int32)
// is sent exactly, without going through a time.Time.
type cqlDate int32

// MarshalCQL implements gocql.Marshaler.
func (d cqlDate) MarshalCQL(info gocql.TypeInfo) ([]byte, error) {
	if info.Type() != gocql.TypeDate {
		return nil, gocql.MarshalError(fmt.Sprintf("cannot marshal a date into a %v column", info))
	}
	return binary.BigEndian.AppendUint32(nil, uint32(int64(d)+(1<<31))), nil
}

// toCQL converts an avrovalue value of schema s to what gocql marshals into the column
// type cqlType gives s. inCollection is true for list elements and map values.
func toCQL(s avro.Schema, v any, inCollection bool) (any, error) {
	s = deref(s)
	switch s := s.(type) {
	case *avro.UnionSchema:
		branches, nullable := nonNull(s)
		if !asChoice(s, inCollection) {
			if v == nil {
				return nil, nil
			}
			return toCQL(branches[0], v, inCollection)
		}
		if v == nil {
			if !nullable {
				return nil, fmt.Errorf("null is not a branch of the union")
			}
			if !inCollection {
				return nil, nil // a null column or field
			}
			return map[string]any{}, nil // no branch set: collections hold no null
		}
		for _, b := range branches {
			if conforms(b, v) {
				x, err := toCQL(b, v, false)
				if err != nil {
					return nil, err
				}
				return map[string]any{branchName(b): x}, nil
			}
		}
		return nil, fmt.Errorf("a %T matches no branch of the union", v)
	case *avro.ArraySchema:
		items, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("array value is %T", v)
		}
		for i, it := range items { // converted in place: the decoded tree is the sink's own
			x, err := element(s.Items(), it)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			items[i] = x
		}
		return items, nil
	case *avro.MapSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("map value is %T", v)
		}
		for k, it := range m {
			x, err := element(s.Values(), it)
			if err != nil {
				return nil, fmt.Errorf("{%s}: %w", k, err)
			}
			m[k] = x
		}
		return m, nil
	case *avro.RecordSchema:
		r, ok := v.(*avrovalue.Record)
		if !ok || r == nil || len(r.Fields) != len(s.Fields()) {
			return nil, fmt.Errorf("value %T is not a record %s", v, s.FullName())
		}
		out := make(map[string]any, len(r.Fields))
		for i, f := range s.Fields() {
			x, err := toCQL(f.Type(), r.Fields[i].Value, false)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name(), err)
			}
			if x != nil { // a field left out is null
				out[f.Name()] = x
			}
		}
		return out, nil
	case *avro.EnumSchema:
		if _, ok := v.(string); !ok {
			return nil, fmt.Errorf("enum value is %T", v)
		}
		return v, nil
	case *avro.FixedSchema, *avro.PrimitiveSchema:
		return scalar(s, v)
	}
	return nil, fmt.Errorf("unsupported Avro type %s", s.Type())
}

// element converts a list element or map value, which Cassandra cannot hold as null.
func element(s avro.Schema, v any) (any, error) {
	x, err := toCQL(s, v, true)
	if err == nil && x == nil {
		err = errors.New("Cassandra collections cannot hold null")
	}
	return x, err
}

// scalar converts a primitive or fixed value, logical types included.
func scalar(s avro.Schema, v any) (any, error) {
	// Values gocql takes as they are go back as v, not re-boxed.
	switch x := v.(type) {
	case string:
		if logicalOf(s) == avro.UUID {
			u, err := gocql.ParseUUID(x)
			if err != nil {
				return nil, fmt.Errorf("%q is not a uuid: %w", x, err)
			}
			return u, nil
		}
		return v, nil
	case bool, int32, int64, float32, float64, []byte:
		return v, nil
	case time.Duration:
		if x < 0 || x >= maxTimeOfDay {
			return nil, fmt.Errorf("time of day %s is outside 00:00 to 24:00, which CQL time cannot hold", x)
		}
		return v, nil
	case avrovalue.Date:
		return cqlDate(x.Days), nil
	case avrovalue.Decimal:
		u := x.Unscaled
		if u == nil {
			u = new(big.Int)
		}
		return inf.NewDecBig(u, inf.Scale(x.Scale)), nil
	case time.Time:
		return timeValue(s, x), nil
	case avrovalue.LocalTimestamp:
		return timeValue(s, x.Time), nil
	}
	return nil, fmt.Errorf("unsupported value %T", v)
}

func logicalOf(s avro.Schema) avro.LogicalType {
	if ls, ok := s.(avro.LogicalTypeSchema); ok {
		if l := ls.Logical(); l != nil {
			return l.Type()
		}
	}
	return ""
}

// timestampNanos is Avro 1.12's timestamp-nanos, which hamba/avro has no constant for.
const timestampNanos avro.LogicalType = "timestamp-nanos"

// timeValue is a timestamp as its column holds it: milliseconds since the epoch for
// CQL timestamp columns, microseconds or nanoseconds for bigint ones.
func timeValue(s avro.Schema, t time.Time) int64 {
	switch logicalOf(s) {
	case avro.TimestampMillis, avro.LocalTimestampMillis:
		return t.UnixMilli()
	case timestampNanos:
		return t.UnixNano()
	}
	return t.UnixMicro()
}

// longValueKind is the Go type avrovalue decodes a long of logical type l to.
func longValueKind(l avro.LogicalType) string {
	switch l {
	case avro.TimestampMillis, avro.TimestampMicros, timestampNanos:
		return "time"
	case avro.LocalTimestampMillis, avro.LocalTimestampMicros:
		return "local"
	case avro.TimeMicros:
		return "duration"
	}
	return "int64"
}

// conforms reports whether an avrovalue value is of schema s. It picks a union's
// branch, since avrovalue returns the branch's value without its index; branches that
// decode to the same Go value (a string and an enum, bytes and a fixed) resolve to
// the first that fits, and read back as the same value.
func conforms(s avro.Schema, v any) bool {
	s = deref(s)
	switch s := s.(type) {
	case *avro.PrimitiveSchema:
		return primitiveConforms(s, v)
	case *avro.FixedSchema:
		switch x := v.(type) {
		case []byte:
			return len(x) == s.Size() && !isDecimal(s)
		case avrovalue.Decimal:
			return isDecimal(s)
		}
		return false
	case *avro.EnumSchema:
		str, ok := v.(string)
		if !ok {
			return false
		}
		for _, sym := range s.Symbols() {
			if sym == str {
				return true
			}
		}
		return false
	case *avro.ArraySchema:
		items, ok := v.([]any)
		return ok && !slices.ContainsFunc(items, func(it any) bool { return !conforms(s.Items(), it) })
	case *avro.MapSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		for _, it := range m {
			if !conforms(s.Values(), it) {
				return false
			}
		}
		return true
	case *avro.RecordSchema:
		r, ok := v.(*avrovalue.Record)
		return ok && r != nil && r.Name == s.FullName()
	case *avro.NullSchema:
		return v == nil
	}
	return false
}

func isDecimal(s avro.Schema) bool {
	ls, ok := s.(avro.LogicalTypeSchema)
	if !ok {
		return false
	}
	_, dec := ls.Logical().(*avro.DecimalLogicalSchema)
	return dec
}

func primitiveConforms(s *avro.PrimitiveSchema, v any) bool {
	l := logicalOf(s)
	switch s.Type() {
	case avro.Null:
		return v == nil
	case avro.Boolean:
		_, ok := v.(bool)
		return ok
	case avro.Int:
		switch v.(type) {
		case int32:
			return l != avro.Date && l != avro.TimeMillis
		case avrovalue.Date:
			return l == avro.Date
		case time.Duration:
			return l == avro.TimeMillis
		}
	case avro.Long:
		switch v.(type) {
		case int64:
			return longValueKind(l) == "int64"
		case time.Time:
			return longValueKind(l) == "time"
		case avrovalue.LocalTimestamp:
			return longValueKind(l) == "local"
		case time.Duration:
			return longValueKind(l) == "duration"
		}
	case avro.Float:
		_, ok := v.(float32)
		return ok
	case avro.Double:
		_, ok := v.(float64)
		return ok
	case avro.String:
		str, ok := v.(string)
		if ok && l == avro.UUID {
			_, err := gocql.ParseUUID(str)
			return err == nil
		}
		return ok
	case avro.Bytes:
		switch v.(type) {
		case []byte:
			return !isDecimal(s)
		case avrovalue.Decimal:
			return isDecimal(s)
		}
	}
	return false
}
