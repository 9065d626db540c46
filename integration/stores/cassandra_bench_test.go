package stores

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"gopkg.in/inf.v0"

	"github.com/waybill-data/waybill/adapters/cassandra"
	"github.com/waybill-data/waybill/routing"
)

// BenchmarkCassandra: the Cassandra sink on an analytic append route (LOCAL_QUORUM)
// against the CQL test server, or the cluster WAYBILL_TEST_CASSANDRA names, compared
// with gocql writing the same rows, in the sink's table layout, as an application
// would: per batch of the route's size, rows grouped by partition (key and day) into
// unlogged batches of at most cassandra.DefaultMaxBatchStatements, at LOCAL_QUORUM,
// cassandra.DefaultConcurrency batches in flight. 100 keys over batches of 1,000 make
// partitions of 10 rows per batch.
func BenchmarkCassandra(b *testing.B) {
	c := startCassandra(b)
	session := c.connect(b)
	b.Cleanup(session.Close)
	runStoreBench(b, storeBench{
		events: 20_000, keys: 100,
		route: `class: analytic, target: "tl_{contract}", batch: {max_events: 1000, max_wait: 20ms}`,
		open: func(b *testing.B, _ string) routing.Sink {
			s, err := cassandra.New(c.config(), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
		direct: func(b *testing.B, n benchNames, batch int) func(context.Context, []benchOrder) error {
			table := c.keyspace + "." + cassandra.TableName("tl_"+n.direct) // as the sink names it
			if err := session.Query(`CREATE TABLE ` + table + ` (_waybill_partition text, _waybill_day date, _waybill_time_us bigint,
				_waybill_id text, _waybill_key text, _waybill_contract text, _waybill_received_us bigint, _waybill_schema_id int,
				"order_id" text, "customer" text, "qty" int, "total" decimal, "placed_at" bigint, "tags" frozen<list<text>>, "note" text,
				PRIMARY KEY ((_waybill_partition, _waybill_day), _waybill_time_us, _waybill_id))`).Exec(); err != nil {
				b.Fatal(err)
			}
			d := &cassDirect{session: session, contract: n.direct, insert: `INSERT INTO ` + table + ` (_waybill_partition, _waybill_day,
				_waybill_time_us, _waybill_id, _waybill_key, _waybill_contract, _waybill_received_us, _waybill_schema_id,
				"order_id", "customer", "qty", "total", "placed_at", "tags", "note") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`}
			return func(ctx context.Context, orders []benchOrder) error {
				for from := 0; from < len(orders); from += batch {
					if err := d.write(ctx, orders[from:min(from+batch, len(orders))]); err != nil {
						return err
					}
				}
				return nil
			}
		},
		drop: func(b *testing.B, _, contract string) {
			if err := session.Query("DROP TABLE " + c.keyspace + "." + cassandra.TableName("tl_"+contract)).Exec(); err != nil {
				b.Fatal(err)
			}
		},
	})
}

// cassDirect writes orders with gocql.
type cassDirect struct {
	session  *gocql.Session
	insert   string
	contract string
}

type cassPartition struct {
	key string
	day time.Time
}

// write stores one batch of orders: grouped by partition into unlogged batches,
// several in flight.
func (d *cassDirect) write(ctx context.Context, orders []benchOrder) error {
	var groups [][]*benchOrder
	open := map[cassPartition]int{} // the partition's group being filled
	for i := range orders {
		o := &orders[i]
		p := cassPartition{o.customer, o.placed.UTC().Truncate(24 * time.Hour)}
		g, ok := open[p]
		if !ok || len(groups[g]) == cassandra.DefaultMaxBatchStatements {
			g = len(groups)
			open[p] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], o)
	}
	received := time.Now().UnixMicro()
	work := make(chan []*benchOrder)
	errs := make(chan error, len(groups))
	var wg sync.WaitGroup
	for range cassandra.DefaultConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				batch := d.session.Batch(gocql.UnloggedBatch).Consistency(gocql.LocalQuorum)
				for _, o := range g {
					t := o.placed.UnixMicro()
					batch.Query(d.insert, o.customer, o.placed.UTC().Truncate(24*time.Hour), t, o.id, o.customer, d.contract, received,
						int32(benchSchemaID), o.orderID, o.customer, o.qty, inf.NewDec(o.cents, 2), t, o.tags, o.note)
				}
				if err := batch.ExecContext(ctx); err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, g := range groups {
		work <- g
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs
}
