package cassandra

import (
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
)

type benchSchemas struct{ s avro.Schema }

func (b benchSchemas) Avro(int) (avro.Schema, error) { return b.s, nil }

// BenchmarkEncode measures the sink's own work on a batch: table names and layouts,
// then Avro decoding and CQL values (500 events of a 7-field order). In Write the
// second part runs on the concurrent writers, before each request.
func BenchmarkEncode(b *testing.B) {
	schema := avro.MustParse(`{"type":"record","name":"Order","fields":[
 {"name":"order_id","type":"string"},
 {"name":"customer","type":"string"},
 {"name":"qty","type":"int"},
 {"name":"total","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
 {"name":"placed_at","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"tags","type":{"type":"array","items":"string"}},
 {"name":"note","type":["null","string"]}]}`)
	at := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	events := make([]routing.Event, 500)
	for i := range events {
		data, err := avro.Marshal(schema, map[string]any{"order_id": fmt.Sprint("o-", i), "customer": fmt.Sprint("c-", i%50), "qty": i % 9,
			"total": big.NewRat(int64(i)*137+99, 100), "placed_at": at, "tags": []string{"web", "eu"}, "note": map[string]any{"string": "door"}})
		if err != nil {
			b.Fatal(err)
		}
		events[i] = routing.Event{ID: fmt.Sprint("e", i), Key: fmt.Sprint("k", i%50), Contract: "bench", SchemaID: 1, Time: at, Received: at, Data: data}
	}
	s, err := New(Config{Hosts: []string{"h"}, Keyspace: "k"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	batch := &routing.Batch{Route: routing.Route{Name: "r", Mode: routing.Append, Target: "wb_{contract}"}, Events: events, Schemas: benchSchemas{schema}}
	tmpl := target.MustParse(batch.Route.Target)
	for b.Loop() {
		var out outcomes
		rows := s.rows(batch, tmpl, &out)
		if len(rows) != len(events) {
			b.Fatalf("%d rows, failures %v", len(rows), out.failed)
		}
		for _, r := range rows {
			if err := r.encode(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "events/s")
}
