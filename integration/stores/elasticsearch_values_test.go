package stores

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/adapters/avrovalue"
)

// esToValue maps a value read from an Elasticsearch document's _source (decoded with
// json.Number) back to adapters/avrovalue's model under its Avro schema: the inverse of
// the mapping docs/STORE_TYPES.md documents for the elasticsearch adapter, written
// separately from the adapter so the test does not merely mirror its encoder.
func esToValue(s avro.Schema, v any) (any, error) {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		return esLogical(s, ls.Logical(), v)
	}
	switch s := s.(type) {
	case *avro.RecordSchema:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("record %s: got %T", s.FullName(), v)
		}
		rec := &avrovalue.Record{Name: s.FullName()}
		for _, f := range s.Fields() {
			fv, err := esToValue(f.Type(), obj[f.Name()])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name(), err)
			}
			rec.Fields = append(rec.Fields, avrovalue.Field{Name: f.Name(), Value: fv})
		}
		return rec, nil
	case *avro.UnionSchema:
		if v == nil {
			return nil, nil
		}
		var branches []avro.Schema
		for _, t := range s.Types() {
			if t.Type() != avro.Null {
				branches = append(branches, t)
			}
		}
		if len(branches) == 1 {
			return esToValue(branches[0], v)
		}
		obj, ok := v.(map[string]any)
		if !ok || len(obj) != 1 {
			return nil, fmt.Errorf("union of %d types: want an object with one branch, got %v", len(branches), v)
		}
		for _, br := range branches {
			name := string(br.Type())
			if n, ok := unref(br).(avro.NamedSchema); ok {
				name = n.FullName()
			}
			if bv, ok := obj[name]; ok {
				return esToValue(br, bv)
			}
		}
		return nil, fmt.Errorf("union: no branch named in %v", v)
	case *avro.ArraySchema:
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("array: got %T", v)
		}
		out := make([]any, len(arr))
		for i, el := range arr {
			var err error
			if out[i], err = esToValue(s.Items(), el); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *avro.MapSchema:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("map: got %T", v)
		}
		out := make(map[string]any, len(obj))
		for k, el := range obj {
			var err error
			if out[k], err = esToValue(s.Values(), el); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *avro.EnumSchema:
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("enum: got %T", v)
		}
		return str, nil
	case *avro.FixedSchema:
		return esBytes(v)
	}
	switch s.Type() {
	case avro.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("boolean: got %T", v)
		}
		return b, nil
	case avro.Int:
		n, err := strconv.ParseInt(fmt.Sprint(v), 10, 32)
		return int32(n), err
	case avro.Long:
		return strconv.ParseInt(fmt.Sprint(v), 10, 64)
	case avro.Float:
		f, err := strconv.ParseFloat(fmt.Sprint(v), 32)
		return float32(f), err
	case avro.Double:
		return strconv.ParseFloat(fmt.Sprint(v), 64)
	case avro.String:
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("string: got %T", v)
		}
		return str, nil
	case avro.Bytes:
		return esBytes(v)
	}
	return nil, fmt.Errorf("unsupported schema type %s", s.Type())
}

func unref(s avro.Schema) avro.Schema {
	if ref, ok := s.(*avro.RefSchema); ok {
		return ref.Schema()
	}
	return s
}

func esBytes(v any) ([]byte, error) {
	str, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("bytes: want a base64 string, got %T", v)
	}
	return base64.StdEncoding.DecodeString(str)
}

func esLogical(s avro.Schema, l avro.LogicalSchema, v any) (any, error) {
	str, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%s: want a string, got %T (%v)", l.Type(), v, v)
	}
	switch l.Type() {
	case avro.Decimal:
		d := l.(*avro.DecimalLogicalSchema)
		dec, ok := avrovalue.ParseDecimal(str, d.Scale(), d.Precision())
		if !ok {
			return nil, fmt.Errorf("decimal %q is not exact at scale %d", str, d.Scale())
		}
		return dec, nil
	case avro.TimestampMillis, avro.TimestampMicros, "timestamp-nanos":
		t, err := time.Parse(time.RFC3339Nano, str)
		return t.UTC(), err
	case avro.LocalTimestampMillis, avro.LocalTimestampMicros:
		t, err := time.Parse("2006-01-02T15:04:05.999999999", str)
		return avrovalue.LocalTimestamp{Time: t}, err
	case avro.Date:
		t, err := time.Parse(time.DateOnly, str)
		return avrovalue.Date{Days: int32(t.Unix() / 86400)}, err
	case avro.TimeMillis, avro.TimeMicros:
		t, err := time.Parse("15:04:05.999999", str)
		if err != nil {
			return nil, err
		}
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
			time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()), nil
	case avro.UUID:
		return str, nil
	}
	_ = s
	return nil, fmt.Errorf("unsupported logical type %s", l.Type())
}

// decodeSource decodes a _source keeping numbers exact.
func decodeSource(raw json.RawMessage) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytesReader(raw))
	dec.UseNumber()
	err := dec.Decode(&m)
	return m, err
}
