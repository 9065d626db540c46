package mongodb

import (
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/routing"
)

// Document layout names.
const (
	fieldID       = "_id"
	fieldMetadata = "_waybill"
	// maxDocumentSize is MongoDB's maxBsonObjectSize.
	maxDocumentSize = 16 << 20
	// maxDecimal128Digits is the precision a BSON Decimal128 holds exactly.
	maxDecimal128Digits = 34
)

// encoder turns events into BSON documents.
type encoder struct {
	decimalString bool // Config.Decimal == "string"
}

// document encodes ev as the document stored under id: the contract's record's fields,
// then the metadata.
func (e encoder) document(ev *routing.Event, schema avro.Schema, id string) ([]byte, error) {
	value, err := avrovalue.Decode(schema, ev.Data)
	if err != nil {
		return nil, fmt.Errorf("data does not decode with schema %d: %w", ev.SchemaID, err)
	}
	rs, ok := deref(schema).(*avro.RecordSchema)
	rec, isRecord := value.(*avrovalue.Record)
	if !ok || !isRecord {
		return nil, fmt.Errorf("schema %d is a %s, not a record", ev.SchemaID, schema.Type())
	}
	for _, f := range rs.Fields() {
		if f.Name() == fieldID || f.Name() == fieldMetadata {
			return nil, fmt.Errorf("the record's field %q collides with the document's own %q", f.Name(), f.Name())
		}
	}
	idx, doc := bsoncore.AppendDocumentStart(make([]byte, 0, 64+2*len(ev.Data)))
	doc = bsoncore.AppendStringElement(doc, fieldID, id)
	if doc, err = e.fields(doc, rs, rec); err != nil {
		return nil, err
	}
	m, doc := bsoncore.AppendDocumentElementStart(doc, fieldMetadata)
	doc = bsoncore.AppendStringElement(doc, "id", ev.ID)
	doc = bsoncore.AppendStringElement(doc, "key", ev.Key)
	doc = bsoncore.AppendStringElement(doc, "contract", ev.Contract)
	doc = bsoncore.AppendInt32Element(doc, "schema_id", int32(ev.SchemaID))
	doc = bsoncore.AppendInt64Element(doc, "time", ev.Time.UnixMicro())
	doc = bsoncore.AppendInt64Element(doc, "received", ev.Received.UnixMicro())
	doc = bsoncore.AppendDateTimeElement(doc, "date", ev.Time.UnixMilli())
	if doc, err = bsoncore.AppendDocumentEnd(doc, m); err != nil {
		return nil, err
	}
	if doc, err = bsoncore.AppendDocumentEnd(doc, idx); err != nil {
		return nil, err
	}
	if len(doc) > maxDocumentSize {
		return nil, fmt.Errorf("the document is %d bytes, more than MongoDB's limit of %d", len(doc), maxDocumentSize)
	}
	return doc, nil
}

// fields appends a record's fields to an open document.
func (e encoder) fields(dst []byte, rs *avro.RecordSchema, rec *avrovalue.Record) ([]byte, error) {
	if len(rec.Fields) != len(rs.Fields()) {
		return nil, fmt.Errorf("record %s has %d fields, its schema %d", rs.FullName(), len(rec.Fields), len(rs.Fields()))
	}
	var err error
	for i, f := range rs.Fields() {
		if dst, err = e.value(dst, f.Name(), f.Type(), rec.Fields[i].Value); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
	}
	return dst, nil
}

// value appends v, a value of schema s, as the element key.
func (e encoder) value(dst []byte, key string, s avro.Schema, v any) ([]byte, error) {
	s = deref(s)
	if u, ok := s.(*avro.UnionSchema); ok {
		branch, err := unionBranch(u, v)
		if err != nil {
			return nil, err
		}
		s = branch
	}
	mismatch := func() error { return fmt.Errorf("value %T does not fit schema %s", v, s.Type()) }
	switch kindOfSchema(s) {
	case kindNull:
		return bsoncore.AppendNullElement(dst, key), nil
	case kindBool:
		b, ok := v.(bool)
		if !ok {
			return nil, mismatch()
		}
		return bsoncore.AppendBooleanElement(dst, key, b), nil
	case kindInt:
		n, ok := v.(int32)
		if !ok {
			return nil, mismatch()
		}
		return bsoncore.AppendInt32Element(dst, key, n), nil
	case kindLong:
		n, ok := v.(int64)
		if !ok {
			return nil, mismatch()
		}
		return bsoncore.AppendInt64Element(dst, key, n), nil
	case kindFloat:
		f, ok := v.(float32)
		if !ok {
			return nil, mismatch()
		}
		return bsoncore.AppendDoubleElement(dst, key, float64(f)), nil
	case kindDouble:
		f, ok := v.(float64)
		if !ok {
			return nil, mismatch()
		}
		return bsoncore.AppendDoubleElement(dst, key, f), nil
	case kindString:
		str, ok := v.(string)
		if !ok {
			return nil, mismatch()
		}
		return bsoncore.AppendStringElement(dst, key, str), nil
	case kindBytes:
		b, ok := v.([]byte)
		if !ok {
			return nil, mismatch()
		}
		return bsoncore.AppendBinaryElement(dst, key, bson.TypeBinaryGeneric, b), nil
	case kindDecimal:
		d, ok := v.(avrovalue.Decimal)
		if !ok {
			return nil, mismatch()
		}
		return e.decimal(dst, key, d)
	case kindTimestamp:
		t, ok := v.(time.Time)
		if !ok {
			return nil, mismatch()
		}
		return appendTime(dst, key, logicalOf(s), t), nil
	case kindLocalTimestamp:
		t, ok := v.(avrovalue.LocalTimestamp)
		if !ok {
			return nil, mismatch()
		}
		return appendTime(dst, key, logicalOf(s), t.Time), nil
	case kindDate:
		d, ok := v.(avrovalue.Date)
		if !ok {
			return nil, mismatch()
		}
		return bsoncore.AppendDateTimeElement(dst, key, int64(d.Days)*86_400_000), nil
	case kindTime:
		d, ok := v.(time.Duration)
		if !ok {
			return nil, mismatch()
		}
		if logicalOf(s) == avro.TimeMillis {
			return bsoncore.AppendInt32Element(dst, key, int32(d/time.Millisecond)), nil
		}
		return bsoncore.AppendInt64Element(dst, key, int64(d/time.Microsecond)), nil
	case kindArray:
		items, ok := v.([]any)
		if !ok {
			return nil, mismatch()
		}
		itemSchema := s.(*avro.ArraySchema).Items()
		idx, out := bsoncore.AppendArrayElementStart(dst, key)
		var err error
		for i, item := range items {
			if out, err = e.value(out, strconv.Itoa(i), itemSchema, item); err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return bsoncore.AppendArrayEnd(out, idx)
	case kindMap:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, mismatch()
		}
		valueSchema := s.(*avro.MapSchema).Values()
		idx, out := bsoncore.AppendDocumentElementStart(dst, key)
		var err error
		for _, k := range sortedKeys(m) {
			if out, err = e.value(out, EscapeKey(k), valueSchema, m[k]); err != nil {
				return nil, fmt.Errorf("{%s}: %w", k, err)
			}
		}
		return bsoncore.AppendDocumentEnd(out, idx)
	case kindRecord:
		rec, ok := v.(*avrovalue.Record)
		if !ok || rec == nil {
			return nil, mismatch()
		}
		idx, out := bsoncore.AppendDocumentElementStart(dst, key)
		out, err := e.fields(out, s.(*avro.RecordSchema), rec)
		if err != nil {
			return nil, err
		}
		return bsoncore.AppendDocumentEnd(out, idx)
	}
	return nil, fmt.Errorf("unsupported schema %s", s.Type())
}

// decimal appends d as a Decimal128 (same digits and exponent, so 1.50 stays 1.50)
// when its type's precision fits, else as its exact text.
func (e encoder) decimal(dst []byte, key string, d avrovalue.Decimal) ([]byte, error) {
	if e.decimalString || d.Precision > maxDecimal128Digits {
		return bsoncore.AppendStringElement(dst, key, d.String()), nil
	}
	unscaled := d.Unscaled
	if unscaled == nil {
		unscaled = new(big.Int)
	}
	dec, ok := bson.ParseDecimal128FromBigInt(unscaled, -d.Scale)
	if !ok {
		return nil, fmt.Errorf("decimal %s does not fit a Decimal128", d.String())
	}
	hi, lo := dec.GetBytes()
	return bsoncore.AppendDecimal128Element(dst, key, hi, lo), nil
}

// appendTime stores millisecond timestamps as BSON dates (exact) and finer ones as
// int64 counts since the epoch, which BSON dates could not hold.
func appendTime(dst []byte, key string, logical avro.LogicalType, t time.Time) []byte {
	switch logical {
	case avro.TimestampMillis, avro.LocalTimestampMillis:
		return bsoncore.AppendDateTimeElement(dst, key, t.UnixMilli())
	case logicalTimestampNanos:
		return bsoncore.AppendInt64Element(dst, key, t.UnixNano())
	}
	return bsoncore.AppendInt64Element(dst, key, t.UnixMicro())
}

// EscapeKey makes a map key a safe field name: '%', '.', '$' and NUL become %25, %2E,
// %24 and %00, since MongoDB (before 5.0, and FerretDB) rejects '.' and '$' in field
// names and BSON names cannot hold NUL. UnescapeKey reverses it.
func EscapeKey(k string) string {
	if !strings.ContainsAny(k, "%.$\x00") {
		return k
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		switch c := k[i]; c {
		case '%', '.', '$', 0:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// UnescapeKey is the inverse of EscapeKey.
func UnescapeKey(k string) (string, error) {
	if !strings.Contains(k, "%") {
		return k, nil
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		if k[i] != '%' {
			b.WriteByte(k[i])
			continue
		}
		if i+2 >= len(k) {
			return "", fmt.Errorf("field name %q: truncated escape", k)
		}
		n, err := strconv.ParseUint(k[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("field name %q: bad escape %q", k, k[i:i+3])
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// kind is how a schema is stored (and read back).
type kind int

const (
	kindUnsupported kind = iota
	kindNull
	kindBool
	kindInt
	kindLong
	kindFloat
	kindDouble
	kindString // string, uuid, enum
	kindBytes  // bytes, fixed
	kindDecimal
	kindTimestamp
	kindLocalTimestamp
	kindDate
	kindTime
	kindArray
	kindMap
	kindRecord
)

// logicalTimestampNanos is not among hamba's names; avrovalue decodes it.
const logicalTimestampNanos avro.LogicalType = "timestamp-nanos"

func deref(s avro.Schema) avro.Schema {
	for {
		r, ok := s.(*avro.RefSchema)
		if !ok {
			return s
		}
		s = r.Schema()
	}
}

func logicalOf(s avro.Schema) avro.LogicalType {
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		return ls.Logical().Type()
	}
	if p, ok := s.(avro.PropertySchema); ok {
		if lt, ok := p.Prop("logicalType").(string); ok && avro.LogicalType(lt) == logicalTimestampNanos {
			return logicalTimestampNanos
		}
	}
	return ""
}

func kindOfSchema(s avro.Schema) kind {
	s = deref(s)
	switch s := s.(type) {
	case *avro.NullSchema:
		return kindNull
	case *avro.RecordSchema:
		return kindRecord
	case *avro.EnumSchema:
		return kindString
	case *avro.ArraySchema:
		return kindArray
	case *avro.MapSchema:
		return kindMap
	case *avro.FixedSchema:
		if logicalOf(s) == avro.Decimal {
			return kindDecimal
		}
		return kindBytes
	case *avro.PrimitiveSchema:
		logical := logicalOf(s)
		switch s.Type() {
		case avro.Null:
			return kindNull
		case avro.Boolean:
			return kindBool
		case avro.Int:
			switch logical {
			case avro.Date:
				return kindDate
			case avro.TimeMillis:
				return kindTime
			}
			return kindInt
		case avro.Long:
			switch logical {
			case avro.TimestampMillis, avro.TimestampMicros, logicalTimestampNanos:
				return kindTimestamp
			case avro.LocalTimestampMillis, avro.LocalTimestampMicros:
				return kindLocalTimestamp
			case avro.TimeMicros:
				return kindTime
			}
			return kindLong
		case avro.Float:
			return kindFloat
		case avro.Double:
			return kindDouble
		case avro.String:
			return kindString
		case avro.Bytes:
			if logical == avro.Decimal {
				return kindDecimal
			}
			return kindBytes
		}
	}
	return kindUnsupported
}

func kindOfValue(v any) kind {
	switch v.(type) {
	case nil:
		return kindNull
	case bool:
		return kindBool
	case int32:
		return kindInt
	case int64:
		return kindLong
	case float32:
		return kindFloat
	case float64:
		return kindDouble
	case string:
		return kindString
	case []byte:
		return kindBytes
	case avrovalue.Decimal:
		return kindDecimal
	case time.Time:
		return kindTimestamp
	case avrovalue.LocalTimestamp:
		return kindLocalTimestamp
	case avrovalue.Date:
		return kindDate
	case time.Duration:
		return kindTime
	case []any:
		return kindArray
	case map[string]any:
		return kindMap
	case *avrovalue.Record:
		return kindRecord
	}
	return kindUnsupported
}

// unionBranch finds the branch of u that v (an unwrapped union value) came from: the
// first of its kind, records by name, decimals by scale and precision. Branches of
// the same kind are stored alike, so picking the first loses nothing.
func unionBranch(u *avro.UnionSchema, v any) (avro.Schema, error) {
	want := kindOfValue(v)
	for _, t := range u.Types() {
		t = deref(t)
		if kindOfSchema(t) != want {
			continue
		}
		switch want {
		case kindRecord:
			if rec, ok := v.(*avrovalue.Record); !ok || rec == nil || rec.Name != t.(*avro.RecordSchema).FullName() {
				continue
			}
		case kindDecimal:
			d := v.(avrovalue.Decimal)
			if l, ok := t.(avro.LogicalTypeSchema).Logical().(*avro.DecimalLogicalSchema); !ok || l.Scale() != d.Scale || l.Precision() != d.Precision {
				continue
			}
		}
		return t, nil
	}
	return nil, fmt.Errorf("value %T matches no branch of union %s", v, u.String())
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same event always makes the same bytes

	return keys
}
