package elasticsearch

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/waybill-data/waybill/routing"
)

// Erase removes the document of an entity key from a latest-mode route's index
// (routing.Eraser): DELETE /{index}/_doc/{key}, with the configured refresh policy. A
// 404 (no such document, or no index yet) means it is already erased.
//
// The delete is not versioned: the router carries an erasure out in WAL order, after
// every event accepted before it, so no older write of this router can still be on
// its way. A cluster keeps the deleted version for index.gc_deletes (60s by default);
// an event accepted after the erasure whose version is not above the erased one is
// refused with 409 meanwhile, which the sink retries until the cluster forgets the
// deletion, and then stores: events after an erasure re-create the key, as any event
// would.
func (s *Sink) Erase(ctx context.Context, route routing.Route, contract, key string) error {
	s.life.RLock()
	defer s.life.RUnlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if route.Mode != routing.Latest {
		return routing.Permanent(fmt.Errorf("elasticsearch: route %s: only latest-mode routes keep one document per key to erase", route.Name))
	}
	tmpl, err := s.template(route)
	if err != nil {
		return routing.Permanent(err)
	}
	// A latest target does not use the event time (template refuses it), so any time renders it.
	index, err := IndexName(tmpl.Render(contract, route.Name, time.Time{}))
	if err != nil {
		return routing.Permanent(fmt.Errorf("elasticsearch: route %s: %w", route.Name, err))
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	req := esapi.DeleteRequest{Index: index, DocumentID: key}
	if r := s.cfg.refresh(); r != RefreshFalse {
		req.Refresh = r
	}
	res, err := req.Do(rctx, s.client)
	status, err := answer("delete", res, err, nil)
	if status == http.StatusNotFound {
		return nil
	}
	return err
}
