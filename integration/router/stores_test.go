package router_test

// The local stores of the router tests and how the tests read back what each holds:
// with each store's own client (the official drivers, plain WebHDFS requests and
// hamba's container decoder), never through the adapters.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/waybill-data/waybill/adapters/lake"
	"github.com/waybill-data/waybill/integration/devstack"
)

// stores is the local stack (FerretDB and the test servers) a router test writes to,
// with the lake's directory.
type stores struct {
	stack *devstack.Stack
	addrs devstack.Addresses
	lake  string
}

func startStores(t *testing.T) *stores {
	t.Helper()
	st, err := devstack.Start(devstack.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s := &stores{stack: st, addrs: st.Addresses(), lake: filepath.Join(t.TempDir(), "lake")}
	sess := s.cassandra(t, "")
	defer sess.Close()
	if err := sess.Query(`CREATE KEYSPACE wb WITH replication = {'class':'SimpleStrategy','replication_factor':1}`).Exec(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *stores) cassandraHostPort(t testing.TB) (string, int) {
	host, p, err := net.SplitHostPort(s.addrs.Cassandra)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

func (s *stores) cassandra(t testing.TB, keyspace string) *gocql.Session {
	t.Helper()
	host, port := s.cassandraHostPort(t)
	c := gocql.NewCluster(host)
	c.Port, c.ProtoVersion, c.Keyspace, c.Timeout, c.ConnectTimeout = port, 4, keyspace, 10*time.Second, 10*time.Second
	sess, err := c.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// control takes a store down or up through devstack's control endpoint.
func (s *stores) control(t testing.TB, store, action string) {
	t.Helper()
	res, err := http.Post(s.addrs.Control+"/"+store+"/"+action, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("%s %s: HTTP %d %s", store, action, res.StatusCode, b)
	}
}

// sinksYAML configures one sink of each kind on the stack.
func (s *stores) sinksYAML(t testing.TB) string {
	host, port := s.cassandraHostPort(t)
	return fmt.Sprintf(`sinks:
  lake:      {kind: lake, path: %s}
  hdfs:      {kind: webhdfs, namenodes: ["%s"], root: /wb, user: waybill, timeout: 5s}
  cassandra: {kind: cassandra, hosts: [%s], port: %d, keyspace: wb, create_tables: true, timeout: 5s, connect_timeout: 2s, reconnect_interval: 200ms}
  mongodb:   {kind: mongodb, uri: "%s", database: wb, decimal: string, latest_bulk_writes: 32, server_selection_timeout: 2s, connect_timeout: 2s}
  search:    {kind: elasticsearch, addresses: ["%s"], timeout: 5s}
`, s.lake, s.addrs.WebHDFS, host, port, s.addrs.MongoDB, s.addrs.Elasticsearch)
}

// The routes of the router tests over those sinks: one per store, and one per store's
// natural mode (MongoDB keeps the latest event per key).
const storeRoutes = `routes:
  lake:     {sink: lake, class: analytic, target: "{contract}/dt={date}", batch: {max_wait: 20ms}}
  hdfs:     {sink: hdfs, class: analytic, target: "{contract}/dt={date}", batch: {max_wait: 20ms}}
  timeline: {sink: cassandra, class: analytic, target: "tl_{contract}", batch: {max_wait: 20ms}}
  profiles: {sink: mongodb, class: runtime, mode: latest, target: "profiles_{contract}", max_lag: 1m, batch: {max_wait: 20ms}}
  search:   {sink: search, class: runtime, target: "ev-{contract}", max_lag: 1m, batch: {max_wait: 20ms}}
`

var storeRouteNames = []string{"lake", "hdfs", "timeline", "profiles", "search"}

// appendRoutes are the storeRoutes that keep every event.
var appendRoutes = []string{"lake", "hdfs", "timeline", "search"}

// storedEvent is one record as a store holds it.
type storedEvent struct {
	ID, Key string
	Time    time.Time
	N       int64 // the order's "n" field
}

// stored returns every record an append route of storeRoutes holds for contract,
// duplicates included.
func (s *stores) stored(t testing.TB, route, contract string) []storedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch route {
	case "lake":
		return s.lakeEvents(t, contract)
	case "hdfs":
		return s.hdfsEvents(t, "/wb/"+contract)
	case "timeline":
		return s.cassandraEvents(t, ctx, "tl_"+contract)
	case "search":
		return s.esEvents(t, ctx, "ev-"+contract)
	}
	t.Fatalf("no reader for route %s", route)
	return nil
}

func (s *stores) lakeEvents(t testing.TB, contract string) []storedEvent {
	t.Helper()
	files, err := lake.Scan(s.lake)
	if err != nil {
		t.Fatal(err)
	}
	var out []storedEvent
	for _, f := range files {
		if !strings.HasPrefix(f.Dir, contract+"/") {
			continue
		}
		evs, err := lake.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			n, _ := e.Data["n"].(int64)
			out = append(out, storedEvent{ID: e.ID, Key: e.Key, Time: e.Time, N: n})
		}
	}
	return out
}

// hdfsEvents reads every committed .avro file under dir (recursively) with plain
// WebHDFS requests and hamba's container decoder.
func (s *stores) hdfsEvents(t testing.TB, dir string) []storedEvent {
	t.Helper()
	var out []storedEvent
	for _, f := range s.hdfsFiles(t, dir) {
		dec, err := ocf.NewDecoder(bytes.NewReader(f.data))
		if err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		for dec.HasNext() {
			var r struct {
				ID   string         `avro:"id"`
				Key  string         `avro:"key"`
				Time time.Time      `avro:"time"`
				Data map[string]any `avro:"data"`
			}
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("%s: %v", f.path, err)
			}
			n, _ := r.Data["n"].(int64)
			out = append(out, storedEvent{ID: r.ID, Key: r.Key, Time: r.Time.UTC(), N: n})
		}
		if err := dec.Error(); err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
	}
	return out
}

// storedFile is one committed data file of a file store.
type storedFile struct {
	path string
	data []byte
}

// hdfsFiles reads every committed .avro file under dir (recursively) with plain
// WebHDFS requests.
func (s *stores) hdfsFiles(t testing.TB, dir string) []storedFile {
	t.Helper()
	var list struct {
		FileStatuses struct {
			FileStatus []struct {
				PathSuffix string `json:"pathSuffix"`
				Type       string `json:"type"`
			} `json:"FileStatus"`
		} `json:"FileStatuses"`
	}
	if status := webhdfsGet(t, s.addrs.WebHDFS, dir, "LISTSTATUS", &list); status == http.StatusNotFound {
		return nil
	}
	var out []storedFile
	for _, f := range list.FileStatuses.FileStatus {
		p := dir + "/" + f.PathSuffix
		switch {
		case f.Type == "DIRECTORY":
			out = append(out, s.hdfsFiles(t, p)...)
		case strings.HasSuffix(f.PathSuffix, ".avro") && !strings.HasPrefix(f.PathSuffix, "."):
			out = append(out, storedFile{p, webhdfsOpen(t, s.addrs.WebHDFS, p)})
		}
	}
	return out
}

// lakeFiles reads every committed .avro file of contract in the lake, straight from
// the file system.
func (s *stores) lakeFiles(t testing.TB, contract string) []storedFile {
	t.Helper()
	var out []storedFile
	err := filepath.WalkDir(filepath.Join(s.lake, contract), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".avro") || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		b, err := os.ReadFile(p)
		out = append(out, storedFile{p, b})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// storedRecord is one record as a store holds it, whole. Raw is its stored form, to
// search for values that must not be there: a container record re-encoded as JSON, a
// BSON document, an Elasticsearch _source, a CQL row as gocql prints it. Fields are
// the contract's fields as the store's client decodes them (for Cassandra, every
// column), and Schema, for file stores, the file's writer schema.
type storedRecord struct {
	Raw    []byte
	Fields map[string]any
	Schema avro.Schema
	File   string
}

// records returns every record a route of storeRoutes holds for contract, whole,
// read with the store's own client (profiles: MongoDB's documents).
func (s *stores) records(t testing.TB, route, contract string) []storedRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch route {
	case "lake":
		return containerRecords(t, s.lakeFiles(t, contract))
	case "hdfs":
		return containerRecords(t, s.hdfsFiles(t, "/wb/"+contract))
	case "timeline":
		sess := s.cassandra(t, "wb")
		defer sess.Close()
		it := sess.Query(`SELECT * FROM tl_` + contract).WithContext(ctx).PageSize(1000).Iter()
		var out []storedRecord
		for {
			row := map[string]any{}
			if !it.MapScan(row) {
				break
			}
			out = append(out, storedRecord{Raw: fmt.Appendf(nil, "%v", row), Fields: plainValue(row).(map[string]any)})
		}
		if err := it.Close(); err != nil {
			t.Fatalf("reading tl_%s: %v", contract, err)
		}
		return out
	case "profiles":
		var out []storedRecord
		for _, raw := range s.profileDocs(t, ctx, contract) {
			var doc bson.D
			if err := bson.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			out = append(out, storedRecord{Raw: raw, Fields: plainValue(doc).(map[string]any)})
		}
		return out
	case "search":
		var out []storedRecord
		for _, src := range s.esSources(t, ctx, "ev-"+contract) {
			var fields map[string]any
			if err := json.Unmarshal(src, &fields); err != nil {
				t.Fatal(err)
			}
			out = append(out, storedRecord{Raw: src, Fields: fields})
		}
		return out
	}
	t.Fatalf("no reader for route %s", route)
	return nil
}

// plainValue turns a client's values into map[string]any, []any and scalars: BSON
// documents and arrays, and gocql's typed maps and lists (user types, collections).
func plainValue(v any) any {
	if d, ok := v.(bson.D); ok {
		m := make(map[string]any, len(d))
		for _, e := range d {
			m[e.Key] = plainValue(e.Value)
		}
		return m
	}
	if _, ok := v.([]byte); ok {
		return v
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			m[fmt.Sprint(it.Key().Interface())] = plainValue(it.Value().Interface())
		}
		return m
	case reflect.Slice:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = plainValue(rv.Index(i).Interface())
		}
		return out
	case reflect.Pointer:
		if rv.IsNil() {
			return nil
		}
		return plainValue(rv.Elem().Interface())
	}
	return v
}

// containerRecords decodes container files with hamba's decoder into generic values.
func containerRecords(t testing.TB, files []storedFile) []storedRecord {
	t.Helper()
	var out []storedRecord
	for _, f := range files {
		dec, err := ocf.NewDecoder(bytes.NewReader(f.data))
		if err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		for dec.HasNext() {
			var r map[string]any
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("%s: %v", f.path, err)
			}
			raw, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := r["data"].(map[string]any)
			out = append(out, storedRecord{Raw: raw, Fields: data, Schema: dec.Schema(), File: f.path})
		}
		if err := dec.Error(); err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
	}
	return out
}

func (s *stores) cassandraEvents(t testing.TB, ctx context.Context, table string) []storedEvent {
	t.Helper()
	sess := s.cassandra(t, "wb")
	defer sess.Close()
	it := sess.Query(`SELECT _waybill_id, _waybill_key, _waybill_time_us, "n" FROM ` + table).WithContext(ctx).PageSize(1000).Iter()
	var out []storedEvent
	var e storedEvent
	var us int64
	for it.Scan(&e.ID, &e.Key, &us, &e.N) {
		e.Time = time.UnixMicro(us).UTC()
		out = append(out, e)
	}
	if err := it.Close(); err != nil && !strings.Contains(err.Error(), "unconfigured table") {
		t.Fatalf("reading %s: %v", table, err)
	}
	return out
}

// esEvents pages through an index with search_after, sorted by event id.
func (s *stores) esEvents(t testing.TB, ctx context.Context, index string) []storedEvent {
	t.Helper()
	var out []storedEvent
	for _, src := range s.esSources(t, ctx, index) {
		var doc struct {
			N    int64 `json:"n"`
			Meta struct {
				ID   string `json:"id"`
				Key  string `json:"key"`
				Time string `json:"time"`
			} `json:"_waybill"`
		}
		if err := json.Unmarshal(src, &doc); err != nil {
			t.Fatalf("%s: %v", index, err)
		}
		at, _ := time.Parse(time.RFC3339Nano, doc.Meta.Time)
		out = append(out, storedEvent{ID: doc.Meta.ID, Key: doc.Meta.Key, Time: at, N: doc.N})
	}
	return out
}

// esSources returns the _source of every document of an index, paging with
// search_after sorted by event id.
func (s *stores) esSources(t testing.TB, ctx context.Context, index string) []json.RawMessage {
	t.Helper()
	client, err := es.NewClient(es.Config{Addresses: []string{s.addrs.Elasticsearch}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := client.Indices.Refresh(client.Indices.Refresh.WithIndex(index)); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
		if res.StatusCode == http.StatusNotFound {
			return nil
		}
	}
	var out []json.RawMessage
	var after []any
	for {
		q := map[string]any{"size": 1000, "query": map[string]any{"match_all": map[string]any{}}, "sort": []any{"_waybill.id"}}
		if after != nil {
			q["search_after"] = after
		}
		body, _ := json.Marshal(q)
		res, err := esapi.SearchRequest{Index: []string{index}, Body: strings.NewReader(string(body))}.Do(ctx, client)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Hits struct {
				Hits []struct {
					Sort   []any           `json:"sort"`
					Source json.RawMessage `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if err != nil || res.IsError() {
			t.Fatalf("searching %s: HTTP %d %v", index, res.StatusCode, err)
		}
		for _, h := range page.Hits.Hits {
			out = append(out, h.Source)
		}
		if len(page.Hits.Hits) < 1000 {
			return out
		}
		after = page.Hits.Hits[len(page.Hits.Hits)-1].Sort
	}
}

// latest returns what the profiles route's collection holds for contract: key → event.
func (s *stores) latest(t testing.TB, contract string) map[string]storedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := map[string]storedEvent{}
	for _, raw := range s.profileDocs(t, ctx, contract) {
		var doc struct {
			Key  string `bson:"_id"`
			N    int64  `bson:"n"`
			Meta struct {
				ID   string `bson:"id"`
				Time int64  `bson:"time"`
			} `bson:"_waybill"`
		}
		if err := bson.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		out[doc.Key] = storedEvent{ID: doc.Meta.ID, Key: doc.Key, Time: time.UnixMicro(doc.Meta.Time).UTC(), N: doc.N}
	}
	return out
}

// profileDocs returns every document of the profiles route's collection for contract,
// as the MongoDB driver reads them.
func (s *stores) profileDocs(t testing.TB, ctx context.Context, contract string) []bson.Raw {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(s.addrs.MongoDB))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	cur, err := c.Database("wb").Collection("profiles_"+contract).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	var out []bson.Raw
	for cur.Next(ctx) {
		out = append(out, slices.Clone(cur.Current))
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// webhdfsGet runs a GET operation on the NameNode and decodes a 200 answer's JSON; it
// returns the status (404 is not an error).
func webhdfsGet(t testing.TB, base, path, op string, out any) int {
	t.Helper()
	res, err := http.Get(base + "/webhdfs/v1" + (&url.URL{Path: path}).EscapedPath() + "?op=" + op + "&user.name=test")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	switch res.StatusCode {
	case http.StatusOK:
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("WebHDFS %s %s: %v", op, path, err)
		}
	case http.StatusNotFound:
	default:
		t.Fatalf("WebHDFS %s %s: HTTP %d %s", op, path, res.StatusCode, b)
	}
	return res.StatusCode
}

// webhdfsOpen reads a file through the NameNode's redirect to a DataNode.
func webhdfsOpen(t testing.TB, base, path string) []byte {
	t.Helper()
	res, err := http.Get(base + "/webhdfs/v1" + (&url.URL{Path: path}).EscapedPath() + "?op=OPEN&user.name=test")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("WebHDFS OPEN %s: HTTP %d %s", path, res.StatusCode, b)
	}
	return b
}
