package routing_test

// Intake benchmarks: events through the real HTTP intake (loopback TCP), JSON batches
// of 500 order records validated against their contract, made durable by the WAL's
// group-commit fsync, answered, and delivered to discarding sinks (or to the lake).
//
//	go test -run '^$' -bench Intake -benchtime 5s ./routing/
//
// The figures and the machine they were measured on are in docs/BENCHMARKS.md.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/waybill-data/waybill/adapters/lake"
	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/cache"
)

// benchOrderSchema is a realistic small order record: 9 fields.
const benchOrderSchema = `{"type":"record","name":"OrderPlaced","namespace":"shop","fields":[
	{"name":"order_id","type":"string"},
	{"name":"user_id","type":"string"},
	{"name":"amount_cents","type":"long"},
	{"name":"currency","type":"string"},
	{"name":"items","type":"int"},
	{"name":"country","type":"string"},
	{"name":"express","type":"boolean"},
	{"name":"coupon","type":["null","string"],"default":null},
	{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}`

const benchBatchEvents = 500

// benchContracts serves one governed contract, "orders", at schema id 1.
type benchContracts struct {
	version  *cache.Version
	contract *schemas.Contract
}

func newBenchContracts(b *testing.B, routes []string) *benchContracts {
	s, err := schemas.ParseAvro(benchOrderSchema)
	if err != nil {
		b.Fatal(err)
	}
	sc := &cache.Schema{Record: schemas.SchemaRecord{ID: 1}, Avro: s}
	return &benchContracts{
		version: &cache.Version{Subject: "orders", Version: 1, ID: 1, Schema: sc},
		contract: &schemas.Contract{Owner: "shop", KeyField: "user_id", TimeField: "ts",
			Routes: schemas.RoutePolicy{Allowed: routes, Default: routes}},
	}
}

func (c *benchContracts) Latest(subject string) (*cache.Version, bool) {
	return c.version, subject == "orders"
}
func (c *benchContracts) SchemaByID(id int) (*cache.Schema, bool) {
	return c.version.Schema, id == 1
}
func (c *benchContracts) Contract(subject string) (*schemas.Contract, bool) {
	return c.contract, subject == "orders"
}
func (c *benchContracts) SubjectHasSchema(subject string, id int) bool {
	return subject == "orders" && id == 1
}

// discardSink confirms every batch and counts the events.
type discardSink struct{ events atomic.Int64 }

func (s *discardSink) Write(_ context.Context, b *routing.Batch) error {
	s.events.Add(int64(len(b.Events)))
	return nil
}
func (s *discardSink) Close() error { return nil }

// benchRouter is a router on a loopback HTTP server with routes r1..rN, all on sinks
// of one kind.
type benchRouter struct {
	url       string
	delivered func() int64
}

func startBenchRouter(b *testing.B, routes int, withLake bool) *benchRouter {
	b.Helper()
	var names []string
	var yml strings.Builder
	fmt.Fprintf(&yml, "state_dir: %s\netcd_endpoints: [127.0.0.1:2379]\nsinks:\n", b.TempDir())
	for i := 1; i <= routes; i++ {
		fmt.Fprintf(&yml, "  s%d: {kind: bench}\n", i)
	}
	yml.WriteString("routes:\n")
	for i := 1; i <= routes; i++ {
		names = append(names, fmt.Sprintf("r%d", i))
		fmt.Fprintf(&yml, "  r%d: {sink: s%d, class: analytic, target: \"{contract}/dt={date}/hr={hour}\", batch: {max_events: 2000, max_wait: 10ms}}\n", i, i)
	}
	cfg, err := routing.ParseConfig([]byte(yml.String()))
	if err != nil {
		b.Fatal(err)
	}
	if err := cfg.Validate(map[string]routing.SinkKind{"bench": {Validate: func(string, *yaml.Node) []error { return nil }}}); err != nil {
		b.Fatal(err)
	}
	sinks := map[string]routing.Sink{}
	var counters []*discardSink
	var lakes []*lake.Sink
	for i := 1; i <= routes; i++ {
		name := fmt.Sprintf("s%d", i)
		if withLake {
			l, err := lake.New(lake.Config{Path: b.TempDir(), Codec: lake.CodecNull}, nil)
			if err != nil {
				b.Fatal(err)
			}
			lakes = append(lakes, l)
			sinks[name] = l
			continue
		}
		d := &discardSink{}
		counters = append(counters, d)
		sinks[name] = d
	}
	rt, err := routing.New(routing.Options{Config: cfg, Contracts: newBenchContracts(b, names), Sinks: sinks})
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
		for _, l := range lakes {
			l.Close()
		}
	})
	return &benchRouter{url: srv.URL + "/v1/events", delivered: func() int64 {
		var n int64
		for _, c := range counters {
			n += c.events.Load()
		}
		return n
	}}
}

// orderBatch is a JSON array of n order events without ids (the router assigns them).
func orderBatch(n, seed int) []byte {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		k := seed*n + i
		coupon := "null"
		if k%5 == 0 {
			coupon = `{"string":"SPRING10"}`
		}
		fmt.Fprintf(&buf, `{"contract":"orders","data":{"order_id":"o-%08d","user_id":"user-%d","amount_cents":%d,`+
			`"currency":"EUR","items":%d,"country":"DE","express":%t,"coupon":%s,"ts":%d}}`,
			k, k%9973, 1000+k%50000, 1+k%7, k%3 == 0, coupon, 1795300000000+int64(k))
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// postBatch sends one batch and fails unless all events were accepted.
func postBatch(client *http.Client, url string, body []byte) error {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, answer)
	}
	return nil
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
}

// BenchmarkIntake measures the maximum intake rate: several producers post batches of
// 500 back to back. Delivery to every route runs at the same time, on the same cores.
func BenchmarkIntake(b *testing.B) {
	for _, c := range []struct {
		name   string
		routes int
		lake   bool
	}{
		{"routes=1", 1, false},
		{"routes=4", 4, false},
		{"routes=1/lake", 1, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			br := startBenchRouter(b, c.routes, c.lake)
			bodies := make([][]byte, 16)
			for i := range bodies {
				bodies[i] = orderBatch(benchBatchEvents, i)
			}
			client := benchClient()
			var next atomic.Int64
			b.SetParallelism(4) // 8 producers on 2 cores: enough to keep group commit busy
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := postBatch(client, br.url, bodies[next.Add(1)%int64(len(bodies))]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N*benchBatchEvents)/b.Elapsed().Seconds(), "events/s")
			if !c.lake {
				// How far delivery kept up while intake ran flat out.
				b.ReportMetric(float64(br.delivered())/float64(b.N*benchBatchEvents*c.routes), "delivered-ratio")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkIntakeAckLatency paces batches open-loop at a fraction (half, a quarter) of
// the rate a short closed-loop run reached, and reports ack latency percentiles.
// Latency is measured from each batch's scheduled send time, so a stalled server is
// not hidden by senders that wait for it (no coordinated omission). Use a fixed count
// (-benchtime 1000x): each run starts with a 2-second probe of the maximum rate.
func BenchmarkIntakeAckLatency(b *testing.B) {
	for _, load := range []float64{0.5, 0.25} {
		b.Run(fmt.Sprintf("load=%.0f%%", load*100), func(b *testing.B) { benchAckLatency(b, load) })
	}
}

func benchAckLatency(b *testing.B, load float64) {
	br := startBenchRouter(b, 1, false)
	client := benchClient()
	bodies := make([][]byte, 16)
	for i := range bodies {
		bodies[i] = orderBatch(benchBatchEvents, i)
	}
	// Closed-loop probe of the maximum rate.
	const probe = 2 * time.Second
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; time.Since(start) < probe; i++ {
				if err := postBatch(client, br.url, bodies[i%len(bodies)]); err != nil {
					b.Error(err)
					return
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	maxRate := float64(sent.Load()*benchBatchEvents) / time.Since(start).Seconds()
	rate := maxRate * load
	interval := time.Duration(float64(time.Second) * benchBatchEvents / rate)

	var mu sync.Mutex
	var lat []time.Duration
	metricsURL := strings.TrimSuffix(br.url, "/v1/events") + "/metrics"
	fsyncBefore := fsyncBuckets(b, metricsURL)
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		due := t0.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // pacing the generator, not waiting for a result
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := postBatch(client, br.url, bodies[i%len(bodies)]); err != nil {
				b.Error(err)
				return
			}
			l := time.Since(due)
			mu.Lock()
			lat = append(lat, l)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	fsyncP99 := bucketQuantile(fsyncBefore, fsyncBuckets(b, metricsURL), 0.99)
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(maxRate, "max-events/s")
	b.ReportMetric(rate, "paced-events/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(fsyncP99*1000, "fsync-p99-ms")
	b.ReportMetric(0, "ns/op")
}

// fsyncBuckets reads the WAL fsync histogram's cumulative buckets from /metrics.
func fsyncBuckets(b *testing.B, url string) []*dto.Bucket {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	f := families["waybill_wal_fsync_seconds"]
	if f == nil || len(f.GetMetric()) != 1 {
		b.Fatal("no waybill_wal_fsync_seconds histogram in /metrics")
	}
	return f.GetMetric()[0].GetHistogram().GetBucket()
}

// bucketQuantile is the upper bound of the bucket holding quantile q of the
// observations made between two scrapes of one histogram (an upper estimate).
func bucketQuantile(before, after []*dto.Bucket, q float64) float64 {
	total := float64(after[len(after)-1].GetCumulativeCount() - before[len(before)-1].GetCumulativeCount())
	for i, bk := range after {
		if float64(bk.GetCumulativeCount()-before[i].GetCumulativeCount()) >= q*total {
			return bk.GetUpperBound()
		}
	}
	return math.Inf(1)
}
