package sinktest

import (
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/hamba/avro/v2"
)

// Schema ids the suite's events carry.
const (
	OrderSchemaID      = 7001
	EverythingSchemaID = 7002
)

// orderSchema is the small contract of most subtests.
const orderSchema = `{"type":"record","name":"Order","namespace":"sinktest","fields":[
 {"name":"order_id","type":"string"},
 {"name":"customer","type":"string"},
 {"name":"qty","type":"int"},
 {"name":"total","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
 {"name":"placed_at","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"note","type":["null","string"],"default":null}
]}`

// everythingSchema has a field of every Avro type and logical type the adapters map.
const everythingSchema = `{"type":"record","name":"Everything","namespace":"sinktest","fields":[
 {"name":"flag","type":"boolean"},
 {"name":"small","type":"int"},
 {"name":"big","type":"long"},
 {"name":"ratio","type":"float"},
 {"name":"measure","type":"double"},
 {"name":"text","type":"string"},
 {"name":"raw","type":"bytes"},
 {"name":"maybe","type":["null","string"]},
 {"name":"either","type":["null","long","string"]},
 {"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}},
 {"name":"hash","type":{"type":"fixed","name":"Hash","size":4}},
 {"name":"numbers","type":{"type":"array","items":"int"}},
 {"name":"labels","type":{"type":"map","values":"string"}},
 {"name":"inner","type":{"type":"record","name":"Inner","fields":[
   {"name":"x","type":"int"},
   {"name":"tags","type":{"type":"array","items":"string"}}]}},
 {"name":"maybe_inner","type":["null","Inner"]},
 {"name":"inners","type":{"type":"array","items":"Inner"}},
 {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
 {"name":"amount","type":{"type":"fixed","name":"Amount","size":8,"logicalType":"decimal","precision":18,"scale":4}},
 {"name":"at_micros","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"at_millis","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"day","type":{"type":"int","logicalType":"date"}},
 {"name":"clock","type":{"type":"long","logicalType":"time-micros"}},
 {"name":"uid","type":{"type":"string","logicalType":"uuid"}}
]}`

var (
	orderAvro      = avro.MustParse(orderSchema)
	everythingAvro = avro.MustParse(everythingSchema)
)

// Schemas resolves the suite's schema ids (routing.Schemas).
type Schemas struct{}

// Avro returns the schema registered under id.
func (Schemas) Avro(id int) (avro.Schema, error) {
	switch id {
	case OrderSchemaID:
		return orderAvro, nil
	case EverythingSchemaID:
		return everythingAvro, nil
	}
	return nil, fmt.Errorf("sinktest: unknown schema id %d", id)
}

// orderValue is an Order as hamba encodes it.
func orderValue(id, customer string, qty int, cents int64, at time.Time, note *string) map[string]any {
	v := map[string]any{
		"order_id": id, "customer": customer, "qty": qty,
		"total": big.NewRat(cents, 100), "placed_at": at, "note": nil,
	}
	if note != nil {
		v["note"] = map[string]any{"string": *note}
	}
	return v
}

// everythingValues are the values of the types subtest: typical ones and edges
// (negative numbers, extremes, empty collections, nulls, times before 1970, non-ASCII
// text, map keys with dots and dollars).
func everythingValues() []map[string]any {
	inner := func(x int, tags ...string) map[string]any {
		if tags == nil {
			tags = []string{}
		}
		return map[string]any{"x": x, "tags": tags}
	}
	return []map[string]any{
		{
			"flag": true, "small": int32(42), "big": int64(1) << 40, "ratio": float32(1.5), "measure": 2.718281828459045,
			"text": "plain", "raw": []byte{0, 1, 2, 254, 255}, "maybe": map[string]any{"string": "here"},
			"either": map[string]any{"long": int64(-9)}, "color": "GREEN", "hash": [4]byte{0xde, 0xad, 0xbe, 0xef},
			"numbers": []int32{3, 1, 2}, "labels": map[string]string{"team": "checkout", "tier": "1"},
			"inner": inner(1, "a", "b"), "maybe_inner": map[string]any{"sinktest.Inner": inner(2, "c")},
			"inners": []any{inner(3), inner(4, "d")},
			"price":  big.NewRat(1999, 100), "amount": big.NewRat(123456789, 10000),
			"at_micros": time.Date(2024, 3, 1, 9, 30, 15, 123456000, time.UTC),
			"at_millis": time.Date(2024, 3, 1, 9, 30, 15, 123000000, time.UTC),
			"day":       time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "clock": 13*time.Hour + 5*time.Minute + 7*time.Microsecond,
			"uid": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		},
		{
			"flag": false, "small": int32(math.MinInt32), "big": int64(math.MaxInt64), "ratio": float32(-0.1), "measure": -1e300,
			"text": "Grüße, 世界 — \"quoted\" \\ back\nslash", "raw": []byte{}, "maybe": nil,
			"either": map[string]any{"string": "text branch"}, "color": "RED", "hash": [4]byte{},
			"numbers": []int32{}, "labels": map[string]string{}, "inner": inner(math.MaxInt32),
			"maybe_inner": nil, "inners": []any{},
			"price": big.NewRat(-5, 100), "amount": big.NewRat(-922337203685477, 10000),
			"at_micros": time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
			"at_millis": time.Date(1901, 6, 1, 0, 0, 0, 1000000, time.UTC),
			"day":       time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), "clock": time.Duration(0),
			"uid": "00000000-0000-0000-0000-000000000000",
		},
		{
			"flag": true, "small": int32(0), "big": int64(math.MinInt64), "ratio": float32(3.4028235e38), "measure": 5e-324,
			"text": "", "raw": []byte("text as bytes"), "maybe": map[string]any{"string": ""},
			"either": nil, "color": "BLUE", "hash": [4]byte{1, 2, 3, 4},
			"numbers": []int32{math.MaxInt32, math.MinInt32}, "labels": map[string]string{"dotted.key": "x", "$dollar": "y"},
			"inner": inner(-1, ""), "maybe_inner": map[string]any{"sinktest.Inner": inner(0)},
			"inners": []any{inner(5, "e", "f", "g")},
			"price":  big.NewRat(0, 1), "amount": big.NewRat(1, 10000),
			"at_micros": time.Date(2262, 4, 11, 23, 47, 16, 854775000, time.UTC),
			"at_millis": time.Date(2999, 12, 31, 23, 59, 59, 999000000, time.UTC),
			"day":       time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), "clock": 24*time.Hour - time.Microsecond,
			"uid": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
		},
	}
}
