package stores

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/hamba/avro/v2"
	"gopkg.in/inf.v0"

	"github.com/waybill-data/waybill/adapters/cassandra"
	"github.com/waybill-data/waybill/routing"
)

// cassBenchBatch events per batch, cassBenchKeys entity keys: 10 events per key, all
// of one day, so each key is one partition of 10 rows.
const (
	cassBenchBatch = 500
	cassBenchKeys  = 50
)

// cassBenchRow is one order as an application would hold it.
type cassBenchRow struct {
	id, key, orderID, customer string
	qty                        int32
	total                      *inf.Dec
	placed                     int64
	tags                       []string
	note                       string
}

func cassBenchData(b *testing.B) ([]routing.Event, []cassBenchRow) {
	at := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	events := make([]routing.Event, cassBenchBatch)
	rows := make([]cassBenchRow, cassBenchBatch)
	for i := range events {
		t := at.Add(time.Duration(i) * time.Millisecond)
		r := cassBenchRow{id: fmt.Sprintf("bench-e%06d", i), key: fmt.Sprintf("k%03d", i%cassBenchKeys), orderID: fmt.Sprintf("o-%06d", i),
			customer: fmt.Sprintf("customer-%d", i%50), qty: int32(i%9 + 1), total: inf.NewDec(int64(i)*137+99, 2),
			placed: t.UnixMicro(), tags: []string{"web", "eu"}, note: "leave at the door"}
		data, err := avro.Marshal(benchAvro, map[string]any{
			"order_id": r.orderID, "customer": r.customer, "qty": int(r.qty), "total": big.NewRat(int64(i)*137+99, 100),
			"placed_at": t, "tags": r.tags, "note": map[string]any{"string": r.note},
		})
		if err != nil {
			b.Fatal(err)
		}
		events[i] = routing.Event{Seq: uint64(i + 1), ID: r.id, Contract: "bench", SchemaID: 1, Key: r.key, Time: t, Received: t, Data: data}
		rows[i] = r
	}
	return events, rows
}

// cassBenchDirect writes rows as an application using gocql would: one prepared
// INSERT, rows grouped by partition into unlogged batches of at most 50, eight
// batches in flight (the sink's defaults).
type cassBenchDirect struct {
	session *gocql.Session
	insert  string
	groups  [][]cassBenchRow
	day     time.Time
}

func (d *cassBenchDirect) write(ctx context.Context) error {
	work := make(chan []cassBenchRow)
	errs := make(chan error, len(d.groups))
	var wg sync.WaitGroup
	for range cassandra.DefaultConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				batch := d.session.Batch(gocql.UnloggedBatch).Consistency(gocql.LocalQuorum)
				for _, r := range g {
					batch.Query(d.insert, r.key, d.day, r.placed, r.id, r.key, "bench", r.placed, int32(1),
						r.orderID, r.customer, r.qty, r.total, r.placed, r.tags, r.note)
				}
				if err := batch.ExecContext(ctx); err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, g := range d.groups {
		work <- g
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs
}

// BenchmarkCassandra compares, in one run against the CQL test server, events/s
// through the sink (Avro decode, mapping to CQL values, grouping by partition,
// prepared statements in unlogged batches) with the same rows written directly with
// gocql in unlogged batches by partition from values held ready. Each iteration writes
// one batch both ways, alternating, so both see the same machine load; the figure is
// sink/direct.
func BenchmarkCassandra(b *testing.B) {
	c := startCassandra(b)
	events, rows := cassBenchData(b)
	cfg := c.config()
	sink, err := cassandra.New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	route := routing.Route{Name: "bench", Class: routing.Analytic, Mode: routing.Append, Target: "bench_sink"}
	ctx := context.Background()
	if err := sink.Write(ctx, &routing.Batch{Route: route, Events: events, Schemas: benchSchemas{}}); err != nil {
		b.Fatal(err) // creates the table, prepares the statement
	}

	session := c.connect(b)
	defer session.Close()
	if err := session.Query(`CREATE TABLE ` + c.keyspace + `.bench_direct (_waybill_partition text, _waybill_day date, _waybill_time_us bigint,
		_waybill_id text, _waybill_key text, _waybill_contract text, _waybill_received_us bigint, _waybill_schema_id int,
		order_id text, customer text, qty int, total decimal, placed_at bigint, tags frozen<list<text>>, note text,
		PRIMARY KEY ((_waybill_partition, _waybill_day), _waybill_time_us, _waybill_id))`).Exec(); err != nil {
		b.Fatal(err)
	}
	direct := &cassBenchDirect{session: session, day: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		insert: `INSERT INTO ` + c.keyspace + `.bench_direct (_waybill_partition, _waybill_day, _waybill_time_us, _waybill_id, _waybill_key,
			_waybill_contract, _waybill_received_us, _waybill_schema_id, order_id, customer, qty, total, placed_at, tags, note)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`}
	byKey := map[string]int{}
	for _, r := range rows {
		i, ok := byKey[r.key]
		if !ok {
			i = len(direct.groups)
			byKey[r.key] = i
			direct.groups = append(direct.groups, nil)
		}
		direct.groups[i] = append(direct.groups[i], r)
	}
	if err := direct.write(ctx); err != nil {
		b.Fatal(err) // prepares the statement
	}

	var sinkTime, directTime time.Duration
	for b.Loop() {
		start := time.Now()
		if err := sink.Write(ctx, &routing.Batch{Route: route, Events: events, Schemas: benchSchemas{}}); err != nil {
			b.Fatal(err)
		}
		sinkTime += time.Since(start)
		start = time.Now()
		if err := direct.write(ctx); err != nil {
			b.Fatal(err)
		}
		directTime += time.Since(start)
	}
	n := float64(b.N * cassBenchBatch)
	sinkRate, directRate := n/sinkTime.Seconds(), n/directTime.Seconds()
	b.ReportMetric(sinkRate, "sink_events/s")
	b.ReportMetric(directRate, "direct_events/s")
	b.ReportMetric(sinkRate/directRate, "sink/direct")
}
