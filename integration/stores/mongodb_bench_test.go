package stores

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/waybill-data/waybill/adapters/mongodb"
	"github.com/waybill-data/waybill/routing"
)

// BenchmarkMongoDB: the MongoDB sink on a runtime route (w: 1) against FerretDB
// (directly, not through the fault-injecting proxy), or the deployment
// WAYBILL_TEST_MONGODB names, compared with the official driver writing the same
// documents with the same write concern in bulks of the route's batch size:
//
//   - append: one unordered InsertMany per batch, _id = event id;
//   - latest: per batch, the newest order of each key as a conditional upsert (the
//     filter that keeps documents from regressing), in one unordered BulkWrite.
func BenchmarkMongoDB(b *testing.B) {
	m := startMongo(b)
	m.uri = m.readURI // no proxy hop for either side
	client, err := mongo.Connect(options.Client().ApplyURI(m.readURI))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	db := client.Database(m.database)
	if m.server == nil && isFerretDB(b, client) {
		m.decimal = mongodb.DecimalString // FerretDB v1 has no Decimal128 (devstack's, for one)
	}
	open := func(b *testing.B, _ string) routing.Sink {
		s, err := mongodb.New(m.config(), slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	collection := func(name string) *mongo.Collection {
		return db.Collection(name, options.Collection().SetWriteConcern(writeconcern.W1()))
	}
	drop := func(b *testing.B, _, contract string) {
		if err := db.Collection(contract).Drop(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("append", func(b *testing.B) {
		runStoreBench(b, storeBench{
			events: 10_000, keys: 100, open: open, drop: drop,
			route: `class: runtime, target: "{contract}", max_lag: 1m, batch: {max_events: 1000, max_wait: 20ms}`,
			direct: func(b *testing.B, n benchNames, batch int) func(context.Context, []benchOrder) error {
				coll := collection(n.direct)
				return func(ctx context.Context, orders []benchOrder) error {
					received := time.Now()
					for from := 0; from < len(orders); from += batch {
						docs := make([]any, 0, batch)
						for i := from; i < min(from+batch, len(orders)); i++ {
							docs = append(docs, m.benchDocument(&orders[i], orders[i].id, n.direct, received))
						}
						if _, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
							return err
						}
					}
					return nil
				}
			},
		})
	})
	b.Run("latest", func(b *testing.B) {
		runStoreBench(b, storeBench{
			events: 4_000, keys: 20, open: open, drop: drop,
			route: `class: runtime, mode: latest, target: "{contract}", max_lag: 1m, batch: {max_events: 1000, max_wait: 20ms}`,
			direct: func(b *testing.B, n benchNames, batch int) func(context.Context, []benchOrder) error {
				coll := collection(n.direct)
				return func(ctx context.Context, orders []benchOrder) error {
					received := time.Now()
					for from := 0; from < len(orders); from += batch {
						newest := map[string]int{} // orders come in time order: the last of each key
						for i := from; i < min(from+batch, len(orders)); i++ {
							newest[orders[i].customer] = i
						}
						models := make([]mongo.WriteModel, 0, len(newest))
						for key, i := range newest {
							o := &orders[i]
							t := o.placed.UnixMicro()
							filter := bson.D{{Key: "_id", Value: key}, {Key: "$or", Value: bson.A{
								bson.D{{Key: "_waybill.time", Value: bson.D{{Key: "$lt", Value: t}}}},
								bson.D{{Key: "_waybill.time", Value: t}, {Key: "_waybill.id", Value: bson.D{{Key: "$lt", Value: o.id}}}},
							}}}
							models = append(models, mongo.NewReplaceOneModel().SetFilter(filter).
								SetReplacement(m.benchDocument(o, key, n.direct, received)).SetUpsert(true))
						}
						if _, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
							return err
						}
					}
					return nil
				}
			},
		})
	})
}

// isFerretDB reports whether the server is FerretDB: its buildInfo says so.
func isFerretDB(b *testing.B, client *mongo.Client) bool {
	var info bson.M
	if err := client.Database("admin").RunCommand(context.Background(), bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		b.Fatal(err)
	}
	_, ok := info["ferretdbVersion"]
	return ok
}

// benchDocument is the document the sink stores for o, built with bson.D as an
// application using the driver would; _id is the event id (append) or the key
// (latest).
func (m *mongoStore) benchDocument(o *benchOrder, id, contract string, received time.Time) bson.D {
	var total any = o.total()
	if m.decimal != mongodb.DecimalString {
		total, _ = bson.ParseDecimal128(o.total())
	}
	return bson.D{
		{Key: "_id", Value: id},
		{Key: "order_id", Value: o.orderID}, {Key: "customer", Value: o.customer}, {Key: "qty", Value: o.qty},
		{Key: "total", Value: total}, {Key: "placed_at", Value: o.placed.UnixMicro()}, {Key: "tags", Value: o.tags},
		{Key: "note", Value: o.note},
		{Key: "_waybill", Value: bson.D{{Key: "id", Value: o.id}, {Key: "key", Value: o.customer}, {Key: "contract", Value: contract},
			{Key: "schema_id", Value: int32(benchSchemaID)}, {Key: "time", Value: o.placed.UnixMicro()},
			{Key: "received", Value: received.UnixMicro()}, {Key: "date", Value: bson.DateTime(o.placed.UnixMilli())}}},
	}
}
