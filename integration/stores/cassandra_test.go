package stores

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/adapters/cassandra"
	"github.com/waybill-data/waybill/integration/sinktest"
	"github.com/waybill-data/waybill/integration/testserver/cql"
	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
)

// cassandraStore is where the Cassandra tests run: the CQL test server
// (integration/testserver/cql), or the cluster WAYBILL_TEST_CASSANDRA names
// (host:port), in a keyspace of the test's own that is dropped afterwards.
type cassandraStore struct {
	host     string
	port     int
	keyspace string
	server   *cql.Server // nil against a real cluster
}

func startCassandra(t testing.TB) *cassandraStore {
	t.Helper()
	c := &cassandraStore{keyspace: fmt.Sprintf("waybill_test_%d", time.Now().UnixNano())}
	if addr := os.Getenv("WAYBILL_TEST_CASSANDRA"); addr != "" {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("WAYBILL_TEST_CASSANDRA=%q: want host:port: %v", addr, err)
		}
		c.host = host
		c.port, _ = strconv.Atoi(port)
		t.Logf("running against the real Cassandra at %s (WAYBILL_TEST_CASSANDRA), keyspace %s; the tests that need fault injection or the test server's request log skip", addr, c.keyspace)
	} else {
		srv, err := cql.Start(cql.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		c.server, c.host, c.port = srv, srv.Host(), srv.Port()
	}
	session := c.connect(t)
	defer session.Close()
	if err := session.Query("CREATE KEYSPACE " + c.keyspace + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").Exec(); err != nil {
		t.Fatalf("creating keyspace %s: %v", c.keyspace, err)
	}
	if c.server == nil {
		t.Cleanup(func() {
			session := c.connect(t)
			defer session.Close()
			if err := session.Query("DROP KEYSPACE IF EXISTS " + c.keyspace).Exec(); err != nil {
				t.Errorf("dropping keyspace %s: %v", c.keyspace, err)
			}
		})
	}
	return c
}

// connect opens a gocql session of the test's own (not the sink's).
func (c *cassandraStore) connect(t testing.TB) *gocql.Session {
	t.Helper()
	cluster := gocql.NewCluster(c.host)
	cluster.Port = c.port
	cluster.ProtoVersion = 4
	cluster.Timeout = 30 * time.Second
	cluster.Consistency = gocql.One
	cluster.Logger = gocqlTestLogger{t}
	session, err := cluster.CreateSession()
	if err != nil {
		t.Fatalf("connecting to %s:%d: %v", c.host, c.port, err)
	}
	return session
}

// gocqlTestLogger sends the driver's messages to the test log.
type gocqlTestLogger struct{ t testing.TB }

func (l gocqlTestLogger) Error(msg string, f ...gocql.LogField) {
	l.t.Logf("gocql error: %s %v", msg, f)
}
func (l gocqlTestLogger) Warning(msg string, f ...gocql.LogField) {
	l.t.Logf("gocql warning: %s %v", msg, f)
}
func (l gocqlTestLogger) Info(string, ...gocql.LogField)  {}
func (l gocqlTestLogger) Debug(string, ...gocql.LogField) {}

// config is the sink's configuration on the store.
func (c *cassandraStore) config() cassandra.Config {
	return cassandra.Config{
		Hosts: []string{c.host}, Port: c.port, Keyspace: c.keyspace, CreateTables: true,
		Timeout: routing.Duration(5 * time.Second), ConnectTimeout: routing.Duration(2 * time.Second),
		ReconnectInterval: routing.Duration(200 * time.Millisecond),
	}
}

func (c *cassandraStore) open(t testing.TB, cfg cassandra.Config) *cassandra.Sink {
	t.Helper()
	s, err := cassandra.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("cassandra.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// needServer skips a test that needs the test server's fault injection or request log.
func (c *cassandraStore) needServer(t *testing.T) *cql.Server {
	t.Helper()
	if c.server == nil {
		t.Skip("needs the CQL test server's fault injection and request log; WAYBILL_TEST_CASSANDRA names a real cluster")
	}
	return c.server
}

// table is the table a route writes contract's events to.
func cassandraTable(route routing.Route, contract string) string {
	return cassandra.TableName(target.MustParse(route.Target).Render(contract, route.Name, sinktest.Epoch))
}

// readRows reads every row of a table with gocql, on a session of its own (the test
// server may have been down since the last read), and maps it back; a table that does
// not exist holds nothing.
func (c *cassandraStore) readRows(t testing.TB, table string, schemas routing.Schemas) []sinktest.Stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	session := c.connect(t)
	defer session.Close()
	iter := session.Query(fmt.Sprintf("SELECT * FROM %s.%s", c.keyspace, table)).PageSize(1000).IterContext(ctx)
	cols := iter.Columns()
	dest := make([]any, len(cols))
	at := map[string]int{}
	for i, col := range cols {
		if _, tuple := col.TypeInfo.(gocql.TupleTypeInfo); tuple {
			t.Fatalf("%s.%s: column %s is a tuple; the sink's layout has none", c.keyspace, table, col.Name)
		}
		at[col.Name] = i
		dest[i] = new(cqlCell)
	}
	var out []sinktest.Stored
	for {
		for _, d := range dest {
			*d.(*cqlCell) = cqlCell{}
		}
		if !iter.Scan(dest...) {
			break
		}
		cell := func(name string) cqlCell {
			if i, ok := at[name]; ok {
				return *dest[i].(*cqlCell)
			}
			return cqlCell{}
		}
		out = append(out, storedFromRow(t, table, cell, schemas))
	}
	if err := iter.Close(); err != nil {
		var re gocql.RequestError
		if errors.As(err, &re) && strings.HasPrefix(re.Message(), "unconfigured table") {
			return nil
		}
		t.Fatalf("reading %s.%s: %v", c.keyspace, table, err)
	}
	return out
}

// storedFromRow maps one row: the envelope columns, then the record through the schema
// its _waybill_schema_id names.
func storedFromRow(t testing.TB, table string, cell func(string) cqlCell, schemas routing.Schemas) sinktest.Stored {
	t.Helper()
	var st sinktest.Stored
	var at int64
	var schemaID int
	for _, f := range []struct {
		col string
		dst any
	}{{cassandra.ColID, &st.ID}, {cassandra.ColKey, &st.Key}, {cassandra.ColTimeUS, &at}, {cassandra.ColSchemaID, &schemaID}} {
		if err := cell(f.col).decode(f.dst); err != nil {
			t.Fatalf("%s: column %s: %v", table, f.col, err)
		}
	}
	st.Time, st.SchemaID = time.UnixMicro(at).UTC(), schemaID
	schema, err := schemas.Avro(schemaID)
	if err != nil {
		t.Fatalf("%s: row %s: %v", table, st.ID, err)
	}
	rec, ok := schema.(*avro.RecordSchema)
	if !ok {
		t.Fatalf("%s: schema %d is not a record", table, schemaID)
	}
	v, err := cqlRecord(rec, cell)
	if err != nil {
		t.Fatalf("%s: row %s: mapping back: %v", table, st.ID, err)
	}
	st.Value = v
	return st
}

// TestCassandraConformance runs the sink suite against the CQL test server (or the
// cluster WAYBILL_TEST_CASSANDRA names, where the outage and partial-failure
// subtests skip: faults cannot be injected there). Rows are read back with gocql and
// mapped to avrovalue's model by this package's own reader.
func TestCassandraConformance(t *testing.T) {
	c := startCassandra(t)
	store := sinktest.Store{
		Name:   "cassandra",
		Modes:  []routing.Mode{routing.Append, routing.Latest},
		Target: "wb_{contract}",
		Open:   func(t *testing.T, _ routing.Class) routing.Sink { return c.open(t, c.config()) },
		Read: func(t *testing.T, route routing.Route, contract string) []sinktest.Stored {
			var out []sinktest.Stored
			for _, st := range c.readRows(t, cassandraTable(route, contract), sinktest.Schemas{}) {
				out = append(out, st)
			}
			return out
		},
	}
	if srv := c.server; srv != nil {
		store.Down = func(t *testing.T) {
			if err := srv.Down(); err != nil {
				t.Fatal(err)
			}
		}
		store.Up = func(t *testing.T) {
			if err := srv.Up(); err != nil {
				t.Fatal(err)
			}
		}
		// A permanent failure is Invalid on every write of the event (Cassandra refuses
		// a bad value each time it is sent; the sink writes a failed batch again row by
		// row); a retryable one is a WriteTimeout of the next write only.
		store.FailNext = func(t *testing.T, ids []string, permanent bool) {
			for _, id := range ids {
				if permanent {
					srv.FailMatchingN(id, cql.Invalid, -1)
				} else {
					srv.FailMatchingN(id, cql.WriteTimeout, 1)
				}
			}
			t.Cleanup(srv.ClearFaults)
		}
	} else {
		t.Log("WAYBILL_TEST_CASSANDRA is set: the partial_failure and outage subtests skip (no fault injection on a real cluster)")
	}
	sinktest.Run(t, store)
}
