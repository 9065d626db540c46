package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	es "github.com/elastic/go-elasticsearch/v8"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// probes reach each store with its official client; each returns nil when the store
// answered.
func probes(t *testing.T, a Addresses) map[string]func() error {
	ctx := context.Background()
	mc, err := mongo.Connect(options.Client().ApplyURI(a.MongoDB).SetServerSelectionTimeout(2 * time.Second).SetConnectTimeout(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Disconnect(ctx) })
	esc, err := es.NewClient(es.Config{Addresses: []string{a.Elasticsearch}})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]func() error{
		"mongodb": func() error {
			_, err := mc.Database("devstack_test").Collection("c").InsertOne(ctx, bson.D{{Key: "n", Value: 1}})
			return err
		},
		"cassandra": func() error {
			c := gocql.NewCluster(strings.Split(a.Cassandra, ":")[0])
			_, port, _ := strings.Cut(a.Cassandra, ":")
			c.Port = atoi(t, port)
			c.ConnectTimeout, c.Timeout = 2*time.Second, 2*time.Second
			c.DisableInitialHostLookup = true
			c.ProtoVersion = 4
			s, err := c.CreateSession()
			if err != nil {
				return err
			}
			defer s.Close()
			return s.Query(`CREATE KEYSPACE IF NOT EXISTS devstack_test WITH replication = {'class':'SimpleStrategy','replication_factor':1}`).Exec()
		},
		"webhdfs": func() error {
			res, err := http.Get(a.WebHDFS + "/webhdfs/v1/?op=GETFILESTATUS&user.name=devstack")
			if err != nil {
				return err
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return errors.New(res.Status)
			}
			return nil
		},
		"elasticsearch": func() error {
			res, err := esc.Info()
			if err != nil {
				return err
			}
			defer res.Body.Close()
			if res.IsError() {
				return errors.New(res.String())
			}
			return nil
		},
	}
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("bad port %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func control(t *testing.T, method, url string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var out map[string]string
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %s", method, url, body)
	}
	return res.StatusCode, out
}

func TestStackControlsEveryStore(t *testing.T) {
	dir := t.TempDir()
	st, err := Start(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	a, err := ReadAddresses(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a != st.Addresses() {
		t.Fatalf("stack.json says %+v, the stack %+v", a, st.Addresses())
	}
	probe := probes(t, a)
	for name, p := range probe {
		if err := p(); err != nil {
			t.Fatalf("%s should answer: %v", name, err)
		}
	}
	for name, p := range probe {
		if status, body := control(t, http.MethodPost, a.Control+"/"+name+"/down"); status != 200 || body["state"] != "down" {
			t.Fatalf("%s down: HTTP %d %v", name, status, body)
		}
		if status, _ := control(t, http.MethodPost, a.Control+"/"+name+"/down"); status != http.StatusConflict {
			t.Fatalf("%s down twice: HTTP %d, want 409", name, status)
		}
		if err := p(); err == nil {
			t.Fatalf("%s answered while down", name)
		}
		if _, s := control(t, http.MethodGet, a.Control+"/status"); s[name] != "down" {
			t.Fatalf("status while %s is down: %v", name, s)
		}
		if status, body := control(t, http.MethodPost, a.Control+"/"+name+"/up"); status != 200 || body["state"] != "up" {
			t.Fatalf("%s up: HTTP %d %v", name, status, body)
		}
		// The clients reconnect on their own; wait for it rather than for a fixed time.
		deadline := time.Now().Add(20 * time.Second)
		for err := p(); err != nil; err = p() {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not answer after up: %v", name, err)
			}
		}
	}
	want := map[string]string{}
	for name := range probe {
		want[name] = "up"
	}
	if _, s := control(t, http.MethodGet, a.Control+"/status"); !reflect.DeepEqual(s, want) {
		t.Fatalf("status %v, want %v", s, want)
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, "/nosuch/down", http.StatusNotFound},
		{http.MethodGet, "/mongodb/down", http.StatusMethodNotAllowed},
		{http.MethodPost, "/status", http.StatusMethodNotAllowed},
		{http.MethodGet, "/", http.StatusNotFound},
	} {
		if status, body := control(t, c.method, a.Control+c.path); status != c.status || body["error"] == "" {
			t.Errorf("%s %s: HTTP %d %v, want %d with an error", c.method, c.path, status, body, c.status)
		}
	}

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stack.json should be gone after Close: %v", err)
	}
	if err := probe["elasticsearch"](); err == nil {
		t.Fatal("elasticsearch answered after Close")
	}
}

func TestStartNeedsDir(t *testing.T) {
	if _, err := Start(Options{}); err == nil {
		t.Fatal("Start without a directory should fail")
	}
}
