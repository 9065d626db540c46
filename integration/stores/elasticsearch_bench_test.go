package stores

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/waybill-data/waybill/adapters/elasticsearch"
	"github.com/waybill-data/waybill/integration/testserver/elastic"
	"github.com/waybill-data/waybill/routing"
)

// esBenchDoc is the document the sink indexes for an order, as an application would
// declare it for encoding/json.
type esBenchDoc struct {
	OrderID  string      `json:"order_id"`
	Customer string      `json:"customer"`
	Qty      int32       `json:"qty"`
	Total    string      `json:"total"`
	PlacedAt string      `json:"placed_at"`
	Tags     []string    `json:"tags"`
	Note     string      `json:"note"`
	Waybill  esBenchMeta `json:"_waybill"`
}

type esBenchMeta struct {
	ID       string `json:"id"`
	Key      string `json:"key"`
	Contract string `json:"contract"`
	Time     string `json:"time"`
	Received string `json:"received"`
	SchemaID int    `json:"schema_id"`
}

const esMicros = "2006-01-02T15:04:05.000000Z"

// BenchmarkElasticsearch: the Elasticsearch sink on a runtime append route against the
// Elasticsearch test server (in memory, loopback HTTP, in this process) or the cluster
// WAYBILL_TEST_ELASTICSEARCH names (e.g. http://localhost:9200), compared with
// go-elasticsearch's bulk API indexing the same documents (encoding/json from structs,
// _id = event id) in bulks of the route's batch size, into an index created with the
// mappings the sink gave its own.
func BenchmarkElasticsearch(b *testing.B) {
	addr := os.Getenv("WAYBILL_TEST_ELASTICSEARCH")
	if addr == "" {
		srv, err := elastic.Start()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		addr = srv.URL()
	}
	client, err := es.NewClient(es.Config{Addresses: []string{addr}})
	if err != nil {
		b.Fatal(err)
	}
	open := func(b *testing.B, _ string) routing.Sink {
		s, err := elasticsearch.New(elasticsearch.Config{Addresses: []string{addr}}, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	drop := func(b *testing.B, _, contract string) {
		res, err := esapi.IndicesDeleteRequest{Index: []string{"ev-" + contract}}.Do(context.Background(), client)
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("deleting ev-%s: HTTP %d", contract, res.StatusCode)
		}
	}
	// The direct client's indexes get the mappings the sink derives from the schema:
	// those of an index the sink made for one event.
	model := nextBenchNames().round
	route := routing.Route{Name: benchRoute, Class: routing.Runtime, Mode: routing.Append, Target: "ev-{contract}"}
	if err := open(b, "").Write(context.Background(), &routing.Batch{Route: route, Events: benchEvents(b, model, benchOrders(model, 1, 1)), Schemas: benchSchemas{}}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { drop(b, "", model) })
	runStoreBench(b, storeBench{
		events: 20_000, keys: 100, open: open,
		route: `class: runtime, target: "ev-{contract}", max_lag: 1m, batch: {max_events: 1000, max_wait: 20ms}`,
		direct: func(b *testing.B, n benchNames, batch int) func(context.Context, []benchOrder) error {
			index := "ev-" + n.direct
			esCopyMappings(b, client, "ev-"+model, index)
			return func(ctx context.Context, orders []benchOrder) error {
				received := time.Now().UTC().Format(esMicros)
				var body bytes.Buffer
				enc := json.NewEncoder(&body)
				for from := 0; from < len(orders); from += batch {
					body.Reset()
					for i := from; i < min(from+batch, len(orders)); i++ {
						o := &orders[i]
						at := o.placed.UTC().Format(esMicros)
						fmt.Fprintf(&body, `{"index":{"_id":%q}}`+"\n", o.id)
						if err := enc.Encode(esBenchDoc{OrderID: o.orderID, Customer: o.customer, Qty: o.qty, Total: o.total(),
							PlacedAt: at, Tags: o.tags, Note: o.note, Waybill: esBenchMeta{ID: o.id, Key: o.customer,
								Contract: n.direct, Time: at, Received: received, SchemaID: benchSchemaID}}); err != nil {
							return err
						}
					}
					if err := esBulk(ctx, client, index, body.Bytes()); err != nil {
						return err
					}
				}
				return nil
			}
		},
		drop: drop,
	})
}

// esBulk sends one bulk request and fails unless every item succeeded.
func esBulk(ctx context.Context, client *es.Client, index string, body []byte) error {
	res, err := esapi.BulkRequest{Index: index, Body: bytes.NewReader(body)}.Do(ctx, client)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var answer struct {
		Errors bool `json:"errors"`
	}
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &answer); err != nil || answer.Errors || res.StatusCode != 200 {
		return fmt.Errorf("bulk: HTTP %d errors=%v %v: %.300s", res.StatusCode, answer.Errors, err, raw)
	}
	return nil
}

// esCopyMappings creates index to with the mappings of index from.
func esCopyMappings(b *testing.B, client *es.Client, from, to string) {
	res, err := esapi.IndicesGetMappingRequest{Index: []string{from}}.Do(context.Background(), client)
	if err != nil {
		b.Fatal(err)
	}
	var got map[string]struct {
		Mappings json.RawMessage `json:"mappings"`
	}
	err = json.NewDecoder(res.Body).Decode(&got)
	res.Body.Close()
	if err != nil || got[from].Mappings == nil {
		b.Fatalf("mappings of %s: HTTP %d %v", from, res.StatusCode, err)
	}
	body, _ := json.Marshal(map[string]json.RawMessage{"mappings": got[from].Mappings})
	res, err = esapi.IndicesCreateRequest{Index: to, Body: bytes.NewReader(body)}.Do(context.Background(), client)
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		b.Fatalf("creating %s: HTTP %d", to, res.StatusCode)
	}
}
