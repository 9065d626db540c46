package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/hamba/avro/v2/ocf"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/waybill-data/waybill/adapters/lake"
	"github.com/waybill-data/waybill/integration/devstack"
	"github.com/waybill-data/waybill/integration/internal/testproc"
)

// stores is the local stack (FerretDB and the test servers) a router test writes to.
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
	host, port := s.cassandraHostPort(t)
	c := gocql.NewCluster(host)
	c.Port, c.ProtoVersion, c.Timeout = port, 4, 10*time.Second
	sess, err := c.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.Query(`CREATE KEYSPACE wb WITH replication = {'class':'SimpleStrategy','replication_factor':1}`).Exec(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *stores) cassandraHostPort(t *testing.T) (string, int) {
	host, p, err := net.SplitHostPort(s.addrs.Cassandra)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

// sinksYAML configures one sink of each kind on the stack.
func (s *stores) sinksYAML(t *testing.T) string {
	host, port := s.cassandraHostPort(t)
	return fmt.Sprintf(`sinks:
  lake:      {kind: lake, path: %s}
  hdfs:      {kind: webhdfs, namenodes: ["%s"], root: /wb, user: waybill}
  cassandra: {kind: cassandra, hosts: [%s], port: %d, keyspace: wb, create_tables: true}
  mongodb:   {kind: mongodb, uri: "%s", database: wb, decimal: string, server_selection_timeout: 2s}
  search:    {kind: elasticsearch, addresses: ["%s"]}
`, s.lake, s.addrs.WebHDFS, host, port, s.addrs.MongoDB, s.addrs.Elasticsearch)
}

const fanoutRoutes = `routes:
  lake:     {sink: lake, class: analytic, target: "{contract}/dt={date}", batch: {max_wait: 20ms}}
  hdfs:     {sink: hdfs, class: analytic, target: "{contract}/dt={date}", batch: {max_wait: 20ms}}
  timeline: {sink: cassandra, class: analytic, target: "tl_{contract}", batch: {max_wait: 20ms}}
  profiles: {sink: mongodb, class: runtime, mode: latest, target: "profiles_{contract}", max_lag: 1m, batch: {max_wait: 20ms}}
  search:   {sink: search, class: runtime, target: "ev-{contract}", max_lag: 1m, batch: {max_wait: 20ms}}
`

var fanoutRouteNames = []string{"lake", "hdfs", "timeline", "profiles", "search"}

// TestOneEventReachesEveryStore sends one event routed to all four stores (and the
// lake) and reads it back from each with that store's own client.
func TestOneEventReachesEveryStore(t *testing.T) {
	e := startLiveEnv(t)
	st := startStores(t)
	mustCall(t, http.MethodPost, e.regURL+"/subjects/orders/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	mustCall(t, http.MethodPut, e.regURL+"/contracts/orders", contractBody(fanoutRouteNames, []string{"lake"}, []string{"lake"}), http.StatusOK)
	e.startRouterWith(t, st.sinksYAML(t)+fanoutRoutes)

	status, a := e.send(t, orderEvent("orders", fanoutRouteNames[1:], map[string]any{"user_id": "u-42", "n": 7, "ts": 1795300000000}))
	if !accepted(status, a) || len(a.Routes) != 5 {
		t.Fatalf("HTTP %d %+v: want accepted on five routes", status, a)
	}
	e.waitDelivered(t, fanoutRouteNames, 1)
	at := time.UnixMilli(1795300000000).UTC()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("lake", func(t *testing.T) {
		files, err := lake.Scan(st.lake)
		if err != nil || len(files) != 1 {
			t.Fatalf("lake files %v, %v", files, err)
		}
		evs, err := lake.ReadFile(files[0].Path)
		if err != nil || len(evs) != 1 || evs[0].ID != a.ID || evs[0].Key != "u-42" || !evs[0].Time.Equal(at) || evs[0].Data["n"] != int64(7) {
			t.Fatalf("lake holds %+v, %v", evs, err)
		}
	})
	t.Run("hdfs", func(t *testing.T) {
		dir := "/wb/orders/dt=" + at.Format("2006-01-02")
		var list struct {
			FileStatuses struct {
				FileStatus []struct{ PathSuffix string } `json:"FileStatus"`
			} `json:"FileStatuses"`
		}
		webhdfsGet(t, st.addrs.WebHDFS, dir, "LISTSTATUS", &list)
		var data []string
		for _, f := range list.FileStatuses.FileStatus {
			if strings.HasSuffix(f.PathSuffix, ".avro") {
				data = append(data, f.PathSuffix)
			}
		}
		if len(data) != 1 {
			t.Fatalf("%s holds %+v, want one .avro file", dir, list)
		}
		body := webhdfsOpen(t, st.addrs.WebHDFS, dir+"/"+data[0])
		dec, err := ocf.NewDecoder(strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		var recs []map[string]any
		for dec.HasNext() {
			var r map[string]any
			if err := dec.Decode(&r); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		if len(recs) != 1 || recs[0]["id"] != a.ID || recs[0]["key"] != "u-42" || recs[0]["data"].(map[string]any)["n"] != int64(7) {
			t.Fatalf("HDFS file holds %+v", recs)
		}
	})
	t.Run("cassandra", func(t *testing.T) {
		host, port := st.cassandraHostPort(t)
		c := gocql.NewCluster(host)
		c.Port, c.ProtoVersion, c.Keyspace, c.Timeout = port, 4, "wb", 10*time.Second
		sess, err := c.CreateSession()
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		var id, key string
		var n, us int64
		err = sess.Query(`SELECT _waybill_id, _waybill_key, "n", _waybill_time_us FROM tl_orders WHERE _waybill_partition = ? AND _waybill_day = ?`, "u-42", at).
			WithContext(ctx).Scan(&id, &key, &n, &us)
		if err != nil || id != a.ID || key != "u-42" || n != 7 || us != at.UnixMicro() {
			t.Fatalf("Cassandra row: %s %s %d %d, %v", id, key, n, us, err)
		}
	})
	t.Run("mongodb", func(t *testing.T) {
		c, err := mongo.Connect(options.Client().ApplyURI(st.addrs.MongoDB))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Disconnect(ctx)
		var doc struct {
			N    int64 `bson:"n"`
			Meta struct {
				ID string `bson:"id"`
			} `bson:"_waybill"`
		}
		if err := c.Database("wb").Collection("profiles_orders").FindOne(ctx, bson.D{{Key: "_id", Value: "u-42"}}).Decode(&doc); err != nil || doc.Meta.ID != a.ID || doc.N != 7 {
			t.Fatalf("MongoDB document %+v, %v", doc, err)
		}
	})
	t.Run("elasticsearch", func(t *testing.T) {
		client, err := es.NewClient(es.Config{Addresses: []string{st.addrs.Elasticsearch}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := client.Get("ev-orders", a.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var doc struct {
			Found  bool `json:"found"`
			Source struct {
				N    int64 `json:"n"`
				Meta struct {
					Key string `json:"key"`
				} `json:"_waybill"`
			} `json:"_source"`
		}
		if err := json.NewDecoder(res.Body).Decode(&doc); err != nil || !doc.Found || doc.Source.N != 7 || doc.Source.Meta.Key != "u-42" {
			t.Fatalf("Elasticsearch document %+v, %v", doc, err)
		}
	})
}

// webhdfsGet runs a GET operation on the NameNode and decodes its JSON answer.
func webhdfsGet(t *testing.T, base, path, op string, out any) {
	t.Helper()
	res, err := http.Get(base + "/webhdfs/v1" + path + "?op=" + op + "&user.name=test")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("WebHDFS %s %s: HTTP %d %s", op, path, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("WebHDFS %s %s: %v", op, path, err)
	}
}

// webhdfsOpen reads a file through the NameNode's redirect to a DataNode.
func webhdfsOpen(t *testing.T, base, path string) []byte {
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

// startRouterWith starts the router with the given sinks and routes (YAML).
func (e *liveEnv) startRouterWith(t *testing.T, sinksAndRoutes string) {
	t.Helper()
	dir := t.TempDir()
	addr := testproc.FreeAddr(t)
	cfg := fmt.Sprintf("listen: %s\nstate_dir: %s\netcd_endpoints: [%s]\n%s", addr, filepath.Join(dir, "state"), e.etcdAddr, sinksAndRoutes)
	path := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	e.routerURL = "http://" + addr
	e.routerConfig = path
	e.router = testproc.Start(t, "router", nil, routerBin, "--config", path)
	testproc.WaitReady(t, e.router, e.routerURL+"/readyz", 30*time.Second, func(status int, _ []byte) bool {
		return status == http.StatusOK
	})
}

// waitDelivered waits until each route's ledger says n events delivered, none pending.
func (e *liveEnv) waitDelivered(t *testing.T, routes []string, n int64) {
	t.Helper()
	var last ledgerAnswer
	if !testproc.Poll(60*time.Second, 20*time.Millisecond, nil, func() bool {
		if err := json.Unmarshal(mustCall(t, http.MethodGet, e.routerURL+"/v1/ledger", nil, http.StatusOK), &last); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, r := range last.Ledger {
			if r.Pending != 0 {
				return false
			}
			got[r.Route] += r.Delivered
		}
		for _, r := range routes {
			if got[r] != n {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("not every route delivered %d: ledger %+v", n, last)
	}
}
