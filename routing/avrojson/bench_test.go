package avrojson

import (
	"testing"
)

// smallEventSchema is a typical router event: ten fields, with a uuid, an enum, a
// timestamp, a nullable union and a map.
const smallEventSchema = `{
  "type": "record", "name": "PageView", "namespace": "com.acme.web",
  "fields": [
    {"name": "event_id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["VIEW", "CLICK", "SCROLL"]}},
    {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "user_id", "type": "string"},
    {"name": "session_id", "type": ["null", "string"], "default": null},
    {"name": "page", "type": "string"},
    {"name": "duration_ms", "type": "int"},
    {"name": "value", "type": "double"},
    {"name": "is_test", "type": "boolean", "default": false},
    {"name": "tags", "type": {"type": "map", "values": "string"}, "default": {}}
  ]
}`

const smallEventJSON = `{"event_id":"9b2f6c1e-4d3a-4f7b-8c2d-1a2b3c4d5e6f","kind":"CLICK",` +
	`"occurred_at":1714979289123,"user_id":"u-48213","session_id":"s-99812",` +
	`"page":"/checkout/cart","duration_ms":1532,"value":19.99,"is_test":false,` +
	`"tags":{"ab":"b","src":"email"}}`

func reportEvents(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEncodeJSONSmallEvent is the router's hot path: raw JSON event data to Avro.
func BenchmarkEncodeJSONSmallEvent(b *testing.B) {
	schema := parseSchema(b, smallEventSchema)
	raw := []byte(smallEventJSON)
	dst, err := EncodeJSON(nil, schema, raw)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if dst, err = EncodeJSON(dst[:0], schema, raw); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b)
}

// BenchmarkEncodeJSONSmallEventParallel runs the same on every core
// (GOMAXPROCS goroutines): the router's throughput per machine.
func BenchmarkEncodeJSONSmallEventParallel(b *testing.B) {
	schema := parseSchema(b, smallEventSchema)
	raw := []byte(smallEventJSON)
	if _, err := EncodeJSON(nil, schema, raw); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var dst []byte
		var err error
		for pb.Next() {
			if dst, err = EncodeJSON(dst[:0], schema, raw); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportEvents(b)
}

// BenchmarkEncodeSmallEvent encodes the value as encoding/json (UseNumber) decodes it.
func BenchmarkEncodeSmallEvent(b *testing.B) {
	schema := parseSchema(b, smallEventSchema)
	v := decodeUseNumber(b, smallEventJSON)
	dst, err := Encode(nil, schema, v)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if dst, err = Encode(dst[:0], schema, v); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b)
}

// BenchmarkValidateSmallEvent checks the Avro binary form of the same event, as
// received in the Confluent wire format.
func BenchmarkValidateSmallEvent(b *testing.B) {
	schema := parseSchema(b, smallEventSchema)
	data, err := EncodeJSON(nil, schema, []byte(smallEventJSON))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := Validate(schema, data); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b)
}

// BenchmarkEncodeJSONOrder encodes the larger nested fixture (records, arrays, maps,
// unions, decimals).
func BenchmarkEncodeJSONOrder(b *testing.B) {
	schema := parseSchema(b, orderSchema)
	raw := []byte(orderJSON)
	dst, err := EncodeJSON(nil, schema, raw)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if dst, err = EncodeJSON(dst[:0], schema, raw); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b)
}
