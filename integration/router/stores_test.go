package router_test

// The local stores of the router tests and how the tests read back what each holds:
// with each store's own client (the official drivers, plain WebHDFS requests and
// hamba's container decoder), never through the adapters.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
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
  mongodb:   {kind: mongodb, uri: "%s", database: wb, decimal: string, server_selection_timeout: 2s, connect_timeout: 2s}
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
	var out []storedEvent
	for _, f := range list.FileStatuses.FileStatus {
		p := dir + "/" + f.PathSuffix
		switch {
		case f.Type == "DIRECTORY":
			out = append(out, s.hdfsEvents(t, p)...)
		case strings.HasSuffix(f.PathSuffix, ".avro") && !strings.HasPrefix(f.PathSuffix, "."):
			dec, err := ocf.NewDecoder(strings.NewReader(string(webhdfsOpen(t, s.addrs.WebHDFS, p))))
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			for dec.HasNext() {
				var r struct {
					ID   string         `avro:"id"`
					Key  string         `avro:"key"`
					Time time.Time      `avro:"time"`
					Data map[string]any `avro:"data"`
				}
				if err := dec.Decode(&r); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				n, _ := r.Data["n"].(int64)
				out = append(out, storedEvent{ID: r.ID, Key: r.Key, Time: r.Time.UTC(), N: n})
			}
			if err := dec.Error(); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
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
	var out []storedEvent
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
					Sort   []any `json:"sort"`
					Source struct {
						N    int64 `json:"n"`
						Meta struct {
							ID   string `json:"id"`
							Key  string `json:"key"`
							Time string `json:"time"`
						} `json:"_waybill"`
					} `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if err != nil || res.IsError() {
			t.Fatalf("searching %s: HTTP %d %v", index, res.StatusCode, err)
		}
		for _, h := range page.Hits.Hits {
			at, _ := time.Parse(time.RFC3339Nano, h.Source.Meta.Time)
			out = append(out, storedEvent{ID: h.Source.Meta.ID, Key: h.Source.Meta.Key, Time: at, N: h.Source.N})
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
	out := map[string]storedEvent{}
	for cur.Next(ctx) {
		var doc struct {
			Key  string `bson:"_id"`
			N    int64  `bson:"n"`
			Meta struct {
				ID   string `bson:"id"`
				Time int64  `bson:"time"`
			} `bson:"_waybill"`
		}
		if err := cur.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		out[doc.Key] = storedEvent{ID: doc.Meta.ID, Key: doc.Key, Time: time.UnixMicro(doc.Meta.Time).UTC(), N: doc.N}
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
