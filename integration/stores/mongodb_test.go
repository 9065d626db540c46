package stores

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/waybill-data/waybill/adapters/mongodb"
	"github.com/waybill-data/waybill/integration/sinktest"
	mongotest "github.com/waybill-data/waybill/integration/testserver/mongo"
	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
)

// mongoStore is where the MongoDB tests run: the embedded FerretDB behind its
// fault-injecting proxy, or the real deployment WAYBILL_TEST_MONGODB names.
type mongoStore struct {
	uri      string // what the sink connects to
	readURI  string // what the test reads through (bypasses the proxy, so reads work while it is down)
	database string
	decimal  string
	server   *mongotest.Server // nil against a real deployment
}

func startMongo(t testing.TB) *mongoStore {
	t.Helper()
	db := fmt.Sprintf("waybill_test_%d", time.Now().UnixNano())
	if uri := os.Getenv("WAYBILL_TEST_MONGODB"); uri != "" {
		t.Logf("running against the real MongoDB named by WAYBILL_TEST_MONGODB (%s), database %s; outage and per-item failure tests are skipped: they need the test proxy",
			mongodb.RedactURI(uri), db)
		m := &mongoStore{uri: uri, readURI: uri, database: db}
		t.Cleanup(func() { m.dropDatabase(t) })
		return m
	}
	s := mongotest.Start(t)
	// FerretDB v1 has no Decimal128; decimals go as exact text there (the Decimal128
	// encoding is covered by the adapter's unit tests and by a run against MongoDB).
	return &mongoStore{uri: s.URI(), readURI: s.DirectURI(), database: db, decimal: mongodb.DecimalString, server: s}
}

// dropDatabase removes the test's database from a real deployment.
func (m *mongoStore) dropDatabase(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(m.readURI))
	if err != nil {
		t.Errorf("dropping %s: %v", m.database, err)
		return
	}
	defer func() { _ = c.Disconnect(ctx) }()
	if err := c.Database(m.database).Drop(ctx); err != nil {
		t.Errorf("dropping %s: %v", m.database, err)
	}
}

func (m *mongoStore) config() mongodb.Config {
	c := mongodb.Config{
		URI: m.uri, Database: m.database, Decimal: m.decimal,
		ServerSelectionTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, WriteTimeout: 15 * time.Second,
	}
	if m.server != nil {
		c.LatestBulkWrites = 32 // FerretDB applies a bulk's upserts one by one
	}
	return c
}

func (m *mongoStore) open(t *testing.T) routing.Sink {
	t.Helper()
	s, err := mongodb.New(m.config(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("mongodb.New: %v", err)
	}
	return s
}

// reader connects the official driver directly (not through the proxy).
func (m *mongoStore) reader(t testing.TB) *mongo.Database {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(m.readURI).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		t.Fatalf("connecting the reader: %v", err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c.Database(m.database)
}

// readAll returns every document of the route's collection for contract, decoded with
// schemas.
func (m *mongoStore) readAll(t *testing.T, db *mongo.Database, route routing.Route, contract string, schemas routing.Schemas) []mongodb.Document {
	t.Helper()
	name := mongoCollection(route, contract)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cur, err := db.Collection(name).Find(ctx, bson.D{{Key: "_waybill.contract", Value: contract}})
	if err != nil {
		t.Fatalf("find in %s: %v", name, err)
	}
	defer func() { _ = cur.Close(ctx) }()
	var out []mongodb.Document
	for cur.Next(ctx) {
		d, err := mongodb.DecodeDocument(cur.Current, schemas)
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		out = append(out, d)
	}
	if err := cur.Err(); err != nil {
		t.Fatalf("find in %s: %v", name, err)
	}
	return out
}

// mongoCollection is the collection a route writes contract's events to: its target
// rendered at the suite's epoch, '/' read as '.'.
func mongoCollection(route routing.Route, contract string) string {
	name := target.MustParse(route.Target).Render(contract, route.Name, sinktest.Epoch)
	return name
}

// TestMongoDBConformance runs the sink suite against FerretDB (or WAYBILL_TEST_MONGODB).
// The suite's events are read back with the official driver's Find and mapped back to
// avrovalue's model with mongodb.DecodeDocument.
func TestMongoDBConformance(t *testing.T) {
	m := startMongo(t)
	db := m.reader(t)
	store := sinktest.Store{
		Name:   "mongodb",
		Modes:  []routing.Mode{routing.Append, routing.Latest},
		Target: "wb_{contract}",
		Open:   func(t *testing.T, _ routing.Class) routing.Sink { return m.open(t) },
		Read: func(t *testing.T, route routing.Route, contract string) []sinktest.Stored {
			var out []sinktest.Stored
			for _, d := range m.readAll(t, db, route, contract, sinktest.Schemas{}) {
				out = append(out, sinktest.Stored{ID: d.EventID, Key: d.Key, Time: d.Time, SchemaID: d.SchemaID, Value: d.Value})
			}
			return out
		},
	}
	if s := m.server; s != nil {
		store.Down = func(t *testing.T) { s.Proxy().Down() }
		store.Up = func(t *testing.T) {
			if err := s.Proxy().Up(); err != nil {
				t.Fatal(err)
			}
		}
		store.FailNext = func(t *testing.T, ids []string, permanent bool) {
			f := mongotest.RetryableFailure
			if permanent {
				f = mongotest.PermanentFailure
			}
			s.Proxy().FailNext(ids, f)
		}
	}
	sinktest.Run(t, store)
}
