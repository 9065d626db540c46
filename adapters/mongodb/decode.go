package mongodb

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/hamba/avro/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/routing"
)

// Document is a stored event read back: its metadata and the contract's record.
type Document struct {
	ID       string // the document's _id: the event id (append) or the key (latest)
	EventID  string
	Key      string
	Contract string
	SchemaID int
	Time     time.Time
	Received time.Time
	Value    any // *avrovalue.Record, as avrovalue.Decode returns it for the event's data
}

// DecodeDocument maps a stored document back to the event it holds, the inverse of the
// sink's encoding (see the package documentation): tools and tests read what the
// sink wrote with it. Decimals are read from Decimal128 or from text, whichever the
// document holds.
func DecodeDocument(raw bson.Raw, schemas routing.Schemas) (Document, error) {
	doc := bsoncore.Document(raw)
	var d Document
	id, ok := doc.Lookup(fieldID).StringValueOK()
	if !ok {
		return d, errors.New("mongodb: document without a string _id")
	}
	d.ID = id
	meta, ok := doc.Lookup(fieldMetadata).DocumentOK()
	if !ok {
		return d, fmt.Errorf("mongodb: document %q has no %s metadata", id, fieldMetadata)
	}
	var okID, okKey, okContract, okSchema, okTime, okReceived bool
	d.EventID, okID = meta.Lookup("id").StringValueOK()
	d.Key, okKey = meta.Lookup("key").StringValueOK()
	d.Contract, okContract = meta.Lookup("contract").StringValueOK()
	schemaID, okSchema := meta.Lookup("schema_id").Int32OK()
	t, okTime := meta.Lookup("time").Int64OK()
	r, okReceived := meta.Lookup("received").Int64OK()
	if !okID || !okKey || !okContract || !okSchema || !okTime || !okReceived {
		return d, fmt.Errorf("mongodb: document %q: incomplete %s metadata", id, fieldMetadata)
	}
	d.SchemaID, d.Time, d.Received = int(schemaID), time.UnixMicro(t).UTC(), time.UnixMicro(r).UTC()
	schema, err := schemas.Avro(d.SchemaID)
	if err != nil {
		return d, fmt.Errorf("mongodb: document %q: %w", id, err)
	}
	rs, ok := deref(schema).(*avro.RecordSchema)
	if !ok {
		return d, fmt.Errorf("mongodb: document %q: schema %d is not a record", id, d.SchemaID)
	}
	if d.Value, err = decodeFields(rs, doc, true); err != nil {
		return d, fmt.Errorf("mongodb: document %q: %w", id, err)
	}
	return d, nil
}

// decodeFields reads a record from a document; top is true for the stored document,
// which carries _id and the metadata beside the record's fields.
func decodeFields(rs *avro.RecordSchema, doc bsoncore.Document, top bool) (*avrovalue.Record, error) {
	elems, err := doc.Elements()
	if err != nil {
		return nil, err
	}
	byName := make(map[string]bsoncore.Value, len(elems))
	for _, e := range elems {
		if top && (e.Key() == fieldID || e.Key() == fieldMetadata) {
			continue
		}
		byName[e.Key()] = e.Value()
	}
	if len(byName) != len(rs.Fields()) {
		return nil, fmt.Errorf("record %s: %d fields stored, the schema has %d", rs.FullName(), len(byName), len(rs.Fields()))
	}
	rec := &avrovalue.Record{Name: rs.FullName(), Fields: make([]avrovalue.Field, 0, len(rs.Fields()))}
	for _, f := range rs.Fields() {
		v, ok := byName[f.Name()]
		if !ok {
			return nil, fmt.Errorf("record %s: field %s is missing", rs.FullName(), f.Name())
		}
		val, err := decodeValue(f.Type(), v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		rec.Fields = append(rec.Fields, avrovalue.Field{Name: f.Name(), Value: val})
	}
	return rec, nil
}

// decodeValue reads a value of schema s. A union takes the first branch the stored
// value fits.
func decodeValue(s avro.Schema, v bsoncore.Value) (any, error) {
	s = deref(s)
	if u, ok := s.(*avro.UnionSchema); ok {
		for _, t := range u.Types() {
			if out, err := decodeValue(t, v); err == nil {
				return out, nil
			}
		}
		return nil, fmt.Errorf("stored %s fits no branch of union %s", v.Type, u.String())
	}
	mismatch := fmt.Errorf("stored %s does not fit schema %s", v.Type, s.Type())
	switch kindOfSchema(s) {
	case kindNull:
		if v.Type == bsoncore.TypeNull {
			return nil, nil
		}
	case kindBool:
		if b, ok := v.BooleanOK(); ok {
			return b, nil
		}
	case kindInt:
		if n, ok := v.Int32OK(); ok {
			return n, nil
		}
	case kindLong:
		if n, ok := v.Int64OK(); ok {
			return n, nil
		}
	case kindFloat:
		if f, ok := v.DoubleOK(); ok && (float64(float32(f)) == f || math.IsNaN(f)) {
			return float32(f), nil
		}
	case kindDouble:
		if f, ok := v.DoubleOK(); ok {
			return f, nil
		}
	case kindString:
		str, ok := v.StringValueOK()
		if !ok {
			break
		}
		if e, isEnum := s.(*avro.EnumSchema); isEnum && !hasSymbol(e, str) {
			return nil, fmt.Errorf("%q is not a symbol of enum %s", str, e.FullName())
		}
		return str, nil
	case kindBytes:
		_, b, ok := v.BinaryOK()
		if !ok {
			break
		}
		if f, isFixed := s.(*avro.FixedSchema); isFixed && len(b) != f.Size() {
			return nil, fmt.Errorf("%d bytes stored for fixed %s of size %d", len(b), f.FullName(), f.Size())
		}
		return append([]byte{}, b...), nil
	case kindDecimal:
		return decodeDecimal(s, v)
	case kindTimestamp, kindLocalTimestamp:
		t, ok := decodeTime(logicalOf(s), v)
		if !ok {
			break
		}
		if kindOfSchema(s) == kindLocalTimestamp {
			return avrovalue.LocalTimestamp{Time: t}, nil
		}
		return t, nil
	case kindDate:
		if ms, ok := v.DateTimeOK(); ok && ms%86_400_000 == 0 {
			return avrovalue.Date{Days: int32(ms / 86_400_000)}, nil
		}
	case kindTime:
		if logicalOf(s) == avro.TimeMillis {
			if n, ok := v.Int32OK(); ok {
				return time.Duration(n) * time.Millisecond, nil
			}
		} else if n, ok := v.Int64OK(); ok {
			return time.Duration(n) * time.Microsecond, nil
		}
	case kindArray:
		arr, ok := v.ArrayOK()
		if !ok {
			break
		}
		values, err := arr.Values()
		if err != nil {
			return nil, err
		}
		items := make([]any, 0, len(values))
		for i, item := range values {
			out, err := decodeValue(s.(*avro.ArraySchema).Items(), item)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			items = append(items, out)
		}
		return items, nil
	case kindMap:
		doc, ok := v.DocumentOK()
		if !ok {
			break
		}
		elems, err := doc.Elements()
		if err != nil {
			return nil, err
		}
		m := make(map[string]any, len(elems))
		for _, e := range elems {
			k, err := UnescapeKey(e.Key())
			if err != nil {
				return nil, err
			}
			if m[k], err = decodeValue(s.(*avro.MapSchema).Values(), e.Value()); err != nil {
				return nil, fmt.Errorf("{%s}: %w", k, err)
			}
		}
		return m, nil
	case kindRecord:
		if doc, ok := v.DocumentOK(); ok {
			return decodeFields(s.(*avro.RecordSchema), doc, false)
		}
	default:
		return nil, fmt.Errorf("unsupported schema %s", s.Type())
	}
	return nil, mismatch
}

func hasSymbol(e *avro.EnumSchema, sym string) bool {
	for _, s := range e.Symbols() {
		if s == sym {
			return true
		}
	}
	return false
}

func decodeTime(logical avro.LogicalType, v bsoncore.Value) (time.Time, bool) {
	switch logical {
	case avro.TimestampMillis, avro.LocalTimestampMillis:
		ms, ok := v.DateTimeOK()
		return time.UnixMilli(ms).UTC(), ok
	case logicalTimestampNanos:
		ns, ok := v.Int64OK()
		return time.Unix(0, ns).UTC(), ok
	}
	us, ok := v.Int64OK()
	return time.UnixMicro(us).UTC(), ok
}

// decodeDecimal reads a Decimal128 or decimal text at the schema's scale; a value that
// needs more fractional digits than the scale is refused rather than rounded.
func decodeDecimal(s avro.Schema, v bsoncore.Value) (any, error) {
	l := s.(avro.LogicalTypeSchema).Logical().(*avro.DecimalLogicalSchema)
	if str, ok := v.StringValueOK(); ok {
		d, ok := avrovalue.ParseDecimal(str, l.Scale(), l.Precision())
		if !ok {
			return nil, fmt.Errorf("%q is not a decimal of scale %d", str, l.Scale())
		}
		return d, nil
	}
	hi, lo, ok := v.Decimal128OK()
	if !ok {
		return nil, fmt.Errorf("stored %s is not a decimal", v.Type)
	}
	bi, exp, err := bson.NewDecimal128(hi, lo).BigInt()
	if err != nil {
		return nil, err
	}
	// value = bi × 10^exp = unscaled × 10^-scale
	shift := exp + l.Scale()
	unscaled := new(big.Int).Set(bi)
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(shift))), nil)
	if shift >= 0 {
		unscaled.Mul(unscaled, pow)
	} else {
		var rem big.Int
		unscaled.QuoRem(unscaled, pow, &rem)
		if rem.Sign() != 0 {
			return nil, fmt.Errorf("decimal %s has more than %d fractional digits", bson.NewDecimal128(hi, lo), l.Scale())
		}
	}
	return avrovalue.Decimal{Unscaled: unscaled, Scale: l.Scale(), Precision: l.Precision()}, nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
