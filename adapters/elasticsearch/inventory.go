package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/verify"
)

// inventoryPage is how many documents one search of a recount reads.
const inventoryPage = 1000

// Count recounts, for `router verify`, the documents of contract the route holds with
// event times in [since, until), by event hour. It refreshes each index the route's
// target renders to for that range (so recent writes count), then pages through the
// matching documents' envelopes with search_after, sorted by (_waybill.time,
// _waybill.id).
func (s *Sink) Count(ctx context.Context, route routing.Route, contract string, since, until time.Time) (map[string]verify.HourCount, error) {
	tmpl, err := s.template(route)
	if err != nil {
		return nil, err
	}
	tally := verify.NewTally(since, until)
	rng := map[string]any{}
	if !since.IsZero() {
		rng["gte"] = since.UTC().Format(time.RFC3339Nano)
	}
	if !until.IsZero() {
		rng["lt"] = until.UTC().Format(time.RFC3339Nano)
	}
	filter := []any{map[string]any{"term": map[string]any{MetaField + ".contract": contract}}}
	if len(rng) > 0 {
		filter = append(filter, map[string]any{"range": map[string]any{MetaField + ".time": rng}})
	}
	for _, rendered := range tmpl.RenderRange(contract, route.Name, since, until) {
		index, err := IndexName(rendered)
		if err != nil {
			return nil, err
		}
		if status, err := s.call(ctx, "refresh", esapi.IndicesRefreshRequest{Index: []string{index}}, nil); status == http.StatusNotFound {
			continue // never written
		} else if err != nil {
			return nil, err
		}
		var after []any
		for {
			req := map[string]any{"size": inventoryPage, "query": map[string]any{"bool": map[string]any{"filter": filter}},
				"sort":    []any{map[string]any{MetaField + ".time": "asc"}, map[string]any{MetaField + ".id": "asc"}},
				"_source": []string{MetaField + ".id", MetaField + ".time"}}
			if after != nil {
				req["search_after"] = after
			}
			body, _ := json.Marshal(req)
			var page struct {
				Hits struct {
					Hits []struct {
						Sort   []any `json:"sort"`
						Source struct {
							Meta struct {
								ID   string `json:"id"`
								Time string `json:"time"`
							} `json:"_waybill"`
						} `json:"_source"`
					} `json:"hits"`
				} `json:"hits"`
			}
			if _, err := s.call(ctx, "search", esapi.SearchRequest{Index: []string{index}, Body: bytes.NewReader(body)}, &page); err != nil {
				return nil, err
			}
			for _, h := range page.Hits.Hits {
				at, err := time.Parse(time.RFC3339Nano, h.Source.Meta.Time)
				if err != nil {
					return nil, fmt.Errorf("elasticsearch: index %s: document %s has no readable %s.time: %w", index, h.Source.Meta.ID, MetaField, err)
				}
				tally.Add(at, h.Source.Meta.ID)
			}
			if len(page.Hits.Hits) < inventoryPage {
				break
			}
			after = page.Hits.Hits[len(page.Hits.Hits)-1].Sort
		}
	}
	return tally.Counts(), nil
}

// Versions returns, for `router verify`, the version a latest-mode route stores for
// each key of contract (one _mget per 1000 keys).
func (s *Sink) Versions(ctx context.Context, route routing.Route, contract string, keys []string) (map[string]routing.Version, error) {
	tmpl, err := s.template(route)
	if err != nil {
		return nil, err
	}
	index, err := IndexName(tmpl.Render(contract, route.Name, time.Time{}))
	if err != nil {
		return nil, err
	}
	out := map[string]routing.Version{}
	for start := 0; start < len(keys); start += inventoryPage {
		part := keys[start:min(start+inventoryPage, len(keys))]
		body, _ := json.Marshal(map[string]any{"ids": part})
		var mr struct {
			Docs []struct {
				ID     string `json:"_id"`
				Found  bool   `json:"found"`
				Source struct {
					Meta struct {
						ID       string `json:"id"`
						Contract string `json:"contract"`
						Time     string `json:"time"`
					} `json:"_waybill"`
				} `json:"_source"`
			} `json:"docs"`
		}
		status, err := s.call(ctx, "mget", esapi.MgetRequest{Index: index, Body: bytes.NewReader(body)}, &mr)
		if status == http.StatusNotFound {
			return out, nil // the index does not exist: no key is stored
		}
		if err != nil {
			return nil, err
		}
		for _, d := range mr.Docs {
			if !d.Found || d.Source.Meta.Contract != contract {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, d.Source.Meta.Time)
			if err != nil {
				return nil, fmt.Errorf("elasticsearch: index %s: document %s has no readable %s.time: %w", index, d.ID, MetaField, err)
			}
			out[d.ID] = routing.Version{ID: d.Source.Meta.ID, Time: at.UTC()}
		}
	}
	return out, nil
}

// call runs one request bounded by the configured timeout and decodes a 2xx answer.
func (s *Sink) call(ctx context.Context, op string, req esapi.Request, into any) (int, error) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	res, err := req.Do(rctx, s.client)
	status, err := answer(op, res, err, into)
	var re *RequestError
	if errors.As(err, &re) {
		status = re.Status
	}
	return status, err
}
