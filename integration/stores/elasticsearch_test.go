package stores

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/waybill-data/waybill/adapters/elasticsearch"
	"github.com/waybill-data/waybill/integration/sinktest"
	"github.com/waybill-data/waybill/integration/testserver/elastic"
	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
)

// TestElasticsearchConformance runs the suite against the Elasticsearch adapter: on
// the protocol-level test server (integration/testserver/elastic) by default, or on
// the cluster WAYBILL_TEST_ELASTICSEARCH names (e.g. http://localhost:9200), where
// outages and per-item failures cannot be injected and those subtests skip.
func TestElasticsearchConformance(t *testing.T) {
	store := sinktest.Store{
		Name:   "elasticsearch",
		Modes:  []routing.Mode{routing.Append, routing.Latest},
		Target: "wbtest_{contract}",
	}
	addr := os.Getenv("WAYBILL_TEST_ELASTICSEARCH")
	if addr != "" {
		t.Logf("running against the real cluster at %s (WAYBILL_TEST_ELASTICSEARCH); the outage and partial-failure subtests skip: faults cannot be injected there", addr)
	} else {
		srv, err := elastic.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		addr = srv.URL()
		store.Down = func(t *testing.T) {
			if err := srv.Down(); err != nil {
				t.Fatal(err)
			}
		}
		store.Up = func(t *testing.T) {
			if err := srv.Up(); err != nil {
				t.Fatal(err)
			}
		}
		store.FailNext = func(t *testing.T, ids []string, permanent bool) {
			status := http.StatusTooManyRequests
			if permanent {
				status = http.StatusBadRequest
			}
			if err := srv.FailItems(status, ids...); err != nil {
				t.Fatal(err)
			}
		}
	}
	reader := newESReader(t, addr)
	store.Open = func(t *testing.T, _ routing.Class) routing.Sink {
		s, err := elasticsearch.New(elasticsearch.Config{Addresses: []string{addr}, Timeout: routing.Duration(10 * time.Second)}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("elasticsearch.New: %v", err)
		}
		return s
	}
	store.Read = reader.read
	sinktest.Run(t, store)
}

// esReader reads what an index holds with the official client, independently of the
// adapter, and deletes the indices it read when the test ends.
type esReader struct {
	client *es.Client
	mu     sync.Mutex
	seen   map[string]bool
}

func newESReader(t *testing.T, addr string) *esReader {
	client, err := es.NewClient(es.Config{Addresses: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	r := &esReader{client: client, seen: map[string]bool{}}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for name := range r.seen {
			res, err := client.Indices.Delete([]string{name})
			if err == nil {
				res.Body.Close()
			}
		}
	})
	return r
}

// do runs a request and decodes a 2xx answer into out; it returns the status.
func esDo(t *testing.T, req esapi.Request, client *es.Client, out any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := req.Do(ctx, client)
	if err != nil {
		t.Fatalf("elasticsearch read: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("elasticsearch read: decoding %s: %v", body, err)
		}
	} else if res.StatusCode/100 != 2 && res.StatusCode != http.StatusNotFound {
		t.Fatalf("elasticsearch read: HTTP %d: %s", res.StatusCode, body)
	}
	return res.StatusCode
}

func (r *esReader) read(t *testing.T, route routing.Route, contract string) []sinktest.Stored {
	t.Helper()
	index := strings.ToLower(target.MustParse(route.Target).Render(contract, route.Name, sinktest.Epoch))
	r.mu.Lock()
	r.seen[index] = true
	r.mu.Unlock()
	if esDo(t, esapi.IndicesRefreshRequest{Index: []string{index}}, r.client, nil) == http.StatusNotFound {
		return nil
	}
	var count struct {
		Count int `json:"count"`
	}
	esDo(t, esapi.CountRequest{Index: []string{index}}, r.client, &count)
	if count.Count > 10000 {
		t.Fatalf("index %s holds %d documents; this reader pages with from/size up to 10000", index, count.Count)
	}
	var out []sinktest.Stored
	for from := 0; from < count.Count; from += 1000 {
		var page struct {
			Hits struct {
				Hits []struct {
					ID     string          `json:"_id"`
					Source json.RawMessage `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		}
		body := fmt.Sprintf(`{"query":{"match_all":{}},"from":%d,"size":1000,"sort":["_doc"]}`, from)
		esDo(t, esapi.SearchRequest{Index: []string{index}, Body: strings.NewReader(body)}, r.client, &page)
		for _, h := range page.Hits.Hits {
			out = append(out, storedFromES(t, h.ID, h.Source))
		}
	}
	if len(out) != count.Count {
		t.Fatalf("index %s: count says %d documents, search returned %d", index, count.Count, len(out))
	}
	return out
}

// storedFromES maps one document back: the envelope from _waybill, the rest through
// the contract's schema.
func storedFromES(t *testing.T, id string, raw json.RawMessage) sinktest.Stored {
	t.Helper()
	src, err := decodeSource(raw)
	if err != nil {
		t.Fatalf("document %s: %v", id, err)
	}
	meta, ok := src[elasticsearch.MetaField].(map[string]any)
	if !ok {
		t.Fatalf("document %s has no %s object: %s", id, elasticsearch.MetaField, raw)
	}
	delete(src, elasticsearch.MetaField)
	at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(meta["time"]))
	if err != nil {
		t.Fatalf("document %s: time: %v", id, err)
	}
	var schemaID int
	if _, err := fmt.Sscan(fmt.Sprint(meta["schema_id"]), &schemaID); err != nil {
		t.Fatalf("document %s: schema_id: %v", id, err)
	}
	schema, err := sinktest.Schemas{}.Avro(schemaID)
	if err != nil {
		t.Fatalf("document %s: %v", id, err)
	}
	value, err := esToValue(schema, src)
	if err != nil {
		t.Fatalf("document %s: mapping back: %v (source %s)", id, err, raw)
	}
	return sinktest.Stored{ID: fmt.Sprint(meta["id"]), Key: fmt.Sprint(meta["key"]), Time: at, SchemaID: schemaID, Value: value}
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
