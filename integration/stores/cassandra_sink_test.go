package stores

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/datastax/go-cassandra-native-protocol/primitive"
	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/adapters/cassandra"
	"github.com/waybill-data/waybill/integration/sinktest"
	"github.com/waybill-data/waybill/integration/testserver/cql"
	"github.com/waybill-data/waybill/routing"
)

// These tests check what the conformance suite cannot see: the requests the sink
// sends (consistency, prepared statements, batches per partition, write timestamps),
// how each fault classifies, and table creation and evolution.

// orderEvent is an event of the suite's Order contract.
func orderEvent(t testing.TB, contract, id, key string, at time.Time) routing.Event {
	t.Helper()
	schema, _ := sinktest.Schemas{}.Avro(sinktest.OrderSchemaID)
	data, err := avro.Marshal(schema, map[string]any{"order_id": id, "customer": "c-" + key, "qty": 2,
		"total": big.NewRat(1999, 100), "placed_at": at, "note": map[string]any{"string": "note " + id}})
	if err != nil {
		t.Fatal(err)
	}
	return routing.Event{ID: id, Contract: contract, SchemaID: sinktest.OrderSchemaID, Key: key, Time: at, Received: at, Data: data}
}

func writeBatch(sink routing.Sink, route routing.Route, events ...routing.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return sink.Write(ctx, &routing.Batch{Route: route, Events: events, Schemas: sinktest.Schemas{}})
}

// dataRequests are the requests since index from that wrote or read a table of the
// test's keyspace (not DDL, not PREPARE, not the drivers' own queries).
func dataRequests(srv *cql.Server, from int, keyspace string) []cql.Request {
	var out []cql.Request
	for _, r := range srv.Requests()[from:] {
		q := strings.TrimSpace(r.Query)
		if !r.System && r.Op != "PREPARE" && strings.Contains(q, keyspace) && (strings.HasPrefix(q, "INSERT") || strings.HasPrefix(q, "SELECT")) {
			out = append(out, r)
		}
	}
	return out
}

// storedIDs reads the ids a table holds.
func (c *cassandraStore) storedIDs(t testing.TB, route routing.Route, contract string) []string {
	var ids []string
	for _, st := range c.readRows(t, cassandraTable(route, contract), sinktest.Schemas{}) {
		ids = append(ids, st.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestCassandraConsistency(t *testing.T) {
	c := startCassandra(t)
	srv := c.needServer(t)
	at := sinktest.Epoch
	tests := []struct {
		name        string
		consistency cassandra.ConsistencyConfig
		class       routing.Class
		mode        routing.Mode
		write, read primitive.ConsistencyLevel
	}{
		{"analytic append default", cassandra.ConsistencyConfig{}, routing.Analytic, routing.Append, primitive.ConsistencyLevelLocalQuorum, 0},
		{"runtime append default", cassandra.ConsistencyConfig{}, routing.Runtime, routing.Append, primitive.ConsistencyLevelOne, 0},
		{"runtime latest default", cassandra.ConsistencyConfig{}, routing.Runtime, routing.Latest, primitive.ConsistencyLevelOne, primitive.ConsistencyLevelOne},
		{"analytic latest default", cassandra.ConsistencyConfig{}, routing.Analytic, routing.Latest, primitive.ConsistencyLevelLocalQuorum, primitive.ConsistencyLevelLocalQuorum},
		{"analytic override", cassandra.ConsistencyConfig{Analytic: "QUORUM", Runtime: "TWO"}, routing.Analytic, routing.Append, primitive.ConsistencyLevelQuorum, 0},
		{"runtime override", cassandra.ConsistencyConfig{Analytic: "ALL", Runtime: "local_one"}, routing.Runtime, routing.Latest, primitive.ConsistencyLevelLocalOne, primitive.ConsistencyLevelLocalOne},
		{"each quorum reads locally", cassandra.ConsistencyConfig{Analytic: "EACH_QUORUM"}, routing.Analytic, routing.Latest, primitive.ConsistencyLevelEachQuorum, primitive.ConsistencyLevelLocalQuorum},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := c.config()
			cfg.Consistency = tt.consistency
			sink := c.open(t, cfg)
			route := routing.Route{Name: "cl", Class: tt.class, Mode: tt.mode, Target: "cl_{contract}"}
			contract := fmt.Sprintf("cl%d", i)
			from := len(srv.Requests())
			// Two events of one key (one batch, or one upsert) and one of another.
			if err := writeBatch(sink, route, orderEvent(t, contract, "e1", "k1", at), orderEvent(t, contract, "e2", "k1", at.Add(time.Second)),
				orderEvent(t, contract, "e3", "k2", at)); err != nil {
				t.Fatal(err)
			}
			var writes, reads int
			for _, r := range dataRequests(srv, from, c.keyspace) {
				want := tt.write
				if strings.HasPrefix(r.Query, "SELECT") {
					want = tt.read
					reads++
				} else {
					writes++
				}
				if r.Consistency != want {
					t.Errorf("%s %q at %s, want %s", r.Op, r.Query, r.Consistency, want)
				}
				if !r.Prepared {
					t.Errorf("%s %q was not a prepared statement", r.Op, r.Query)
				}
			}
			if writes != 2 || tt.mode == routing.Latest && reads != 2 || tt.mode == routing.Append && reads != 0 {
				t.Errorf("%d writes and %d reads, want 2 writes (a batch and an insert, or one upsert per key) and %d reads", writes, reads, map[routing.Mode]int{routing.Latest: 2}[tt.mode])
			}
		})
	}
}

// TestCassandraBatchesByPartition checks that append rows go in unlogged batches of
// prepared statements, one partition (key and day) per batch, cut at the configured
// size, and single rows as prepared INSERTs.
func TestCassandraBatchesByPartition(t *testing.T) {
	c := startCassandra(t)
	srv := c.needServer(t)
	cfg := c.config()
	cfg.MaxBatchStatements = 4
	sink := c.open(t, cfg)
	route := routing.Route{Name: "bp", Class: routing.Analytic, Mode: routing.Append, Target: "bp_{contract}"}
	at := sinktest.Epoch
	var events []routing.Event
	for i := range 6 { // k1: six events of one day → batches of 4 and 2
		events = append(events, orderEvent(t, "bp", fmt.Sprintf("k1-%d", i), "k1", at.Add(time.Duration(i)*time.Minute)))
	}
	events = append(events,
		orderEvent(t, "bp", "k1-next-day", "k1", at.Add(24*time.Hour)), // another partition of k1
		orderEvent(t, "bp", "k2-0", "k2", at), orderEvent(t, "bp", "k2-1", "k2", at.Add(time.Hour)),
		orderEvent(t, "bp", "nokey-0", "", at), orderEvent(t, "bp", "nokey-1", "", at)) // keyless: one partition each
	from := len(srv.Requests())
	if err := writeBatch(sink, route, events...); err != nil {
		t.Fatal(err)
	}
	var shape []string
	for _, r := range dataRequests(srv, from, c.keyspace) {
		if !r.Prepared {
			t.Errorf("%s %q is not prepared", r.Op, r.Query)
		}
		if r.Op == "BATCH" && r.BatchType != primitive.BatchTypeUnlogged {
			t.Errorf("batch of type %v, want unlogged", r.BatchType)
		}
		shape = append(shape, fmt.Sprintf("%s:%d", r.Op, r.Statements))
	}
	slices.Sort(shape)
	if want := "BATCH:2 BATCH:2 BATCH:4 EXECUTE:1 EXECUTE:1 EXECUTE:1"; strings.Join(shape, " ") != want {
		t.Errorf("requests %v, want %s", shape, want)
	}
	var want []string
	for _, ev := range events {
		want = append(want, ev.ID)
	}
	slices.Sort(want)
	if got := c.storedIDs(t, route, "bp"); !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
}

// TestCassandraBatchFailures checks per-item outcomes inside one partition's batch: a
// value Cassandra refuses fails its row alone (the batch is written again row by row),
// and a retryable failure fails the batch's rows retryably.
func TestCassandraBatchFailures(t *testing.T) {
	c := startCassandra(t)
	srv := c.needServer(t)
	sink := c.open(t, c.config())
	at := sinktest.Epoch
	batch := func(contract string) []routing.Event {
		var evs []routing.Event
		for i := range 5 {
			evs = append(evs, orderEvent(t, contract, fmt.Sprintf("%s-%d", contract, i), "one-key", at.Add(time.Duration(i)*time.Second)))
		}
		return evs
	}
	route := routing.Route{Name: "bf", Class: routing.Analytic, Mode: routing.Append, Target: "bf_{contract}"}

	t.Run("permanent", func(t *testing.T) {
		events := batch("poison")
		srv.FailMatchingN("poison-3", cql.Invalid, -1)
		defer srv.ClearFaults()
		err := writeBatch(sink, route, events...)
		var be *routing.BatchError
		if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 3 || routing.Retryable(be.Items[0].Err) {
			t.Fatalf("Write = %v, want a BatchError naming event 3 alone, permanently", err)
		}
		if got := c.storedIDs(t, route, "poison"); strings.Join(got, ",") != "poison-0,poison-1,poison-2,poison-4" {
			t.Errorf("stored %v, want every event but poison-3", got)
		}
	})
	t.Run("retryable", func(t *testing.T) {
		events := batch("flaky")
		srv.FailMatching("flaky-3", cql.WriteTimeout)
		err := writeBatch(sink, route, events...)
		var be *routing.BatchError
		switch {
		case errors.As(err, &be):
			for _, it := range be.Items {
				if !routing.Retryable(it.Err) {
					t.Errorf("event %d failed permanently: %v", it.Index, it.Err)
				}
			}
		case err == nil || !routing.Retryable(err):
			t.Fatalf("Write = %v, want the batch failed retryably", err)
		}
		if got := c.storedIDs(t, route, "flaky"); len(got) != 0 {
			t.Errorf("a failed batch stored %v", got)
		}
		if err := writeBatch(sink, route, events...); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if got := c.storedIDs(t, route, "flaky"); len(got) != 5 {
			t.Errorf("after the retry %d events are stored, want 5", len(got))
		}
	})
}

// TestCassandraFaults checks how each fault the server injects classifies.
func TestCassandraFaults(t *testing.T) {
	c := startCassandra(t)
	srv := c.needServer(t)
	cfg := c.config()
	cfg.Timeout = routing.Duration(300 * time.Millisecond)
	sink := c.open(t, cfg)
	route := routing.Route{Name: "faults", Class: routing.Analytic, Mode: routing.Append, Target: "f_{contract}"}
	if err := writeBatch(sink, route, orderEvent(t, "faults", "warmup", "k", sinktest.Epoch)); err != nil {
		t.Fatal(err) // creates the table and connects
	}
	tests := []struct {
		fault     cql.Fault
		retryable bool
		code      int
	}{
		{cql.Unavailable, true, gocql.ErrCodeUnavailable},
		{cql.WriteTimeout, true, gocql.ErrCodeWriteTimeout},
		{cql.ReadTimeout, true, gocql.ErrCodeReadTimeout},
		{cql.Overloaded, true, gocql.ErrCodeOverloaded},
		{cql.Reset, true, 0},
		{cql.Invalid, false, gocql.ErrCodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			srv.FailNext(1, tt.fault)
			defer srv.ClearFaults()
			err := writeBatch(sink, route, orderEvent(t, "faults", "e-"+tt.fault.String(), "k", sinktest.Epoch))
			if err == nil {
				t.Fatal("Write succeeded")
			}
			if routing.Retryable(err) != tt.retryable {
				t.Errorf("Write = %v: retryable %t, want %t", err, routing.Retryable(err), tt.retryable)
			}
			var be *routing.BatchError
			if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 0 {
				t.Fatalf("Write = %v, want a BatchError naming the event", err)
			}
			var re gocql.RequestError
			if tt.code != 0 && (!errors.As(be.Items[0].Err, &re) || re.Code() != tt.code) {
				t.Errorf("Write = %v, want Cassandra's error code %#x in its chain", err, tt.code)
			}
		})
	}
	t.Run("slow", func(t *testing.T) {
		srv.SetDelay(time.Second)
		defer srv.SetDelay(0)
		start := time.Now()
		err := writeBatch(sink, route, orderEvent(t, "faults", "e-slow", "k", sinktest.Epoch))
		if err == nil || !routing.Retryable(err) {
			t.Fatalf("Write to a slow server = %v, want a retryable timeout", err)
		}
		if took := time.Since(start); took > 900*time.Millisecond {
			t.Errorf("Write took %s, want the 300ms request timeout to end it", took)
		}
	})
}

// TestCassandraLatestTimestamps checks latest mode's writes: USING TIMESTAMP is the
// event time, an older event is not written, the greater id wins a tie without
// mixing the two rows, and when a key's newest event fails permanently the next
// newest is written.
func TestCassandraLatestTimestamps(t *testing.T) {
	c := startCassandra(t)
	sink := c.open(t, c.config())
	route := routing.Route{Name: "lt", Class: routing.Runtime, Mode: routing.Latest, Target: "lt_{contract}"}
	at := sinktest.Epoch.Add(123456 * time.Microsecond)
	session := c.connect(t)
	defer session.Close()
	// stored returns the key's event id and the write times of two of its columns.
	stored := func(t *testing.T, contract, key string) (string, string, int64, int64) {
		t.Helper()
		var id, customer string
		var wID, wCustomer int64
		q := fmt.Sprintf(`SELECT "_waybill_id", customer, WRITETIME("_waybill_id"), WRITETIME(customer) FROM %s.%s WHERE "_waybill_key" = ?`, c.keyspace, cassandraTable(route, contract))
		if err := session.Query(q, key).Scan(&id, &customer, &wID, &wCustomer); err != nil {
			t.Fatalf("reading key %s: %v", key, err)
		}
		return id, customer, wID, wCustomer
	}
	ev := func(contract, id string, d time.Duration, customer string) routing.Event {
		e := orderEvent(t, contract, id, "k", at.Add(d))
		schema, _ := sinktest.Schemas{}.Avro(sinktest.OrderSchemaID)
		data, err := avro.Marshal(schema, map[string]any{"order_id": id, "customer": customer, "qty": 1,
			"total": big.NewRat(1, 1), "placed_at": at, "note": nil})
		if err != nil {
			t.Fatal(err)
		}
		e.Data = data
		return e
	}

	t.Run("write time is the event time", func(t *testing.T) {
		if err := writeBatch(sink, route, ev("ts", "b", 0, "first")); err != nil {
			t.Fatal(err)
		}
		id, _, w1, w2 := stored(t, "ts", "k")
		if id != "b" || w1 != at.UnixMicro() || w2 != at.UnixMicro() {
			t.Fatalf("stored %s written at %d/%d, want b at %d", id, w1, w2, at.UnixMicro())
		}
		// An older event arriving later changes nothing, whatever its cells' values.
		if err := writeBatch(sink, route, ev("ts", "zzz", -time.Microsecond, "zzz older")); err != nil {
			t.Fatal(err)
		}
		if id, customer, _, _ := stored(t, "ts", "k"); id != "b" || customer != "first" {
			t.Fatalf("after an older event: %s %q, want b \"first\"", id, customer)
		}
	})
	t.Run("tie on time, greater id wins whole", func(t *testing.T) {
		// "c" > "b" at the same microsecond; its customer value sorts lower than b's, so
		// Cassandra's per-cell tie break (greater value) would keep b's customer.
		if err := writeBatch(sink, route, ev("ts", "c", 0, "a-lower")); err != nil {
			t.Fatal(err)
		}
		id, customer, w1, w2 := stored(t, "ts", "k")
		if id != "c" || customer != "a-lower" || w1 != w2 || w1 <= at.UnixMicro() {
			t.Fatalf("stored %s %q written at %d/%d, want all of c above %d", id, customer, w1, w2, at.UnixMicro())
		}
		// Re-delivering the loser of the tie changes nothing.
		if err := writeBatch(sink, route, ev("ts", "b", 0, "first")); err != nil {
			t.Fatal(err)
		}
		if id, _, _, _ := stored(t, "ts", "k"); id != "c" {
			t.Fatalf("after re-delivering b: %s, want c", id)
		}
		// A newer event wins, written at its own event time if that is above.
		if err := writeBatch(sink, route, ev("ts", "a", time.Second, "newest")); err != nil {
			t.Fatal(err)
		}
		if id, customer, w1, _ := stored(t, "ts", "k"); id != "a" || customer != "newest" || w1 != at.Add(time.Second).UnixMicro() {
			t.Fatalf("after a newer event: %s %q at %d, want a \"newest\" at %d", id, customer, w1, at.Add(time.Second).UnixMicro())
		}
	})
	t.Run("newest fails permanently", func(t *testing.T) {
		srv := c.needServer(t)
		srv.FailMatchingN("v3-poison", cql.Invalid, -1)
		defer srv.ClearFaults()
		err := writeBatch(sink, route, ev("fb", "v1", 0, "one"), ev("fb", "v3-poison", 2*time.Second, "three"), ev("fb", "v2", time.Second, "two"))
		var be *routing.BatchError
		if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 1 || routing.Retryable(be.Items[0].Err) {
			t.Fatalf("Write = %v, want event 1 (v3-poison) alone failed permanently", err)
		}
		if id, customer, _, _ := stored(t, "fb", "k"); id != "v2" || customer != "two" {
			t.Fatalf("stored %s %q, want the next newest, v2", id, customer)
		}
	})
}

// evolving are versions of one contract: v2 adds a field and a record, v3 a field of
// that record, v4 changes a field's type.
var evolving = map[int]avro.Schema{
	1: avro.MustParse(`{"type":"record","name":"Ev","namespace":"t","fields":[{"name":"a","type":"int"}]}`),
	2: avro.MustParse(`{"type":"record","name":"Ev","namespace":"t","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null},
		{"name":"r","type":["null",{"type":"record","name":"R","fields":[{"name":"x","type":"int"}]}],"default":null}]}`),
	3: avro.MustParse(`{"type":"record","name":"Ev","namespace":"t","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null},
		{"name":"r","type":["null",{"type":"record","name":"R","fields":[{"name":"x","type":"int"},{"name":"y","type":["null","long"],"default":null}]}],"default":null}]}`),
	4: avro.MustParse(`{"type":"record","name":"Ev","namespace":"t","fields":[{"name":"a","type":"string"}]}`),
}

type evolvingSchemas struct{}

func (evolvingSchemas) Avro(id int) (avro.Schema, error) {
	if s, ok := evolving[id]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("no schema %d", id)
}

func evolvingEvent(t testing.TB, id string, schemaID int, value map[string]any) routing.Event {
	t.Helper()
	data, err := avro.Marshal(evolving[schemaID], value)
	if err != nil {
		t.Fatal(err)
	}
	return routing.Event{ID: id, Contract: "evo", SchemaID: schemaID, Key: "k-" + id, Time: sinktest.Epoch, Received: sinktest.Epoch, Data: data}
}

// TestCassandraCreateTables checks create_tables across schema versions: new fields
// become columns and user type fields (ALTER), a changed type fails that version's
// events permanently, and without create_tables a missing table is retryable.
func TestCassandraCreateTables(t *testing.T) {
	c := startCassandra(t)
	sink := c.open(t, c.config())
	route := routing.Route{Name: "ct", Class: routing.Analytic, Mode: routing.Append, Target: "ct_{contract}"}
	write := func(events ...routing.Event) error {
		return sink.Write(context.Background(), &routing.Batch{Route: route, Events: events, Schemas: evolvingSchemas{}})
	}
	events := []routing.Event{
		evolvingEvent(t, "v1", 1, map[string]any{"a": 1}),
		evolvingEvent(t, "v2", 2, map[string]any{"a": 2, "b": map[string]any{"string": "bee"}, "r": map[string]any{"t.R": map[string]any{"x": 5}}}),
		evolvingEvent(t, "v3", 3, map[string]any{"a": 3, "b": nil, "r": map[string]any{"t.R": map[string]any{"x": 6, "y": map[string]any{"long": int64(7)}}}}),
	}
	for _, ev := range events { // one schema version at a time, as a contract evolves
		if err := write(ev); err != nil {
			t.Fatalf("writing %s: %v", ev.ID, err)
		}
	}
	// Version 4 changes a's type: its event fails permanently, naming the column; a v1
	// event in the same batch is stored.
	late := evolvingEvent(t, "v1-late", 1, map[string]any{"a": 9})
	err := write(evolvingEvent(t, "v4", 4, map[string]any{"a": "text now"}), late)
	var be *routing.BatchError
	var ce *cassandra.ConflictError
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 0 || routing.Retryable(be.Items[0].Err) ||
		!errors.As(be.Items[0].Err, &ce) || !strings.Contains(ce.Error(), "a is int, the schema needs text") {
		t.Fatalf("Write of a v4 event = %v, want it alone failed permanently with a conflict on column a", err)
	}
	got := c.readRows(t, cassandraTable(route, "evo"), evolvingSchemas{})
	want := map[string]routing.Event{}
	for _, ev := range append(events, late) {
		want[ev.ID] = ev
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for _, st := range got {
		ev, ok := want[st.ID]
		if !ok {
			t.Fatalf("unexpected row %s", st.ID)
		}
		v, err := avrovalue.Decode(evolving[ev.SchemaID], ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		if d := avrovalue.Diff(v, st.Value); d != "" || st.SchemaID != ev.SchemaID {
			t.Errorf("row %s (schema %d): differs at %s", st.ID, st.SchemaID, d)
		}
	}

	t.Run("without create_tables", func(t *testing.T) {
		cfg := c.config()
		cfg.CreateTables = false
		plain := c.open(t, cfg)
		err := plain.Write(context.Background(), &routing.Batch{Route: routing.Route{Name: "none", Mode: routing.Append, Target: "missing_{contract}"},
			Events: []routing.Event{orderEvent(t, "x", "e1", "k", sinktest.Epoch)}, Schemas: sinktest.Schemas{}})
		if err == nil || !routing.Retryable(err) || !strings.Contains(err.Error(), "unconfigured table missing_x") {
			t.Fatalf("Write to a missing table = %v, want a retryable unconfigured table", err)
		}
	})
}
