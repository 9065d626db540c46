package stores

// The store benchmarks' engine. Each adapter's benchmark (BenchmarkLake,
// BenchmarkWebHDFS, BenchmarkMongoDB, BenchmarkElasticsearch, BenchmarkCassandra) writes
// the same orders three ways in one run:
//
//   - router: JSON batches of 500 posted by four producers to the real intake
//     (routing.Router's handler on a loopback HTTP server, a real WAL with
//     group-commit fsync in the benchmark's temp directory), delivered by the route's
//     loop to the adapter's sink; timed from the first post until the ledger counts
//     every event delivered;
//   - sink: the same events, already Avro, handed to the sink's Write in batches of the
//     route's batch size, one after another as the route's loop does: the adapter's
//     own cost, without intake;
//   - direct: the same orders written with the store's own client in bulks of the same
//     size, as an application would without Waybill, from its values in memory
//     (building its documents, rows or files is part of the work).
//
// A round runs the three ways in turn, each to a fresh target that is dropped after
// it (untimed), so each finds the store in the same state; successive rounds start
// with the next way, so over three rounds each way runs once in each position. A
// warm-up round of two batches each comes first. Each benchmark iteration is one
// round (use -benchtime 3x). Reported: events/s of each way, router/direct and
// sink/direct, the intake rate (until the last post was answered), and the process's
// CPU time per event of each way (client, router and the in-process store together),
// which the machine's other load disturbs far less than the rates. The figures and
// the command that reproduces them are in docs/BENCHMARKS.md.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"gopkg.in/yaml.v3"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/cache"
)

// benchOrderSchema is the benchmarks' contract: an order of 7 fields (text, int,
// decimal, timestamp-micros, list, nullable text). customer is its key field and
// placed_at its time field.
const benchOrderSchema = `{"type":"record","name":"Order","fields":[
 {"name":"order_id","type":"string"},
 {"name":"customer","type":"string"},
 {"name":"qty","type":"int"},
 {"name":"total","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
 {"name":"placed_at","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"tags","type":{"type":"array","items":"string"}},
 {"name":"note","type":["null","string"]}
]}`

var benchAvro = func() avro.Schema {
	s, err := schemas.ParseAvro(benchOrderSchema)
	if err != nil {
		panic(err)
	}
	return s
}()

const (
	benchSchemaID   = 1
	benchRoute      = "bench"
	benchPostEvents = 500 // events per intake request
	benchProducers  = 4   // concurrent producers
)

var benchEpoch = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)

type benchSchemas struct{}

func (benchSchemas) Avro(int) (avro.Schema, error) { return benchAvro, nil }

// benchOrder is one order as an application holds it. Its event id is id; its key,
// the contract's key field, is customer; its event time is placed.
type benchOrder struct {
	id, orderID, customer string
	qty                   int32
	cents                 int64 // total, in cents
	placed                time.Time
	tags                  []string
	note                  string
}

// total is the order's total as exact decimal text ("12.34").
func (o *benchOrder) total() string { return fmt.Sprintf("%d.%02d", o.cents/100, o.cents%100) }

// benchOrders are n orders over keys customers, a millisecond apart, all of one day,
// with event ids that start with prefix.
func benchOrders(prefix string, n, keys int) []benchOrder {
	orders := make([]benchOrder, n)
	for i := range orders {
		orders[i] = benchOrder{id: fmt.Sprintf("%s-e%07d", prefix, i), orderID: fmt.Sprintf("o-%07d", i), customer: fmt.Sprintf("customer-%03d", i%keys),
			qty: int32(i%9 + 1), cents: int64(i)*137 + 99, placed: benchEpoch.Add(time.Duration(i) * time.Millisecond),
			tags: []string{"web", "eu"}, note: "leave at the door"}
	}
	return orders
}

// benchOrderRecord is the order as hamba encodes it (the contract's record).
type benchOrderRecord struct {
	OrderID  string    `avro:"order_id"`
	Customer string    `avro:"customer"`
	Qty      int32     `avro:"qty"`
	Total    *big.Rat  `avro:"total"`
	PlacedAt time.Time `avro:"placed_at"`
	Tags     []string  `avro:"tags"`
	Note     *string   `avro:"note"`
}

func (o *benchOrder) record() benchOrderRecord {
	return benchOrderRecord{OrderID: o.orderID, Customer: o.customer, Qty: o.qty, Total: big.NewRat(o.cents, 100),
		PlacedAt: o.placed, Tags: o.tags, Note: &o.note}
}

// benchEvents are the orders as the router hands them to a sink: Avro data with its
// envelope, sequence numbers from 1.
func benchEvents(b *testing.B, contract string, orders []benchOrder) []routing.Event {
	events := make([]routing.Event, len(orders))
	received := time.Now()
	for i := range orders {
		o := &orders[i]
		data, err := avro.Marshal(benchAvro, o.record())
		if err != nil {
			b.Fatal(err)
		}
		events[i] = routing.Event{Seq: uint64(i + 1), ID: o.id, Contract: contract, SchemaID: benchSchemaID,
			Key: o.customer, Time: o.placed, Received: received, Data: data}
	}
	return events
}

// benchBodies are the orders as producers post them: JSON arrays of benchPostEvents
// events with their ids; key and time come from the contract's fields.
func benchBodies(contract string, orders []benchOrder) [][]byte {
	var bodies [][]byte
	for from := 0; from < len(orders); from += benchPostEvents {
		var buf bytes.Buffer
		buf.WriteByte('[')
		for i := from; i < min(from+benchPostEvents, len(orders)); i++ {
			if i > from {
				buf.WriteByte(',')
			}
			o := &orders[i]
			fmt.Fprintf(&buf, `{"contract":%q,"id":%q,"data":{"order_id":%q,"customer":%q,"qty":%d,"total":%q,`+
				`"placed_at":%d,"tags":["web","eu"],"note":{"string":%q}}}`,
				contract, o.id, o.orderID, o.customer, o.qty, o.total(), o.placed.UnixMicro(), o.note)
		}
		buf.WriteByte(']')
		bodies = append(bodies, buf.Bytes())
	}
	return bodies
}

// benchContracts governs every subject alike: benchOrderSchema at id 1, key field
// customer, time field placed_at, routed to benchRoute.
type benchContracts struct {
	version  *cache.Version
	contract *schemas.Contract
}

func newBenchContracts() *benchContracts {
	sc := &cache.Schema{Record: schemas.SchemaRecord{ID: benchSchemaID}, Avro: benchAvro}
	return &benchContracts{
		version: &cache.Version{Subject: "bench", Version: 1, ID: benchSchemaID, Schema: sc},
		contract: &schemas.Contract{Owner: "bench", KeyField: "customer", TimeField: "placed_at",
			Routes: schemas.RoutePolicy{Allowed: []string{benchRoute}, Default: []string{benchRoute}}},
	}
}

func (c *benchContracts) Latest(string) (*cache.Version, bool) { return c.version, true }
func (c *benchContracts) SchemaByID(id int) (*cache.Schema, bool) {
	return c.version.Schema, id == benchSchemaID
}
func (c *benchContracts) Contract(string) (*schemas.Contract, bool) { return c.contract, true }
func (c *benchContracts) SubjectHasSchema(_ string, id int) bool    { return id == benchSchemaID }

// benchNames are one round's names: the prefix of its event ids (the router keeps
// the ids producers choose, to recognise resent events, so each round has its own)
// and a contract per way, so that each way writes targets of its own.
type benchNames struct{ round, router, sink, direct string }

var benchRound atomic.Int64

func nextBenchNames() benchNames {
	r := fmt.Sprintf("bench%d_%d", os.Getpid(), benchRound.Add(1)) // unique on a shared cluster too
	return benchNames{r, r + "_router", r + "_sink", r + "_direct"}
}

// storeBench is one adapter's case.
type storeBench struct {
	events int // orders per round: a multiple of the route's batch size and of benchPostEvents
	keys   int // distinct customers (entity keys)
	// route is the route's YAML mapping, without braces and sink, configured as a user
	// of the store would: class, mode, target, and batch or roll sized to its bulks.
	route string
	// open opens a sink on the store; which is "router" or "sink" (file sinks need a
	// root each). It closes the sink when the benchmark ends.
	open func(b *testing.B, which string) routing.Sink
	// direct prepares (untimed) the direct client's fresh target for the round and
	// returns the timed write of the orders to it, in bulks of batch events.
	direct func(b *testing.B, n benchNames, batch int) func(ctx context.Context, orders []benchOrder) error
	// drop deletes what way ("router", "sink" or "direct") wrote for contract, so that
	// each way finds the store as the one before it did.
	drop func(b *testing.B, way, contract string)
}

// benchRouter is a router with one route, benchRoute, to sink, on a loopback server.
type benchRouter struct {
	rt    *routing.Router
	url   string
	route routing.RouteConfig
}

func startBenchRouter(b *testing.B, sb storeBench, sink routing.Sink) *benchRouter {
	b.Helper()
	yml := fmt.Sprintf("state_dir: %s\netcd_endpoints: [127.0.0.1:2379]\nsinks:\n  store: {kind: bench}\nroutes:\n  %s: {sink: store, %s}\n",
		b.TempDir(), benchRoute, sb.route)
	cfg, err := routing.ParseConfig([]byte(yml))
	if err != nil {
		b.Fatal(err)
	}
	// The sink is opened here, from Go; its YAML mapping carries only the kind.
	if err := cfg.Validate(map[string]routing.SinkKind{"bench": {Validate: func(string, *yaml.Node) []error { return nil }}}); err != nil {
		b.Fatal(err)
	}
	if rc := cfg.Routes[benchRoute]; sb.events%rc.Batch.MaxEvents != 0 || sb.events%benchPostEvents != 0 {
		b.Fatalf("%d events per round: not a multiple of the route's %d-event batches and of %d-event posts", sb.events, rc.Batch.MaxEvents, benchPostEvents)
	}
	rt, err := routing.New(routing.Options{Config: cfg, Contracts: newBenchContracts(), Sinks: map[string]routing.Sink{"store": sink},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}) // failed deliveries show
	if err != nil {
		b.Fatal(err)
	}
	if err := rt.Start(); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(rt.Handler())
	b.Cleanup(func() {
		srv.Close()
		if err := rt.Close(); err != nil {
			b.Error(err)
		}
	})
	return &benchRouter{rt: rt, url: srv.URL + "/v1/events", route: cfg.Routes[benchRoute]}
}

// post sends the bodies with benchProducers concurrent producers.
func (br *benchRouter) post(b *testing.B, client *http.Client, bodies [][]byte) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchProducers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(bodies); i = int(next.Add(1)) - 1 {
				res, err := client.Post(br.url, "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					b.Error(err)
					return
				}
				answer, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Errorf("intake: HTTP %d: %.300s", res.StatusCode, answer)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// waitDelivered polls the ledger until n events of contract are delivered. Dead
// letters or no progress for a minute end the benchmark.
func (br *benchRouter) waitDelivered(b *testing.B, contract string, n int64) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var last int64
	progress := time.Now()
	for {
		rows, err := br.rt.LedgerRows()
		if err != nil {
			b.Fatal(err)
		}
		var delivered, dead int64
		for _, r := range rows {
			if r.Contract == contract && r.Route == benchRoute {
				delivered += r.Delivered
				dead += r.DeadLettered
			}
		}
		switch {
		case dead > 0:
			b.Fatalf("%s: %d events dead-lettered (GET /v1/deadletters?route=%s says why)", contract, dead, benchRoute)
		case delivered >= n:
			return
		case delivered > last:
			last, progress = delivered, time.Now()
		case time.Since(progress) > time.Minute:
			b.Fatalf("%s: %d of %d events delivered, no progress for a minute", contract, delivered, n)
		}
		<-tick.C
	}
}

// runStoreBench runs rounds of the three ways and reports their rates. Each round
// starts with the next way (router, sink, direct; then sink, direct, router...), so
// that over three rounds each way runs once in each position.
func runStoreBench(b *testing.B, sb storeBench) {
	routerSink := sb.open(b, "router")
	sink := sb.open(b, "sink")
	br := startBenchRouter(b, sb, routerSink)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchProducers, DisableCompression: true}}
	defer client.CloseIdleConnections()
	rc := br.route
	route, batch := routing.Route{Name: benchRoute, Class: rc.Class, Mode: rc.Mode, Target: rc.Target}, rc.Batch.MaxEvents
	ctx := context.Background()
	var intake time.Duration
	// Each way prepares its input (untimed), runs measure, then drops what it wrote.
	ways := []func(n benchNames, orders []benchOrder, measure func(func())){ // router, sink, direct
		func(n benchNames, orders []benchOrder, measure func(func())) {
			bodies := benchBodies(n.router, orders)
			measure(func() {
				start := time.Now()
				br.post(b, client, bodies)
				intake += time.Since(start)
				if b.Failed() {
					b.FailNow() // a post was refused: the ledger would never count every event
				}
				br.waitDelivered(b, n.router, int64(len(orders)))
			})
			sb.drop(b, "router", n.router)
		},
		func(n benchNames, orders []benchOrder, measure func(func())) {
			events := benchEvents(b, n.sink, orders)
			measure(func() {
				for from := 0; from < len(events); from += batch {
					if err := sink.Write(ctx, &routing.Batch{Route: route, Events: events[from:min(from+batch, len(events))], Schemas: benchSchemas{}}); err != nil {
						b.Fatalf("sink: %v", err)
					}
				}
			})
			sb.drop(b, "sink", n.sink)
		},
		func(n benchNames, orders []benchOrder, measure func(func())) {
			write := sb.direct(b, n, batch)
			measure(func() {
				if err := write(ctx, orders); err != nil {
					b.Fatalf("direct: %v", err)
				}
			})
			sb.drop(b, "direct", n.direct)
		},
	}
	// A warm-up round of two batches each: connections, prepared statements, the
	// store's and the runtime's first-use costs.
	warm := nextBenchNames()
	for _, way := range ways {
		way(warm, benchOrders(warm.round, min(sb.events, 2*batch), sb.keys), func(f func()) { f() })
	}
	intake = 0
	var took, cpu [3]time.Duration // router, sink, direct
	for round := 0; b.Loop(); round++ {
		n := nextBenchNames()
		orders := benchOrders(n.round, sb.events, sb.keys)
		for k := range ways {
			w := (round + k) % len(ways)
			ways[w](n, orders, func(f func()) {
				runtime.GC()
				c, start := cpuTime(b), time.Now()
				f()
				took[w] += time.Since(start)
				cpu[w] += cpuTime(b) - c
			})
		}
	}
	total := float64(b.N * sb.events)
	routerRate, sinkRate, directRate := total/took[0].Seconds(), total/took[1].Seconds(), total/took[2].Seconds()
	b.ReportMetric(total/intake.Seconds(), "intake_events/s") // until the last post was answered
	b.ReportMetric(routerRate, "router_events/s")
	b.ReportMetric(sinkRate, "sink_events/s")
	b.ReportMetric(directRate, "direct_events/s")
	b.ReportMetric(routerRate/directRate, "router/direct")
	for w, name := range []string{"router", "sink", "direct"} {
		b.ReportMetric(float64(cpu[w].Microseconds())/total, name+"_cpu_µs/event")
	}
	b.ReportMetric(sinkRate/directRate, "sink/direct")
	b.ReportMetric(0, "ns/op") // an iteration is a round of all three ways; the rates are the figures
}

// cpuTime is the CPU time this process used so far, user and system: the client's,
// the router's and the in-process store's.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
