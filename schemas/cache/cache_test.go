package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/etcdserver"
	"github.com/waybill-data/waybill/schemas/etcdstore"
)

const (
	orderV1 = `{"type":"record","name":"Order","namespace":"com.acme","fields":[
		{"name":"id","type":"string"},
		{"name":"email","type":"string","waybill.classification":"PII"}]}`
	orderV2 = `{"type":"record","name":"Order","namespace":"com.acme","fields":[
		{"name":"id","type":"string"},
		{"name":"email","type":"string","waybill.classification":"PII"},
		{"name":"amount","type":"long","default":0}]}`
	paymentV1 = `{"type":"record","name":"Payment","namespace":"com.acme","fields":[
		{"name":"id","type":"string"},{"name":"cents","type":"long"}]}`
	addressV1 = `{"type":"record","name":"Address","namespace":"com.acme","fields":[
		{"name":"street","type":"string"},
		{"name":"zip","type":"string","waybill.classification":"pii"}]}`
	shipmentV1 = `{"type":"record","name":"Shipment","namespace":"com.acme","fields":[
		{"name":"id","type":"string"},{"name":"to","type":"com.acme.Address"}]}`
	returnV1 = `{"type":"record","name":"Return","namespace":"com.acme","fields":[
		{"name":"id","type":"string"},{"name":"from","type":"com.acme.Address"}]}`
)

// env is one embedded etcd (possibly restarted) with a client and the registry's writer.
type env struct {
	t       *testing.T
	servers []*etcdserver.Server
	cli     *clientv3.Client
	st      *etcdstore.Store
	keys    schemas.Keys
	logs    *syncBuffer
}

func newEnv(t *testing.T) *env {
	e := newBareEnv(t)
	e.startEtcd(t.TempDir(), "127.0.0.1:0", "")
	return e
}

// newBareEnv returns an env without a server. Its cleanup is registered first so it
// runs last: caches and the client are closed before etcd, which otherwise waits
// seconds for open watch streams.
func newBareEnv(t *testing.T) *env {
	e := &env{t: t, keys: schemas.Keys{Prefix: schemas.DefaultPrefix}, logs: &syncBuffer{}}
	t.Cleanup(func() {
		for _, srv := range e.servers {
			if srv != nil {
				srv.Close()
			}
		}
		if t.Failed() || os.Getenv("CACHE_TEST_LOGS") != "" {
			t.Logf("cache log:\n%s", e.logs.String())
		}
	})
	return e
}

// startEtcd starts etcd on dir; the first start also connects the client.
func (e *env) startEtcd(dir, clientAddr, peerAddr string) *etcdserver.Server {
	t := e.t
	t.Helper()
	srv, err := etcdserver.Start(etcdserver.Config{DataDir: dir, ClientAddr: clientAddr, PeerAddr: peerAddr, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	e.servers = append(e.servers, srv)
	if e.cli == nil {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Addr()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		e.cli, e.st = cli, etcdstore.New(cli, "", 0)
	}
	return srv
}

func (e *env) mark(what string) {
	fmt.Fprintf(e.logs, "time=%s TEST %s\n", time.Now().UTC().Format(time.RFC3339Nano), what)
}

// stopEtcd closes the running server (the last one started).
func (e *env) stopEtcd() {
	i := len(e.servers) - 1
	e.servers[i].Close()
	e.servers[i] = nil
}

// newCache returns an unstarted cache with timings shortened for tests.
func (e *env) newCache(t *testing.T) *Cache {
	t.Helper()
	c := New(e.cli, "", slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	c.heartbeat = 50 * time.Millisecond
	c.staleAfter = 300 * time.Millisecond
	c.minBackoff = 20 * time.Millisecond
	c.maxBackoff = 200 * time.Millisecond
	c.listTimeout = time.Second
	c.listPage = 3 // exercise paging (pinned to the first page's revision)
	t.Cleanup(c.Close)
	return c
}

func (e *env) start(t *testing.T) *Cache {
	t.Helper()
	c := e.newCache(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// register writes a schema as the registry does: canonical text, fingerprint, references.
func (e *env) register(t *testing.T, subject, text string, refs ...schemas.Reference) etcdstore.RegisterResult {
	t.Helper()
	ctx := ctxFor(t, 15*time.Second)
	deps, err := e.st.ResolveReferences(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := schemas.ParseAvro(text, deps...)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := schemas.Canonical(parsed)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.st.Register(ctx, etcdstore.RegisterRequest{
		Subject: subject, SchemaType: schemas.SchemaTypeAvro, Canonical: canon, References: refs,
		Fingerprint: schemas.Fingerprint(schemas.SchemaTypeAvro, canon, refs),
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// headRev is the current etcd revision (a read does not create one).
func (e *env) headRev(t *testing.T) int64 {
	t.Helper()
	resp, err := e.cli.Get(ctxFor(t, 15*time.Second), "/probe/none")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// waitRev waits for the cache to reflect the current etcd revision within d.
func waitRev(t *testing.T, c *Cache, rev int64, d time.Duration) {
	t.Helper()
	start := time.Now()
	if err := c.WaitForRevision(ctxFor(t, d), rev); err != nil {
		t.Fatalf("cache did not reach revision %d within %v (at %d): %v", rev, d, c.Revision(), err)
	}
	t.Logf("cache reached revision %d in %v", rev, time.Since(start).Round(time.Millisecond))
}

// waitFor waits, on the cache's change notifications, until cond holds or d passes.
func waitFor(t *testing.T, c *Cache, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		ch := c.changes()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

func contract() schemas.Contract {
	return schemas.Contract{
		Owner:  "team-orders",
		Routes: schemas.RoutePolicy{Allowed: []string{"warehouse", "lake"}, Default: []string{"lake"}},
		PII:    map[string]map[string]string{"warehouse": {"email": schemas.HandlingHash}},
	}
}

func wantLatest(t *testing.T, c *Cache, subject string, version, id int) *Version {
	t.Helper()
	v, ok := c.Latest(subject)
	if !ok {
		t.Fatalf("Latest(%q): not found, want version %d", subject, version)
	}
	if v.Subject != subject || v.Version != version || v.ID != id || v.Schema == nil || v.Schema.Record.ID != id || v.Schema.Avro == nil {
		t.Fatalf("Latest(%q) = %+v, want version %d id %d with its schema", subject, v, version, id)
	}
	return v
}

func recordName(s avro.Schema) string {
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return ""
}

func TestInitialLoad(t *testing.T) {
	e := newEnv(t)
	o1 := e.register(t, "orders-value", orderV1)
	o2 := e.register(t, "orders-value", orderV2)
	p1 := e.register(t, "payments-value", paymentV1)
	if err := e.st.PutContract(ctxFor(t, 5*time.Second), "orders-value", contract()); err != nil {
		t.Fatal(err)
	}
	rev := e.headRev(t)

	c := e.newCache(t)
	if stale, _ := c.Stale(); !stale {
		t.Fatal("an unstarted cache reports itself current")
	}
	if err := c.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Everything is visible as soon as Start returns, without waiting.
	if got := c.Revision(); got < rev {
		t.Fatalf("Revision() = %d right after Start, want >= %d", got, rev)
	}
	if stale, d := c.Stale(); stale {
		t.Fatalf("Stale() = true (%v) right after Start", d)
	}
	wantLatest(t, c, "orders-value", 2, o2.ID)
	wantLatest(t, c, "payments-value", 1, p1.ID)
	if v, ok := c.Version("orders-value", 1); !ok || v.ID != o1.ID || recordName(v.Schema.Avro) != "com.acme.Order" {
		t.Fatalf("Version(orders-value, 1) = %+v, %v", v, ok)
	}
	if _, ok := c.Version("orders-value", 3); ok {
		t.Fatal("Version(orders-value, 3) found a version that does not exist")
	}
	if s, ok := c.SchemaByID(p1.ID); !ok || recordName(s.Avro) != "com.acme.Payment" || s.Record.Fingerprint == "" {
		t.Fatalf("SchemaByID(%d) = %+v, %v", p1.ID, s, ok)
	}
	if _, ok := c.SchemaByID(999); ok {
		t.Fatal("SchemaByID(999) found a schema that does not exist")
	}
	if got, want := c.Subjects(), []string{"orders-value", "payments-value"}; !slices.Equal(got, want) {
		t.Fatalf("Subjects() = %v, want %v", got, want)
	}
	ct, ok := c.Contract("orders-value")
	if !ok || ct.Owner != "team-orders" || ct.PII["warehouse"]["email"] != schemas.HandlingHash {
		t.Fatalf("Contract(orders-value) = %+v, %v", ct, ok)
	}
	if ct.Classification["email"] != schemas.ClassPII || len(ct.Classification) != 1 {
		t.Fatalf("Contract classification = %v, want email=pii from the latest schema", ct.Classification)
	}
	// The contract is a copy: changing it does not change the cache.
	ct.Owner = "mallory"
	ct.Routes.Allowed[0] = "evil"
	ct.PII["warehouse"]["email"] = schemas.HandlingAllow
	ct.Classification["email"] = "public"
	again, _ := c.Contract("orders-value")
	if again.Owner != "team-orders" || again.Routes.Allowed[0] != "warehouse" || again.PII["warehouse"]["email"] != schemas.HandlingHash || again.Classification["email"] != schemas.ClassPII {
		t.Fatalf("mutating a returned contract changed the cache: %+v", again)
	}
	if _, ok := c.Contract("payments-value"); ok {
		t.Fatal("Contract(payments-value) found a contract that was never written")
	}
	if err := c.Start(ctxFor(t, time.Second)); err == nil {
		t.Fatal("a second Start succeeded")
	}
}

func TestLiveChangesVisibleWithinOneSecond(t *testing.T) {
	e := newEnv(t)
	e.register(t, "orders-value", orderV1)
	c := e.start(t)
	changed := make(chan string, 16)
	c.OnChange(func(subject string) { changed <- subject })
	expectChange := func(subject string) {
		t.Helper()
		select {
		case got := <-changed:
			if got != subject {
				t.Fatalf("OnChange(%q), want %q", got, subject)
			}
		case <-time.After(time.Second):
			t.Fatalf("no OnChange(%q) within 1s", subject)
		}
	}

	// A new version.
	o2 := e.register(t, "orders-value", orderV2)
	waitRev(t, c, e.headRev(t), time.Second)
	wantLatest(t, c, "orders-value", 2, o2.ID)
	expectChange("orders-value")

	// A contract.
	if err := e.st.PutContract(ctxFor(t, 5*time.Second), "orders-value", contract()); err != nil {
		t.Fatal(err)
	}
	waitRev(t, c, e.headRev(t), time.Second)
	if ct, ok := c.Contract("orders-value"); !ok || ct.Owner != "team-orders" || ct.Classification["email"] != schemas.ClassPII {
		t.Fatalf("Contract(orders-value) = %+v, %v after the put", ct, ok)
	}
	expectChange("orders-value")

	// A new subject.
	p1 := e.register(t, "payments-value", paymentV1)
	waitRev(t, c, e.headRev(t), time.Second)
	wantLatest(t, c, "payments-value", 1, p1.ID)
	if got, want := c.Subjects(), []string{"orders-value", "payments-value"}; !slices.Equal(got, want) {
		t.Fatalf("Subjects() = %v, want %v", got, want)
	}
	expectChange("payments-value")

	// A write outside the prefix still advances Revision (through progress
	// notifications), so a waiter on any revision is released.
	resp, err := e.cli.Put(ctxFor(t, 5*time.Second), "/elsewhere/key", "v")
	if err != nil {
		t.Fatal(err)
	}
	waitRev(t, c, resp.Header.Revision, time.Second)
	select {
	case s := <-changed:
		t.Fatalf("OnChange(%q) for a write outside the prefix", s)
	default:
	}
}

func TestDeletes(t *testing.T) {
	e := newEnv(t)
	o1 := e.register(t, "orders-value", orderV1)
	o2 := e.register(t, "orders-value", orderV2)
	p1 := e.register(t, "payments-value", paymentV1)
	ctx := ctxFor(t, 10*time.Second)
	if err := e.st.PutContract(ctx, "orders-value", contract()); err != nil {
		t.Fatal(err)
	}
	c := e.start(t)

	// Soft delete of the latest version falls back to the previous one.
	if _, err := e.st.SoftDeleteVersion(ctx, "orders-value", 2); err != nil {
		t.Fatal(err)
	}
	waitRev(t, c, e.headRev(t), time.Second)
	wantLatest(t, c, "orders-value", 1, o1.ID)
	if _, ok := c.Version("orders-value", 2); ok {
		t.Fatal("Version(orders-value, 2) still answers after its soft delete")
	}
	if _, ok := c.Version("orders-value", 1); !ok {
		t.Fatal("Version(orders-value, 1) disappeared")
	}

	// Soft-deleting the whole subject takes it out of Latest and Subjects.
	if _, err := e.st.SoftDeleteSubject(ctx, "orders-value"); err != nil {
		t.Fatal(err)
	}
	waitRev(t, c, e.headRev(t), time.Second)
	if v, ok := c.Latest("orders-value"); ok {
		t.Fatalf("Latest(orders-value) = %+v after soft-deleting the subject", v)
	}
	if got, want := c.Subjects(), []string{"payments-value"}; !slices.Equal(got, want) {
		t.Fatalf("Subjects() = %v, want %v", got, want)
	}

	// A hard delete removes the subject and its contract; schemas stay by id.
	if _, err := e.st.HardDeleteSubject(ctx, "orders-value"); err != nil {
		t.Fatal(err)
	}
	waitRev(t, c, e.headRev(t), time.Second)
	if ct, ok := c.Contract("orders-value"); ok {
		t.Fatalf("Contract(orders-value) = %+v after the hard delete", ct)
	}
	if _, ok := c.Version("orders-value", 1); ok {
		t.Fatal("Version(orders-value, 1) answers after the hard delete")
	}
	for _, id := range []int{o1.ID, o2.ID} {
		if s, ok := c.SchemaByID(id); !ok || recordName(s.Avro) != "com.acme.Order" {
			t.Fatalf("SchemaByID(%d) = %+v, %v after the hard delete; ids stay readable", id, s, ok)
		}
	}
	wantLatest(t, c, "payments-value", 1, p1.ID)

	// A re-list (what a restart sees) agrees.
	c2 := e.start(t)
	if _, ok := c2.Latest("orders-value"); ok {
		t.Fatal("a fresh cache sees the hard-deleted subject")
	}
	if _, ok := c2.SchemaByID(o2.ID); !ok {
		t.Fatal("a fresh cache lost a schema by id")
	}
}

func TestReferences(t *testing.T) {
	e := newEnv(t)
	a1 := e.register(t, "address-value", addressV1)
	ref := schemas.Reference{Name: "com.acme.Address", Subject: "address-value", Version: 1}
	s1 := e.register(t, "shipments-value", shipmentV1, ref)
	ctx := ctxFor(t, 10*time.Second)
	if err := e.st.PutContract(ctx, "shipments-value", contract()); err != nil {
		t.Fatal(err)
	}
	c := e.start(t)

	check := func(subject string, id int, field string) {
		t.Helper()
		v := wantLatest(t, c, subject, 1, id)
		// The referenced type is resolved: its fields are reachable through the field.
		if f, err := schemas.LookupField(v.Schema.Avro, field+".zip"); err != nil || f.Type().Type() != avro.String {
			t.Fatalf("%s: %s.zip does not resolve through the reference: %v", subject, field, err)
		}
		if len(v.Schema.Record.References) != 1 || v.Schema.Record.References[0] != ref {
			t.Fatalf("%s: references = %+v", subject, v.Schema.Record.References)
		}
	}
	// Loaded at start (dependency listed with its dependant).
	check("shipments-value", s1.ID, "to")
	if ct, ok := c.Contract("shipments-value"); !ok || ct.Classification["to.zip"] != schemas.ClassPII {
		t.Fatalf("classification through the reference = %v, want to.zip=pii", ct.Classification)
	}
	if _, ok := c.SchemaByID(a1.ID); !ok {
		t.Fatal("the referenced schema is missing by id")
	}

	// Arriving through the watch.
	r1 := e.register(t, "returns-value", returnV1, ref)
	waitRev(t, c, e.headRev(t), time.Second)
	check("returns-value", r1.ID, "from")
}

func TestUnparseableSchemaIsSkippedAndLoggedOnce(t *testing.T) {
	e := newEnv(t)
	o1 := e.register(t, "orders-value", orderV1)
	ctx := ctxFor(t, 10*time.Second)
	// A record no parser accepts, as version 2 (written raw: the registry would refuse it).
	putBad := func(id, version int) {
		t.Helper()
		rec, _ := json.Marshal(schemas.SchemaRecord{ID: id, SchemaType: "AVRO", Schema: `{"type":"record","name":`, Fingerprint: "bad"})
		ver, _ := json.Marshal(schemas.VersionRecord{Subject: "orders-value", Version: version, ID: id})
		if _, err := e.cli.Txn(ctx).Then(
			clientv3.OpPut(e.keys.Schema(id), string(rec)),
			clientv3.OpPut(e.keys.Version("orders-value", version), string(ver)),
		).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	putBad(900, 2)
	// A schema whose reference does not resolve yet (written raw, as an import might).
	ref := schemas.Reference{Name: "com.acme.Address", Subject: "address-value", Version: 1}
	shipRec, _ := json.Marshal(schemas.SchemaRecord{ID: 950, SchemaType: "AVRO", Schema: shipmentV1, References: []schemas.Reference{ref}, Fingerprint: "ship"})
	shipVer, _ := json.Marshal(schemas.VersionRecord{Subject: "shipments-value", Version: 1, ID: 950})
	if _, err := e.cli.Txn(ctx).Then(
		clientv3.OpPut(e.keys.Schema(950), string(shipRec)),
		clientv3.OpPut(e.keys.Version("shipments-value", 1), string(shipVer)),
	).Commit(); err != nil {
		t.Fatal(err)
	}
	c := e.start(t)
	if v, ok := c.Latest("shipments-value"); ok {
		t.Fatalf("Latest(shipments-value) = %+v with an unresolvable reference", v)
	}
	wantLatest(t, c, "orders-value", 1, o1.ID)
	if _, ok := c.SchemaByID(900); ok {
		t.Fatal("SchemaByID answers for an unparseable schema")
	}

	// More changes, including another version of the same bad id and a new bad one.
	ver, _ := json.Marshal(schemas.VersionRecord{Subject: "orders-value", Version: 3, ID: 900})
	if _, err := e.cli.Put(ctx, e.keys.Version("orders-value", 3), string(ver)); err != nil {
		t.Fatal(err)
	}
	putBad(901, 4)
	p1 := e.register(t, "payments-value", paymentV1)
	waitRev(t, c, e.headRev(t), time.Second)
	wantLatest(t, c, "orders-value", 1, o1.ID)
	wantLatest(t, c, "payments-value", 1, p1.ID)

	if _, ok := c.Latest("shipments-value"); ok {
		t.Fatal("shipments-value appeared before its reference")
	}

	// Once the referenced version appears, the waiting schema parses.
	a1 := e.register(t, "address-value", addressV1)
	waitRev(t, c, e.headRev(t), time.Second)
	wantLatest(t, c, "address-value", 1, a1.ID)
	wantLatest(t, c, "shipments-value", 1, 950)
	if got, want := c.Subjects(), []string{"address-value", "orders-value", "payments-value", "shipments-value"}; !slices.Equal(got, want) {
		t.Fatalf("Subjects() = %v, want %v", got, want)
	}

	logs := e.logs.String()
	for _, id := range []string{"id=900", "id=901", "id=950"} {
		if countLines(logs, "cannot be parsed", id) != 1 {
			t.Fatalf("schema %s logged %d times, want once:\n%s", id, countLines(logs, "cannot be parsed", id), logs)
		}
	}
}

func countLines(logs string, substrs ...string) int {
	n := 0
	for line := range strings.SplitSeq(logs, "\n") {
		all := true
		for _, s := range substrs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

// TestCompactionRelists holds the watch back before its first session, changes and
// compacts etcd past the cache's resume revision, then lets it go: the watch fails with
// ErrCompacted and the cache must re-list and end with the right state.
func TestCompactionRelists(t *testing.T) {
	e := newEnv(t)
	o1 := e.register(t, "orders-value", orderV1)
	p1 := e.register(t, "payments-value", paymentV1)
	ctx := ctxFor(t, 10*time.Second)
	if err := e.st.PutContract(ctx, "payments-value", contract()); err != nil {
		t.Fatal(err)
	}

	c := e.newCache(t)
	paused, release := make(chan int64, 1), make(chan struct{})
	var once sync.Once
	c.beforeWatch = func(rev int64) {
		once.Do(func() {
			paused <- rev
			<-release
		})
	}
	changed := make(chan string, 16)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c.OnChange(func(subject string) { changed <- subject })
	var loadedRev int64
	select {
	case loadedRev = <-paused:
	case <-ctx.Done():
		t.Fatal("the watch goroutine never started")
	}

	o2 := e.register(t, "orders-value", orderV2)
	if _, err := e.st.SoftDeleteSubject(ctx, "payments-value"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.HardDeleteSubject(ctx, "payments-value"); err != nil {
		t.Fatal(err)
	}
	n1 := e.register(t, "new-value", addressV1)
	head := e.headRev(t)
	if _, err := e.cli.Compact(ctx, head); err != nil {
		t.Fatal(err)
	}
	if loadedRev >= head {
		t.Fatalf("loaded revision %d is not behind the compaction at %d", loadedRev, head)
	}
	// Still paused: the cache serves the state it loaded.
	wantLatest(t, c, "orders-value", 1, o1.ID)

	close(release)
	waitRev(t, c, head, 5*time.Second)
	if n := c.relists.Load(); n != 1 {
		t.Fatalf("relists = %d, want 1", n)
	}
	wantLatest(t, c, "orders-value", 2, o2.ID)
	wantLatest(t, c, "new-value", 1, n1.ID)
	if _, ok := c.Latest("payments-value"); ok {
		t.Fatal("payments-value survived the re-list")
	}
	if _, ok := c.Contract("payments-value"); ok {
		t.Fatal("payments-value's contract survived the re-list")
	}
	if _, ok := c.SchemaByID(p1.ID); !ok {
		t.Fatal("the re-list lost a schema by id")
	}
	if got, want := c.Subjects(), []string{"new-value", "orders-value"}; !slices.Equal(got, want) {
		t.Fatalf("Subjects() = %v, want %v", got, want)
	}
	// The re-list told listeners about exactly the subjects that changed.
	var got []string
	for len(changed) > 0 {
		got = append(got, <-changed)
	}
	slices.Sort(got)
	if want := []string{"new-value", "orders-value", "payments-value"}; !slices.Equal(got, want) {
		t.Fatalf("OnChange after the re-list = %v, want %v", got, want)
	}

	// And it keeps watching afterwards.
	o3 := e.register(t, "orders-value", `{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"string"}]}`)
	waitRev(t, c, e.headRev(t), time.Second)
	wantLatest(t, c, "orders-value", 3, o3.ID)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestOutage stops etcd under a running cache and restarts it on the same data
// directory and address.
func TestOutage(t *testing.T) {
	e := newBareEnv(t)
	dir, peer := t.TempDir(), freePort(t)
	addr := e.startEtcd(dir, "127.0.0.1:0", peer).Addr()
	o1 := e.register(t, "orders-value", orderV1)
	if err := e.st.PutContract(ctxFor(t, 5*time.Second), "orders-value", contract()); err != nil {
		t.Fatal(err)
	}
	c := e.start(t)

	t0 := time.Now()
	e.mark("closing etcd")
	e.stopEtcd()
	t.Logf("etcd closed in %v", time.Since(t0))
	e.mark("etcd closed")
	waitFor(t, c, 5*time.Second, "Stale() to report the outage", func() bool { stale, _ := c.Stale(); return stale })
	// Reads keep answering from the cache.
	wantLatest(t, c, "orders-value", 1, o1.ID)
	if ct, ok := c.Contract("orders-value"); !ok || ct.Owner != "team-orders" {
		t.Fatalf("Contract during the outage = %+v, %v", ct, ok)
	}
	if got := c.Subjects(); !slices.Equal(got, []string{"orders-value"}) {
		t.Fatalf("Subjects() during the outage = %v", got)
	}
	if stale, d := c.Stale(); !stale || d <= 0 {
		t.Fatalf("Stale() = %v, %v during the outage", stale, d)
	}

	t0 = time.Now()
	e.mark("restarting etcd")
	e.startEtcd(dir, addr, peer)
	e.mark("etcd restarted")
	t.Logf("etcd restarted in %v", time.Since(t0))
	t0 = time.Now()
	o2 := e.register(t, "orders-value", orderV2)
	t.Logf("register after restart took %v", time.Since(t0))
	waitRev(t, c, e.headRev(t), 15*time.Second)
	wantLatest(t, c, "orders-value", 2, o2.ID)
	waitFor(t, c, 5*time.Second, "Stale() to clear", func() bool { stale, _ := c.Stale(); return !stale })
}

// TestStartRetriesUntilEtcdAnswers starts a cache while etcd is down.
func TestStartRetriesUntilEtcdAnswers(t *testing.T) {
	e := newBareEnv(t)
	dir, peer := t.TempDir(), freePort(t)
	addr := e.startEtcd(dir, "127.0.0.1:0", peer).Addr()
	o1 := e.register(t, "orders-value", orderV1)
	t0 := time.Now()
	e.stopEtcd()
	t.Logf("etcd closed in %v", time.Since(t0))

	// Start gives up when its context ends...
	c := e.newCache(t)
	t0 = time.Now()
	if err := c.Start(ctxFor(t, 300*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start with etcd down = %v, want deadline exceeded", err)
	}
	t.Logf("Start gave up after %v", time.Since(t0))
	// ...and otherwise keeps trying until etcd is back.
	c2 := e.newCache(t)
	failed := make(chan struct{})
	var once sync.Once
	c2.onListError = func(error) { once.Do(func() { close(failed) }) }
	done := make(chan error, 1)
	go func() { done <- c2.Start(ctxFor(t, 20*time.Second)) }()
	select {
	case err := <-done:
		t.Fatalf("Start returned %v while etcd is down", err)
	case <-failed:
	}
	t0 = time.Now()
	e.startEtcd(dir, addr, peer)
	t.Logf("etcd restarted in %v", time.Since(t0))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantLatest(t, c2, "orders-value", 1, o1.ID)
}

func TestWaitForRevisionAndClose(t *testing.T) {
	e := newEnv(t)
	c := e.start(t)
	far := e.headRev(t) + 1000
	if err := c.WaitForRevision(ctxFor(t, 100*time.Millisecond), far); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForRevision(far future) = %v, want deadline exceeded", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.WaitForRevision(context.Background(), far) }()
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitForRevision after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a waiter")
	}
	if stale, _ := c.Stale(); !stale {
		t.Fatal("a closed cache reports itself current")
	}
	if err := c.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestSubjectHasSchema(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "orders-value", orderV1)
	b := e.register(t, "payments-value", paymentV1)
	c := e.start(t)
	if !c.SubjectHasSchema("orders-value", a.ID) {
		t.Fatal("orders-value does not report its own schema")
	}
	if c.SubjectHasSchema("orders-value", b.ID) || c.SubjectHasSchema("nope", a.ID) {
		t.Fatal("a schema of another subject was reported as belonging to orders-value")
	}
}

// TestListSkipsTheAuditTrail: the registry's audit records (which only grow) are not
// read by routers' lists, while everything around them is.
func TestListSkipsTheAuditTrail(t *testing.T) {
	e := newEnv(t)
	e.register(t, "before-audit", `{"type":"record","name":"A","fields":[{"name":"a","type":"string"}]}`)
	for i := range 10 {
		if _, err := e.cli.Put(ctxFor(t, 5*time.Second), e.keys.AuditPrefix()+fmt.Sprintf("global/%010d", i), "{}"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.cli.Put(ctxFor(t, 5*time.Second), e.keys.Contract("zz-after-audit"), "{}"); err != nil {
		t.Fatal(err)
	}
	c := e.newCache(t)
	changes, rev, err := c.list(ctxFor(t, 5*time.Second))
	if err != nil || rev == 0 {
		t.Fatalf("list: %v (revision %d)", err, rev)
	}
	var sawSchema, sawContract bool
	for _, ch := range changes {
		switch {
		case strings.HasPrefix(ch.key, e.keys.AuditPrefix()):
			t.Fatalf("the list read the audit key %s", ch.key)
		case strings.HasPrefix(ch.key, e.keys.SchemasPrefix()):
			sawSchema = true
		case ch.key == e.keys.Contract("zz-after-audit"):
			sawContract = true
		}
	}
	if !sawSchema || !sawContract {
		t.Fatalf("keys around the audit range were not listed (schema %v, contract %v): %d changes", sawSchema, sawContract, len(changes))
	}
}
