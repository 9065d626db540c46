package avrojson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

// parseSchema parses with a fresh cache so that named types of one test never leak
// into another.
func parseSchema(t testing.TB, text string) avro.Schema {
	t.Helper()
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatalf("parse schema: %v\n%s", err, text)
	}
	return s
}

// decodeUseNumber decodes JSON the way the router does.
func decodeUseNumber(t testing.TB, raw string) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// hambaDecode decodes data with hamba/avro into a generic value.
func hambaDecode(t testing.TB, schema avro.Schema, data []byte) any {
	t.Helper()
	var out any
	if err := avro.Unmarshal(schema, data, &out); err != nil {
		t.Fatalf("hamba decode of %x: %v", data, err)
	}
	return out
}

// hambaPlain is hamba configured to write arrays and maps as a count-prefixed block
// without a byte size, as Encode does, so that the bytes can be compared.
var hambaPlain = avro.Config{DisableBlockSizeHeader: true}.Freeze()

// sameValue is reflect.DeepEqual that also takes NaN as equal to NaN and compares
// *big.Rat by value.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case float32:
		y, ok := b.(float32)
		return ok && (x == y || x != x && y != y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case *big.Rat:
		y, ok := b.(*big.Rat)
		return ok && x.Cmp(y) == 0
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func asFieldError(t testing.TB, err error) *FieldError {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FieldError", err, err)
	}
	return fe
}

// orderSchema has every kind of type nested: records in records, arrays of records,
// maps, unions (null-first and multi-branch), enum, fixed and logical types. The fuzz
// tests, Validate tests and benchmarks share it.
const orderSchema = `{
  "type": "record", "name": "Order", "namespace": "com.acme",
  "fields": [
    {"name": "id", "type": "string"},
    {"name": "seq", "type": "long"},
    {"name": "qty", "type": "int"},
    {"name": "price", "type": "double"},
    {"name": "ratio", "type": "float", "default": 0.5},
    {"name": "paid", "type": "boolean"},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}},
    {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
    {"name": "blob", "type": "bytes", "default": ""},
    {"name": "customer", "default": null, "type": ["null", {
      "type": "record", "name": "Customer", "fields": [
        {"name": "name", "type": "string"},
        {"name": "address", "type": {"type": "record", "name": "Address", "fields": [
          {"name": "street", "type": "string"},
          {"name": "zip", "type": "string"}
        ]}}
      ]}]},
    {"name": "items", "type": {"type": "array", "items": {
      "type": "record", "name": "Item", "fields": [
        {"name": "sku", "type": "string"},
        {"name": "price", "type": "double"},
        {"name": "qty", "type": "int", "default": 1},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []}
      ]}}},
    {"name": "attrs", "type": {"type": "map", "values": "string"}, "default": {}},
    {"name": "note", "type": ["null", "string", "long", "Status"], "default": null},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
    {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}, "default": "00000000-0000-0000-0000-000000000000"}
  ]
}`

const orderJSON = `{
  "id": "o-1", "seq": 9007199254740993, "qty": -3, "price": 19.99, "ratio": 0.25,
  "paid": true, "status": "PAID", "hash": "\u0000\u00ff\u0010A", "blob": "h\u00e9",
  "customer": {"name": "Ann", "address": {"street": "1 Main St", "zip": "02139"}},
  "items": [
    {"sku": "a", "price": 1.5, "qty": 2, "tags": ["x", "y"]},
    {"sku": "b", "price": 2.25}
  ],
  "attrs": {"color": "red", "size": "L"},
  "note": {"long": 42},
  "at": "2024-05-06T07:08:09.123Z",
  "amount": "1234567.89",
  "ref": "123e4567-e89b-12d3-a456-426614174000"
}`

// avroMarshalDefault marshals with hamba's default config, which writes array and map
// blocks with a negative count and a byte size.
func avroMarshalDefault(schema avro.Schema, v any) ([]byte, error) {
	return avro.Marshal(schema, v)
}
