// Command demo shows Waybill end to end on one machine, in one command (`make demo`):
//
//  1. builds cmd/registry, cmd/router and integration/cmd/devstack;
//  2. starts the registry with its embedded etcd, and the local stores (FerretDB, and
//     the protocol-level test servers for Cassandra, Elasticsearch and WebHDFS);
//  3. registers the example contracts in examples/contracts (schemas and governance);
//  4. starts the router with five routes over the five sinks (examples/router.yaml.tmpl);
//  5. sends generated events with mixed routing directions — JSON batches and Confluent
//     wire-format Avro, a few deliberately bad — for --duration, printing a progress line;
//  6. waits for delivery, prints where the data landed and the `router verify` report;
//  7. stops everything (SIGTERM, then the logs and the lake stay in --dir).
//
// Ctrl-C at any point stops everything too.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/template"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/integration/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	dir      string
	duration time.Duration
	rate     int
	root     string // module root (examples/, go build)
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.dir, "dir", "data/demo", "directory for the demo's state, lake and logs (emptied first)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long to send events")
	fs.IntVar(&o.rate, "rate", 1000, "events per second to send")
	fs.StringVar(&o.root, "root", ".", "the Waybill source tree (for go build and examples/)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.duration <= 0 || o.rate <= 0 {
		return errors.New("--duration and --rate must be positive")
	}
	d := &demo{o: o, out: out}
	defer d.stopAll()
	return d.run(ctx)
}

// demo is one run: its processes and addresses.
type demo struct {
	o   options
	out io.Writer

	bin, logs    string
	etcd         string // the embedded etcd's client address
	regURL       string
	routerURL    string
	routerConfig string
	stack        devstack.Addresses
	procs        []*proc
	schemaIDs    map[string]int
	schemas      map[string]avro.Schema
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) run(ctx context.Context) error {
	var err error
	if d.o.dir, err = filepath.Abs(d.o.dir); err != nil {
		return err
	}
	if err := os.RemoveAll(d.o.dir); err != nil {
		return err
	}
	d.bin, d.logs = filepath.Join(d.o.dir, "bin"), filepath.Join(d.o.dir, "logs")
	for _, dir := range []string{d.bin, d.logs} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}

	d.say("==> building registry, router and devstack")
	build := exec.CommandContext(ctx, "go", "build", "-o", d.bin+"/", "./cmd/registry", "./cmd/router", "./integration/cmd/devstack")
	build.Dir = d.o.root
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}

	if err := d.startRegistry(ctx); err != nil {
		return err
	}
	if err := d.startStores(ctx); err != nil {
		return err
	}
	if err := d.registerContracts(ctx); err != nil {
		return err
	}
	if err := d.startRouter(ctx); err != nil {
		return err
	}
	gen := &generator{d: d, users: 200}
	if err := gen.send(ctx); err != nil {
		return err
	}
	if err := d.drain(ctx); err != nil {
		return err
	}
	if err := d.where(ctx, gen); err != nil {
		return err
	}
	verifyErr := d.verify(ctx)
	d.say("\n==> stopping")
	d.stopAll()
	d.say("    everything is stopped. Logs: %s; the lake: %s (`make clean` removes data/).", d.logs, filepath.Join(d.o.dir, "lake"))
	return verifyErr
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (d *demo) startRegistry(ctx context.Context) error {
	regAddr, err := freeAddr()
	if err != nil {
		return err
	}
	etcdAddr, err := freeAddr()
	if err != nil {
		return err
	}
	d.say("==> starting the registry on %s (embedded etcd on %s)", regAddr, etcdAddr)
	d.regURL = "http://" + regAddr
	if _, err := d.start("registry", "--listen", regAddr, "--data-dir", filepath.Join(d.o.dir, "etcd"), "--etcd-listen", etcdAddr); err != nil {
		return err
	}
	d.etcd = etcdAddr
	return d.waitHTTP(ctx, "registry", d.regURL+"/readyz", 60*time.Second)
}

func (d *demo) startStores(ctx context.Context) error {
	d.say("==> starting the local stores (integration/cmd/devstack)")
	dir := filepath.Join(d.o.dir, "devstack")
	p, err := d.start("devstack", "--dir", dir)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if d.stack, err = devstack.ReadAddresses(dir); err == nil {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			return fmt.Errorf("devstack did not write its addresses (see %s)", p.logPath)
		}
		if err := pause(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	d.say("    mongodb       %s  FerretDB v1.24.2 (SQLite): a real MongoDB wire-protocol database", d.stack.MongoDB)
	d.say("    cassandra     %s  CQL native protocol v4 TEST server (in memory; not Cassandra)", d.stack.Cassandra)
	d.say("    elasticsearch %s  Elasticsearch REST TEST server (in memory; not Elasticsearch)", d.stack.Elasticsearch)
	d.say("    webhdfs       %s  WebHDFS TEST server (in memory; not HDFS)", d.stack.WebHDFS)
	return d.createKeyspace(ctx)
}

// createKeyspace makes the keyspace the timeline route writes to: replication is an
// operator's decision, so the Cassandra sink never creates keyspaces itself.
func (d *demo) createKeyspace(ctx context.Context) error {
	host, port, err := net.SplitHostPort(d.stack.Cassandra)
	if err != nil {
		return err
	}
	c := gocql.NewCluster(host)
	fmt.Sscan(port, &c.Port)
	c.ProtoVersion = 4
	c.Timeout, c.ConnectTimeout = 10*time.Second, 10*time.Second
	s, err := c.CreateSession()
	if err != nil {
		return fmt.Errorf("cassandra: %w", err)
	}
	defer s.Close()
	return s.Query(`CREATE KEYSPACE IF NOT EXISTS waybill_demo WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`).ExecContext(ctx)
}

// contracts are the example subjects, in registration order.
var contracts = []string{"checkout.order_placed", "clickstream.page_viewed"}

func (d *demo) registerContracts(ctx context.Context) error {
	d.say("==> registering the example contracts (examples/contracts)")
	d.schemaIDs, d.schemas = map[string]int{}, map[string]avro.Schema{}
	for _, subject := range contracts {
		text, err := os.ReadFile(filepath.Join(d.o.root, "examples", "contracts", subject+".avsc"))
		if err != nil {
			return err
		}
		gov, err := os.ReadFile(filepath.Join(d.o.root, "examples", "contracts", subject+".contract.json"))
		if err != nil {
			return err
		}
		var reg struct {
			ID int `json:"id"`
		}
		if err := call(ctx, http.MethodPost, d.regURL+"/subjects/"+subject+"/versions", map[string]string{"schema": string(text)}, &reg); err != nil {
			return fmt.Errorf("registering %s: %w", subject, err)
		}
		if err := call(ctx, http.MethodPut, d.regURL+"/contracts/"+subject, json.RawMessage(gov), nil); err != nil {
			return fmt.Errorf("governing %s: %w", subject, err)
		}
		if d.schemas[subject], err = avro.Parse(string(text)); err != nil {
			return err
		}
		d.schemaIDs[subject] = reg.ID
		var c struct {
			Owner          string            `json:"owner"`
			Classification map[string]string `json:"classification"`
			Routes         struct {
				Allowed, Required, Default []string
			} `json:"routes"`
		}
		if err := call(ctx, http.MethodGet, d.regURL+"/contracts/"+subject, nil, &c); err != nil {
			return err
		}
		d.say("    %-24s schema id %d, owner %s, PII %v, routes allowed %v, required %v, default %v",
			subject, reg.ID, c.Owner, keys(c.Classification), c.Routes.Allowed, c.Routes.Required, c.Routes.Default)
	}
	return nil
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (d *demo) startRouter(ctx context.Context) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	tmpl, err := template.ParseFiles(filepath.Join(d.o.root, "examples", "router.yaml.tmpl"))
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(d.stack.Cassandra)
	var cfg bytes.Buffer
	if err := tmpl.Execute(&cfg, map[string]string{
		"Listen": addr, "StateDir": filepath.Join(d.o.dir, "router"), "Etcd": d.etcd,
		"Lake": filepath.Join(d.o.dir, "lake"), "MongoDB": d.stack.MongoDB, "CassandraHost": host, "CassandraPort": port,
		"Elasticsearch": d.stack.Elasticsearch, "WebHDFS": d.stack.WebHDFS,
	}); err != nil {
		return err
	}
	d.routerConfig = filepath.Join(d.o.dir, "router.yaml")
	if err := os.WriteFile(d.routerConfig, cfg.Bytes(), 0o644); err != nil {
		return err
	}
	d.say("==> starting the router on %s (configuration: %s)", addr, d.routerConfig)
	d.routerURL = "http://" + addr
	if _, err := d.start("router", "--config", d.routerConfig); err != nil {
		return err
	}
	return d.waitHTTP(ctx, "router", d.routerURL+"/readyz", 60*time.Second)
}

// ledgerRow is one row of GET /v1/ledger.
type ledgerRow struct {
	Contract     string `json:"contract"`
	Route        string `json:"route"`
	Accepted     int64  `json:"accepted"`
	Delivered    int64  `json:"delivered"`
	DeadLettered int64  `json:"dead_lettered"`
	Pending      int64  `json:"pending"`
}

// routeTotals sums the ledger per route.
func (d *demo) routeTotals(ctx context.Context) (map[string]ledgerRow, error) {
	var l struct {
		Ledger []ledgerRow `json:"ledger"`
	}
	if err := call(ctx, http.MethodGet, d.routerURL+"/v1/ledger", nil, &l); err != nil {
		return nil, err
	}
	out := map[string]ledgerRow{}
	for _, r := range l.Ledger {
		t := out[r.Route]
		t.Route = r.Route
		t.Accepted += r.Accepted
		t.Delivered += r.Delivered
		t.DeadLettered += r.DeadLettered
		t.Pending += r.Pending
		out[r.Route] = t
	}
	return out, nil
}

var routeOrder = []string{"lake", "hdfs", "timeline", "profiles", "search"}

func deliveredLine(t map[string]ledgerRow) string {
	var b strings.Builder
	for _, r := range routeOrder {
		fmt.Fprintf(&b, " %s %d", r, t[r].Delivered)
	}
	return b.String()
}

// drain waits until every accepted event is delivered or dead-lettered.
func (d *demo) drain(ctx context.Context) error {
	d.say("\n==> waiting for every route to deliver what was accepted")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		t, err := d.routeTotals(ctx)
		if err != nil {
			return err
		}
		var pending int64
		for _, r := range t {
			pending += r.Pending
		}
		if pending == 0 {
			d.say("    all delivered:%s", deliveredLine(t))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d events still pending after 2 minutes:%s", pending, deliveredLine(t))
		}
		if err := pause(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// where prints, per route, the store and the place the events went.
func (d *demo) where(ctx context.Context, gen *generator) error {
	t, err := d.routeTotals(ctx)
	if err != nil {
		return err
	}
	d.say("\n==> where the data landed")
	rows := []struct{ route, store, place string }{
		{"lake", "local lake (Avro container files)", filepath.Join(d.o.dir, "lake") + "/{contract}/dt={date}/hr={hour}/part-*.avro (+ .manifest.json)"},
		{"hdfs", "WebHDFS " + d.stack.WebHDFS, "/waybill/events/{contract}/dt={date}/part-*.avro"},
		{"timeline", "Cassandra " + d.stack.Cassandra, "keyspace waybill_demo, table per contract (checkout_order_placed ...)"},
		{"profiles", "MongoDB " + d.stack.MongoDB, "database waybill_demo, collection profiles_{contract}: latest order/page per user"},
		{"search", "Elasticsearch " + d.stack.Elasticsearch, "index events-{contract}-{yyyy.MM}"},
	}
	for _, r := range rows {
		row := t[r.route]
		d.say("    %-9s %6d delivered, %4d dead-lettered -> %s: %s", r.route, row.Delivered, row.DeadLettered, r.store, r.place)
	}
	files, _ := filepath.Glob(filepath.Join(d.o.dir, "lake", "*", "*", "*", "*.avro"))
	d.say("    the lake holds %d Avro files; read one with: avrocat %s | head", len(files), firstOr(files, "FILE"))
	d.say("    intake: %d sent, %d accepted, %d rejected (deliberately bad events, each with its reason)", gen.sent.Load(), gen.accepted.Load(), gen.rejected.Load())
	for reason, n := range gen.reasonCounts() {
		d.say("      rejected for %-22s %d", reason+":", n)
	}
	return nil
}

func firstOr(s []string, def string) string {
	if len(s) == 0 {
		return def
	}
	return s[0]
}

// verify runs `router verify` and shows its report.
func (d *demo) verify(ctx context.Context) error {
	d.say("\n==> router verify --config %s --wait 30s", d.routerConfig)
	cmd := exec.CommandContext(ctx, filepath.Join(d.bin, "router"), "verify", "--config", d.routerConfig, "--wait", "30s")
	cmd.Stdout = d.out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("router verify: %v\n%s", err, stderr.String())
	}
	return nil
}

// call sends a JSON request and decodes a 2xx JSON answer into out.
func call(ctx context.Context, method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, url, res.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitHTTP polls url until it answers 200.
func (d *demo) waitHTTP(ctx context.Context, name, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s within %s (see %s)", name, url, within, filepath.Join(d.logs, name+".log"))
		}
		if err := pause(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// proc is a started program.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// start runs a built program with its output in logs/<name>.log.
func (d *demo) start(name string, args ...string) (*proc, error) {
	logPath := filepath.Join(d.logs, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(d.bin, name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	d.procs = append(d.procs, p)
	return p, nil
}

// stopAll stops the programs in reverse start order: SIGTERM, then SIGKILL after 20s.
func (d *demo) stopAll() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		if p.exited() {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	d.procs = nil
}

// generator sends the demo's events.
type generator struct {
	d     *demo
	users int

	sent, accepted, rejected atomic.Int64
	mu                       sync.Mutex
	reasons                  map[string]int64
}

func (g *generator) reasonCounts() map[string]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int64{}
	for k, v := range g.reasons {
		out[k] = v
	}
	return out
}

// intakeAnswer is the router's answer to an intake request.
type intakeAnswer struct {
	Events []struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"events"`
}

func (g *generator) tally(a intakeAnswer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reasons == nil {
		g.reasons = map[string]int64{}
	}
	for _, e := range a.Events {
		if e.Status == "accepted" {
			g.accepted.Add(1)
		} else {
			g.rejected.Add(1)
			g.reasons[e.Reason]++
		}
	}
}

// send posts events at the configured rate for the configured duration: batches of
// 100 JSON events from 4 producers, and every tenth request a single Avro event.
func (g *generator) send(ctx context.Context) error {
	d := g.d
	d.say("\n==> sending events for %s at about %d/s (mixed routing directions; about 2%% deliberately bad)", d.o.duration, d.o.rate)
	ctx, cancel := context.WithTimeout(ctx, d.o.duration)
	defer cancel()
	const producers, batch = 4, 100
	interval := time.Duration(float64(time.Second) * float64(producers*batch) / float64(d.o.rate))
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), 42))
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for n := 0; ; n++ {
				var err error
				if n%10 == 9 {
					err = g.sendAvro(ctx, rng)
				} else {
					err = g.sendJSON(ctx, rng, batch)
				}
				if err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}(p)
	}
	start := time.Now()
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	tty := isTerminal(d.out)
	var last int64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case err := <-errs:
			cancel()
			<-done
			return err
		case <-done:
			if tty {
				fmt.Fprintln(d.out)
			}
			if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return ctx.Err()
			}
			return nil
		case <-progress.C:
			t, err := d.routeTotals(context.Background())
			if err != nil {
				continue
			}
			sent := g.sent.Load()
			line := fmt.Sprintf("    %3.0fs  %5d ev/s  accepted %d  rejected %d  delivered:%s", time.Since(start).Seconds(), sent-last, g.accepted.Load(), g.rejected.Load(), deliveredLine(t))
			last = sent
			if tty {
				fmt.Fprintf(d.out, "\r%-150s", line)
			} else {
				fmt.Fprintln(d.out, line)
			}
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// routeChoices are the routing directions events carry: none (the contract's
// defaults) or an explicit list; required routes are added by the router.
var routeChoices = map[string][][]string{
	"checkout.order_placed":   {nil, nil, {"lake", "hdfs"}, {"timeline", "profiles", "search"}, {"lake", "hdfs", "timeline", "profiles", "search"}},
	"clickstream.page_viewed": {nil, nil, nil, {"search", "profiles"}, {"hdfs"}},
}

func (g *generator) sendJSON(ctx context.Context, rng *rand.Rand, n int) error {
	var body bytes.Buffer
	body.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			body.WriteByte(',')
		}
		ev := g.event(rng)
		if rng.IntN(50) == 0 {
			g.spoil(rng, ev)
		}
		b, _ := json.Marshal(ev)
		body.Write(b)
	}
	body.WriteByte(']')
	g.sent.Add(int64(n))
	return g.post(ctx, g.d.routerURL+"/v1/events", "application/json", nil, body.Bytes())
}

func (g *generator) post(ctx context.Context, url, contentType string, header http.Header, body []byte) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			return err
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		if res.StatusCode == http.StatusServiceUnavailable { // backpressure: honour Retry-After
			if err := pause(ctx, time.Second); err != nil {
				return err
			}
			continue
		}
		var a intakeAnswer
		if err := json.Unmarshal(raw, &a); err != nil {
			return fmt.Errorf("intake answered HTTP %d: %s", res.StatusCode, raw)
		}
		g.tally(a)
		return nil
	}
}

// event is one generated JSON envelope.
func (g *generator) event(rng *rand.Rand) map[string]any {
	user := fmt.Sprintf("user-%03d", rng.IntN(g.users))
	now := time.Now().UTC()
	ts := now.Add(-time.Duration(rng.IntN(3000)) * time.Millisecond).UnixMilli()
	var contract string
	var data map[string]any
	if rng.IntN(10) < 4 {
		contract = "checkout.order_placed"
		items := []any{}
		total := 0
		for i := 0; i <= rng.IntN(3); i++ {
			price, qty := 100+rng.IntN(9900), 1+rng.IntN(3)
			total += price * qty
			items = append(items, map[string]any{"sku": fmt.Sprintf("sku-%04d", rng.IntN(500)), "quantity": qty, "unit_price": cents(price)})
		}
		var coupon any
		if rng.IntN(5) == 0 {
			coupon = map[string]any{"string": "WELCOME10"}
		}
		data = map[string]any{"order_id": fmt.Sprintf("o-%d", rng.Int64()), "user_id": user, "email": user + "@example.com",
			"total": cents(total), "currency": []string{"EUR", "USD", "GBP"}[rng.IntN(3)], "items": items, "coupon": coupon, "ts": ts}
	} else {
		contract = "clickstream.page_viewed"
		data = g.pageView(rng, user, ts)
		if r := data["referrer"]; r != nil {
			data["referrer"] = map[string]any{"string": r}
		}
	}
	ev := map[string]any{"contract": contract, "data": data}
	choices := routeChoices[contract]
	if r := choices[rng.IntN(len(choices))]; r != nil {
		ev["routes"] = r
	}
	return ev
}

func (g *generator) pageView(rng *rand.Rand, user string, ts int64) map[string]any {
	var referrer any
	if rng.IntN(3) == 0 {
		referrer = "https://search.example/?q=shoes"
	}
	return map[string]any{"user_id": user, "session_id": fmt.Sprintf("s-%d", rng.IntN(5000)), "url": fmt.Sprintf("https://shop.example/p/%d", rng.IntN(1000)),
		"referrer": referrer, "ip": fmt.Sprintf("203.0.113.%d", rng.IntN(256)), "device": []string{"DESKTOP", "MOBILE", "TABLET"}[rng.IntN(3)],
		"duration_ms": rng.IntN(60000), "attributes": map[string]any{"ab": []string{"a", "b"}[rng.IntN(2)]}, "ts": ts}
}

// cents is an amount of cents as the decimal text JSON intake takes for decimals.
func cents(c int) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// spoil makes an event invalid in one of the ways producers get wrong.
func (g *generator) spoil(rng *rand.Rand, ev map[string]any) {
	data := ev["data"].(map[string]any)
	switch rng.IntN(4) {
	case 0:
		ev["routes"] = []string{"lake", "warehouse"} // a route nobody configured
	case 1:
		delete(data, "user_id") // the key field is missing
	case 2:
		data["ts"] = "yesterday" // wrong type
	case 3:
		ev["contract"] = "checkout.order_cancelled" // not registered
	}
}

// sendAvro posts one page view in the Confluent wire format with Waybill-* headers.
func (g *generator) sendAvro(ctx context.Context, rng *rand.Rand) error {
	const subject = "clickstream.page_viewed"
	user := fmt.Sprintf("user-%03d", rng.IntN(g.users))
	v := g.pageView(rng, user, time.Now().UnixMilli())
	v["ts"] = time.UnixMilli(v["ts"].(int64)).UTC()
	if r, ok := v["referrer"].(string); ok {
		v["referrer"] = &r
	} else {
		v["referrer"] = (*string)(nil)
	}
	attrs := map[string]any{}
	for k, x := range v["attributes"].(map[string]any) {
		attrs[k] = x
	}
	v["attributes"] = attrs
	payload, err := avro.Marshal(g.d.schemas[subject], v)
	if err != nil {
		return fmt.Errorf("encoding an Avro page view: %w", err)
	}
	body := make([]byte, 5, 5+len(payload))
	binary.BigEndian.PutUint32(body[1:], uint32(g.d.schemaIDs[subject]))
	body = append(body, payload...)
	h := http.Header{}
	if rng.IntN(2) == 0 {
		h.Set("Waybill-Routes", "lake,search,profiles")
	}
	g.sent.Add(1)
	return g.post(ctx, g.d.routerURL+"/v1/events/"+subject, "application/vnd.confluent.avro", h, body)
}
