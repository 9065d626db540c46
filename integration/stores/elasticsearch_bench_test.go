package stores

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"testing"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/adapters/elasticsearch"
	"github.com/waybill-data/waybill/integration/sinktest"
	"github.com/waybill-data/waybill/integration/testserver/elastic"
	"github.com/waybill-data/waybill/routing"
)

// BenchmarkElasticsearch compares, in one run against the test server, events/s
// through the sink (Avro decode, JSON encode, bulk, per-item results) with the same
// documents bulk-indexed directly with go-elasticsearch from prepared bodies.
func BenchmarkElasticsearch(b *testing.B) {
	const batch = 500
	srv, err := elastic.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	schema, _ := sinktest.Schemas{}.Avro(sinktest.OrderSchemaID)
	at := sinktest.Epoch
	events := make([]routing.Event, batch)
	var direct bytes.Buffer
	for i := range events {
		id := fmt.Sprintf("bench-%05d", i)
		note := "note " + id
		v := map[string]any{"order_id": id, "customer": fmt.Sprintf("c%d", i%97), "qty": i % 9,
			"total": big.NewRat(int64(i)*125, 100), "placed_at": at, "note": map[string]any{"string": note}}
		data, err := avro.Marshal(schema, v)
		if err != nil {
			b.Fatal(err)
		}
		events[i] = routing.Event{Seq: uint64(i + 1), ID: id, Contract: "bench", SchemaID: sinktest.OrderSchemaID,
			Key: fmt.Sprintf("k%d", i), Time: at, Received: at, Data: data}
		doc, _ := json.Marshal(map[string]any{"order_id": id, "customer": fmt.Sprintf("c%d", i%97), "qty": i % 9,
			"total": big.NewRat(int64(i)*125, 100).FloatString(2), "placed_at": at.Format("2006-01-02T15:04:05.000000Z"), "note": note,
			"_waybill": map[string]any{"id": id, "key": fmt.Sprintf("k%d", i), "contract": "bench",
				"time": at.Format("2006-01-02T15:04:05.000000Z"), "received": at.Format("2006-01-02T15:04:05.000000Z"), "schema_id": sinktest.OrderSchemaID}})
		fmt.Fprintf(&direct, `{"index":{"_index":"bench_direct","_id":%q}}`+"\n%s\n", id, doc)
	}
	b.Run("sink", func(b *testing.B) {
		sink, err := elasticsearch.New(elasticsearch.Config{Addresses: []string{srv.URL()}}, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		defer sink.Close()
		route := routing.Route{Name: "bench", Class: routing.Analytic, Mode: routing.Append, Target: "bench_sink"}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := sink.Write(context.Background(), &routing.Batch{Route: route, Events: events, Schemas: sinktest.Schemas{}}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("direct", func(b *testing.B) {
		client, err := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
		if err != nil {
			b.Fatal(err)
		}
		body := direct.Bytes()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res, err := esapi.BulkRequest{Body: bytes.NewReader(body)}.Do(context.Background(), client)
			if err != nil {
				b.Fatal(err)
			}
			var br struct {
				Errors bool `json:"errors"`
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if err := json.Unmarshal(raw, &br); err != nil || br.Errors || res.StatusCode != 200 {
				b.Fatalf("bulk: HTTP %d errors=%v %v", res.StatusCode, br.Errors, err)
			}
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	})
}
