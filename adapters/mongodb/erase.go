package mongodb

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/waybill-data/waybill/routing"
)

// Erase removes the document of an entity key from a latest-mode route's collection
// (routing.Eraser): deleteOne({_id: key}) with the route class's write concern. A key
// that is not stored is already erased.
func (s *Sink) Erase(ctx context.Context, route routing.Route, contract, key string) error {
	if route.Mode != routing.Latest {
		return routing.Permanent(fmt.Errorf("mongodb: route %s: only latest-mode routes keep one document per key to erase", route.Name))
	}
	tmpl, err := s.template(route)
	if err != nil {
		return err
	}
	// A latest target does not use the event time (checkMode), so any time renders it.
	name, err := collectionName(s.cfg.Database, tmpl.Render(contract, route.Name, time.Time{}))
	if err != nil {
		return routing.Permanent(fmt.Errorf("mongodb: route %s: %w", route.Name, err))
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.writeTimeout())
	defer cancel()
	if _, err := s.collection(name, route.Class).DeleteOne(ctx, bson.D{{Key: "_id", Value: key}}); err != nil {
		return classify(err) // write errors and write concern errors: retryable
	}
	return nil
}
