package stores

// TLS of every store connection (sinks.NAME.tls, adapters/tlsopt): each adapter writes
// to its store served over TLS with a CA made in the test, and client certificates
// required where the store can ask for them. Each store is also read back with its own
// client over TLS, and a sink without the CA is refused by certificate verification.

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	gocql "github.com/apache/cassandra-gocql-driver/v2"
	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/hamba/avro/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/waybill-data/waybill/adapters/cassandra"
	"github.com/waybill-data/waybill/adapters/elasticsearch"
	"github.com/waybill-data/waybill/adapters/mongodb"
	"github.com/waybill-data/waybill/adapters/tlsopt"
	"github.com/waybill-data/waybill/adapters/webhdfs"
	"github.com/waybill-data/waybill/integration/internal/testcert"
	"github.com/waybill-data/waybill/integration/sinktest"
	"github.com/waybill-data/waybill/integration/testserver/cql"
	"github.com/waybill-data/waybill/integration/testserver/elastic"
	webhdfstest "github.com/waybill-data/waybill/integration/testserver/webhdfs"
	"github.com/waybill-data/waybill/routing"
)

// tlsFixture is a CA with a server certificate and a client certificate.
type tlsFixture struct {
	ca             *testcert.CA
	server, client *testcert.Pair
}

func newTLSFixture(t *testing.T) *tlsFixture {
	dir := t.TempDir()
	ca := testcert.NewCA(t, dir, "stores")
	return &tlsFixture{ca: ca, server: ca.Server(t, "store"), client: ca.Client(t, "waybill-router")}
}

// sinkTLS is the sink's tls section: the CA, and the client certificate when mutual.
func (f *tlsFixture) sinkTLS(mutual bool) *tlsopt.Config {
	c := &tlsopt.Config{CAFile: f.ca.CAFile}
	if mutual {
		c.CertFile, c.KeyFile = f.client.CertFile, f.client.KeyFile
	}
	return c
}

// clientConfig is the tls.Config the stores' own clients read back with.
func (f *tlsFixture) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: f.ca.Pool(), Certificates: []tls.Certificate{f.client.TLS}, MinVersion: tls.VersionTLS12}
}

// tlsBatch is one Order event of key on route.
func tlsBatch(t *testing.T, route routing.Route, contract, id, key string) *routing.Batch {
	t.Helper()
	schema, _ := sinktest.Schemas{}.Avro(sinktest.OrderSchemaID)
	at := sinktest.Epoch
	data, err := avro.Marshal(schema, map[string]any{"order_id": id, "customer": key, "qty": 1, "total": big.NewRat(125, 100), "placed_at": at, "note": nil})
	if err != nil {
		t.Fatal(err)
	}
	return &routing.Batch{Route: route, Schemas: sinktest.Schemas{},
		Events: []routing.Event{{Seq: 1, ID: id, Contract: contract, SchemaID: sinktest.OrderSchemaID, Key: key, Time: at, Received: at, Data: data}}}
}

func writeOK(t *testing.T, sink routing.Sink, b *routing.Batch) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sink.Write(ctx, b); err != nil {
		t.Fatalf("write over TLS: %v", err)
	}
}

// refusedForCertificate checks that a Write fails on certificate verification (and is
// retryable: an operator fixes the configuration).
func refusedForCertificate(t *testing.T, sink routing.Sink, b *routing.Batch) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := sink.Write(ctx, b)
	if err == nil || !strings.Contains(err.Error(), "certificate") || !routing.Retryable(err) {
		t.Fatalf("a sink without the store's CA: %v, want a retryable certificate error", err)
	}
}

func TestWebHDFSOverTLS(t *testing.T) {
	f := newTLSFixture(t)
	srv, err := webhdfstest.Start(webhdfstest.Options{TLS: testcert.ServerConfig(f.server, f.ca)}) // client certificates required
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("URL %s", srv.URL())
	}
	route := routing.Route{Name: "hdfs", Class: routing.Analytic, Mode: routing.Append, Target: "{contract}"}
	open := func(c *tlsopt.Config) routing.Sink {
		s, err := webhdfs.New(webhdfs.Config{NameNodes: []string{srv.URL()}, Root: "/wb", User: "etl", Timeout: routing.Duration(5 * time.Second), TLS: c}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	writeOK(t, open(f.sinkTLS(true)), tlsBatch(t, route, "tls_orders", "h1", "k1"))
	// Through the NameNode's redirect to the DataNode, both over TLS: the file is there.
	if files := srv.List("/wb/tls_orders"); !slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, ".avro") }) {
		t.Fatalf("committed files %v, want the data file", files)
	}
	refusedForCertificate(t, open(&tlsopt.Config{}), tlsBatch(t, route, "tls_other", "h2", "k2"))
	// The store asks for a client certificate: without one the handshake fails.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := open(f.sinkTLS(false)).Write(ctx, tlsBatch(t, route, "tls_other", "h3", "k3")); err == nil || !routing.Retryable(err) {
		t.Fatalf("no client certificate: %v, want a retryable failure", err)
	}
	if files := srv.List("/wb/tls_other"); len(files) != 0 {
		t.Fatalf("refused writes stored %v", files)
	}
}

func TestElasticsearchOverTLS(t *testing.T) {
	f := newTLSFixture(t)
	srv, err := elastic.StartTLS(testcert.ServerConfig(f.server, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	route := routing.Route{Name: "search", Class: routing.Runtime, Mode: routing.Latest, Target: "tls-{contract}"}
	open := func(c *tlsopt.Config) *elasticsearch.Sink {
		s, err := elasticsearch.New(elasticsearch.Config{Addresses: []string{srv.URL()}, Timeout: routing.Duration(5 * time.Second), Refresh: elasticsearch.RefreshTrue, TLS: c}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	sink := open(f.sinkTLS(false))
	writeOK(t, sink, tlsBatch(t, route, "orders", "s1", "k1"))
	writeOK(t, sink, tlsBatch(t, route, "orders", "s2", "k2"))
	if err := sink.Erase(context.Background(), route, "orders", "k1"); err != nil {
		t.Fatalf("erase over TLS: %v", err)
	}
	// Read back with the official client over TLS.
	client, err := es.NewClient(es.Config{Addresses: []string{srv.URL()}, Transport: &http.Transport{TLSClientConfig: f.clientConfig()}})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{"k1": http.StatusNotFound, "k2": http.StatusOK} {
		res, err := client.Get("tls-orders", key)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("GET tls-orders/%s: HTTP %d, want %d", key, res.StatusCode, want)
		}
	}
	refusedForCertificate(t, open(nil), tlsBatch(t, route, "orders", "s3", "k3"))
	// insecure_skip_verify connects without verifying (and the sink says so in its log).
	writeOK(t, open(&tlsopt.Config{InsecureSkipVerify: true}), tlsBatch(t, route, "orders", "s4", "k4"))
	if errs := (elasticsearch.Config{Addresses: []string{"http://es:9200"}, TLS: f.sinkTLS(false)}).Validate("sinks.search"); len(errs) != 1 || !strings.Contains(errs[0].Error(), "sinks.search.addresses[0]") {
		t.Fatalf("tls with an http:// address: %v", errs)
	}
}

func TestCassandraOverTLS(t *testing.T) {
	f := newTLSFixture(t)
	srv, err := cql.Start(cql.Options{TLS: testcert.ServerConfig(f.server, f.ca)}) // client certificates required
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	readBack := func() *gocql.Session {
		c := gocql.NewCluster(srv.Host())
		c.Port, c.ProtoVersion, c.Timeout, c.ConnectTimeout = srv.Port(), 4, 5*time.Second, 5*time.Second
		c.SslOpts = &gocql.SslOptions{Config: f.clientConfig(), EnableHostVerification: true}
		sess, err := c.CreateSession()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sess.Close)
		return sess
	}
	sess := readBack()
	if err := sess.Query(`CREATE KEYSPACE wb WITH replication = {'class':'SimpleStrategy','replication_factor':1}`).Exec(); err != nil {
		t.Fatal(err)
	}
	route := routing.Route{Name: "profiles", Class: routing.Runtime, Mode: routing.Latest, Target: "tls_{contract}"}
	open := func(c *tlsopt.Config) *cassandra.Sink {
		s, err := cassandra.New(cassandra.Config{Hosts: []string{srv.Addr()}, Keyspace: "wb", CreateTables: true,
			Timeout: routing.Duration(5 * time.Second), ConnectTimeout: routing.Duration(2 * time.Second), TLS: c}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	sink := open(f.sinkTLS(true))
	writeOK(t, sink, tlsBatch(t, route, "orders", "c1", "k1"))
	writeOK(t, sink, tlsBatch(t, route, "orders", "c2", "k2"))
	if err := sink.Erase(context.Background(), route, "orders", "k1"); err != nil {
		t.Fatalf("erase over TLS: %v", err)
	}
	var keys []string
	it := sess.Query(`SELECT _waybill_key FROM wb.tls_orders`).Iter()
	for k := ""; it.Scan(&k); {
		keys = append(keys, k)
	}
	if err := it.Close(); err != nil || len(keys) != 1 || keys[0] != "k2" {
		t.Fatalf("keys %v, %v: want only k2 after erasing k1", keys, err)
	}
	refusedForCertificate(t, open(&tlsopt.Config{}), tlsBatch(t, route, "orders", "c3", "k3"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := open(nil).Write(ctx, tlsBatch(t, route, "orders", "c4", "k4")); err == nil || !routing.Retryable(err) {
		t.Fatalf("a plain connection to a TLS-only node: %v, want a retryable failure", err)
	}
}

// TestMongoDBOverTLS runs FerretDB with its own TLS listener (a CA file makes it
// require client certificates) and writes through it with the sink's tls section.
func TestMongoDBOverTLS(t *testing.T) {
	f := newTLSFixture(t)
	dir := t.TempDir()
	db, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TLS: "127.0.0.1:0", TLSCertFile: f.server.CertFile, TLSKeyFile: f.server.KeyFile, TLSCAFile: f.ca.CAFile},
		Logger:   slog.New(slog.DiscardHandler), Handler: "sqlite", SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = db.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	u, err := url.Parse(db.MongoDBURI()) // waits for the listener; carries ?tls=true
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil || u.Query().Get("tls") != "true" {
		t.Fatalf("FerretDB's URI %s", u)
	}
	uri := "mongodb://" + u.Host + "/"
	route := routing.Route{Name: "profiles", Class: routing.Runtime, Mode: routing.Latest, Target: "tls_{contract}"}
	open := func(c *tlsopt.Config) *mongodb.Sink {
		s, err := mongodb.New(mongodb.Config{URI: uri, Database: "wb", Decimal: mongodb.DecimalString, ServerSelectionTimeout: 2 * time.Second, TLS: c}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	sink := open(f.sinkTLS(true))
	writeOK(t, sink, tlsBatch(t, route, "orders", "m1", "k1"))
	writeOK(t, sink, tlsBatch(t, route, "orders", "m2", "k2"))
	if err := sink.Erase(context.Background(), route, "orders", "k1"); err != nil {
		t.Fatalf("erase over TLS: %v", err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTLSConfig(f.clientConfig()).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	var keys []string
	cur, err := client.Database("wb").Collection("tls_orders").Find(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for cur.Next(context.Background()) {
		keys = append(keys, fmt.Sprint(cur.Current.Lookup("_id").StringValue()))
	}
	if err := cur.Err(); err != nil || len(keys) != 1 || keys[0] != "k2" {
		t.Fatalf("keys %v, %v: want only k2 after erasing k1", keys, err)
	}
	// Without the client certificate FerretDB refuses the handshake; without the CA the
	// sink refuses FerretDB's certificate.
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	for name, c := range map[string]*tlsopt.Config{"no client certificate": f.sinkTLS(false), "no CA": {CertFile: f.client.CertFile, KeyFile: f.client.KeyFile}} {
		if err := open(c).Write(wctx, tlsBatch(t, route, "orders", "m9", "k9")); err == nil || !routing.Retryable(err) {
			t.Fatalf("%s: %v, want a retryable failure", name, err)
		}
	}
	if errs := (mongodb.Config{URI: uri + "?tls=true", Database: "wb", TLS: f.sinkTLS(false)}).Validate("sinks.profiles"); len(errs) != 1 || !strings.Contains(errs[0].Error(), "sinks.profiles.tls") {
		t.Fatalf("TLS in both the uri and the tls section: %v", errs)
	}
}
