package stores

import (
	"context"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/waybill-data/waybill/adapters/mongodb"
	"github.com/waybill-data/waybill/routing"
)

// Batch sizes: FerretDB evaluates each conditional upsert by scanning, so latest
// batches are kept smaller to bound the benchmark's time.
var benchBatch = map[routing.Mode]int{routing.Append: 500, routing.Latest: 100}

var benchAvro = avro.MustParse(`{"type":"record","name":"Order","fields":[
 {"name":"order_id","type":"string"},
 {"name":"customer","type":"string"},
 {"name":"qty","type":"int"},
 {"name":"total","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
 {"name":"placed_at","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"tags","type":{"type":"array","items":"string"}},
 {"name":"note","type":["null","string"]}
]}`)

type benchSchemas struct{}

func (benchSchemas) Avro(int) (avro.Schema, error) { return benchAvro, nil }

// benchEvents are n order events of contract, two versions per key.
func benchEvents(b *testing.B, contract string, n int) []routing.Event {
	at := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	events := make([]routing.Event, n)
	for i := range events {
		t := at.Add(time.Duration(i) * time.Millisecond)
		data, err := avro.Marshal(benchAvro, map[string]any{
			"order_id": fmt.Sprintf("o-%06d", i), "customer": fmt.Sprintf("customer-%d", i%50), "qty": i%9 + 1,
			"total": big.NewRat(int64(i)*137+99, 100), "placed_at": t, "tags": []string{"web", "eu"},
			"note": map[string]any{"string": "leave at the door"},
		})
		if err != nil {
			b.Fatal(err)
		}
		events[i] = routing.Event{Seq: uint64(i + 1), ID: fmt.Sprintf("%s-e%06d", contract, i), Contract: contract, SchemaID: 1,
			Key: fmt.Sprintf("k%05d", i/2), Time: t, Received: t, Data: data}
	}
	return events
}

// benchDocument is the document the sink stores for ev, built directly with bson.D as
// an application using the driver would.
func benchDocument(ev routing.Event, id string, i int) bson.D {
	return bson.D{
		{Key: "_id", Value: id},
		{Key: "order_id", Value: fmt.Sprintf("o-%06d", i)}, {Key: "customer", Value: fmt.Sprintf("customer-%d", i%50)},
		{Key: "qty", Value: int32(i%9 + 1)}, {Key: "total", Value: fmt.Sprintf("%d.%02d", (int64(i)*137+99)/100, (int64(i)*137+99)%100)},
		{Key: "placed_at", Value: ev.Time.UnixMicro()}, {Key: "tags", Value: bson.A{"web", "eu"}}, {Key: "note", Value: "leave at the door"},
		{Key: "_waybill", Value: bson.D{{Key: "id", Value: ev.ID}, {Key: "key", Value: ev.Key}, {Key: "contract", Value: ev.Contract},
			{Key: "schema_id", Value: int32(1)}, {Key: "time", Value: ev.Time.UnixMicro()}, {Key: "received", Value: ev.Received.UnixMicro()},
			{Key: "date", Value: bson.DateTime(ev.Time.UnixMilli())}}},
	}
}

// BenchmarkMongoDBSinkVsDriver writes batches of events through the sink and the
// same documents directly with the driver (InsertMany for append; a BulkWrite of the
// same conditional upserts for latest), alternating in the same run against FerretDB
// (directly, not through the proxy), each batch to a fresh collection since FerretDB's
// _id lookups scan. It reports both rates and sink/driver.
func BenchmarkMongoDBSinkVsDriver(b *testing.B) {
	m := startMongo(b)
	m.uri = m.readURI // no proxy hop for either side
	client, err := mongo.Connect(options.Client().ApplyURI(m.readURI))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	db := client.Database(m.database)
	sink, err := mongodb.New(m.config(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()

	for _, mode := range []routing.Mode{routing.Append, routing.Latest} {
		b.Run(string(mode), func(b *testing.B) {
			ctx := context.Background()
			var sinkTime, driverTime time.Duration
			for i := 0; b.Loop(); i++ {
				contract := fmt.Sprintf("bench_%s_%d", mode, i)
				events := benchEvents(b, contract, benchBatch[mode])
				route := routing.Route{Name: "bench", Class: routing.Runtime, Mode: mode, Target: "s_{contract}"}
				start := time.Now()
				if err := sink.Write(ctx, &routing.Batch{Route: route, Events: events, Schemas: benchSchemas{}}); err != nil {
					b.Fatal(err)
				}
				sinkTime += time.Since(start)

				coll := db.Collection("d_" + contract)
				start = time.Now()
				if mode == routing.Append {
					docs := make([]any, len(events))
					for j, ev := range events {
						docs[j] = benchDocument(ev, ev.ID, j)
					}
					_, err = coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
				} else {
					models := make([]mongo.WriteModel, 0, len(events)/2)
					for j := 1; j < len(events); j += 2 { // the newest version of each key, as the sink writes
						ev := events[j]
						filter := bson.D{{Key: "_id", Value: ev.Key}, {Key: "$or", Value: bson.A{
							bson.D{{Key: "_waybill.time", Value: bson.D{{Key: "$lt", Value: ev.Time.UnixMicro()}}}},
							bson.D{{Key: "_waybill.time", Value: ev.Time.UnixMicro()}, {Key: "_waybill.id", Value: bson.D{{Key: "$lt", Value: ev.ID}}}},
						}}}
						models = append(models, mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(benchDocument(ev, ev.Key, j)).SetUpsert(true))
					}
					_, err = coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
				}
				if err != nil {
					b.Fatal(err)
				}
				driverTime += time.Since(start)
			}
			n := float64(b.N * benchBatch[mode])
			sinkRate, driverRate := n/sinkTime.Seconds(), n/driverTime.Seconds()
			b.ReportMetric(sinkRate, "sink_events/s")
			b.ReportMetric(driverRate, "driver_events/s")
			b.ReportMetric(sinkRate/driverRate, "sink/driver")
		})
	}
}
