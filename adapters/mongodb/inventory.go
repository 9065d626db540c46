package mongodb

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/verify"
)

// Count recounts, for `router verify`, the documents of contract the route holds with
// event times in [since, until), by event hour. It reads only the envelope fields of
// the collections the route's target renders to for that range.
func (s *Sink) Count(ctx context.Context, route routing.Route, contract string, since, until time.Time) (map[string]verify.HourCount, error) {
	tmpl, err := s.template(route)
	if err != nil {
		return nil, err
	}
	tally := verify.NewTally(since, until)
	filter := bson.D{{Key: fieldMetadata + ".contract", Value: contract}}
	if rng := timeRange(since, until); len(rng) > 0 {
		filter = append(filter, bson.E{Key: fieldMetadata + ".time", Value: rng})
	}
	proj := options.Find().SetProjection(bson.D{{Key: fieldMetadata + ".id", Value: 1}, {Key: fieldMetadata + ".time", Value: 1}})
	for _, rendered := range tmpl.RenderRange(contract, route.Name, since, until) {
		name, err := collectionName(s.cfg.Database, rendered)
		if err != nil {
			return nil, err
		}
		cur, err := s.db.Collection(name).Find(ctx, filter, proj)
		if err != nil {
			return nil, fmt.Errorf("mongodb: counting %s: %w", name, err)
		}
		for cur.Next(ctx) {
			var doc struct {
				Meta struct {
					ID   string `bson:"id"`
					Time int64  `bson:"time"`
				} `bson:"_waybill"`
			}
			if err := cur.Decode(&doc); err != nil {
				cur.Close(ctx)
				return nil, fmt.Errorf("mongodb: counting %s: %w", name, err)
			}
			tally.Add(time.UnixMicro(doc.Meta.Time), doc.Meta.ID)
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("mongodb: counting %s: %w", name, err)
		}
	}
	return tally.Counts(), nil
}

// timeRange is the filter on _waybill.time (microseconds) for [since, until).
func timeRange(since, until time.Time) bson.D {
	var d bson.D
	if !since.IsZero() {
		d = append(d, bson.E{Key: "$gte", Value: since.UnixMicro()})
	}
	if !until.IsZero() {
		d = append(d, bson.E{Key: "$lt", Value: until.UnixMicro()})
	}
	return d
}

// Versions returns, for `router verify`, the version a latest-mode route stores for
// each key of contract.
func (s *Sink) Versions(ctx context.Context, route routing.Route, contract string, keys []string) (map[string]routing.Version, error) {
	tmpl, err := s.template(route)
	if err != nil {
		return nil, err
	}
	name, err := collectionName(s.cfg.Database, tmpl.Render(contract, route.Name, time.Time{}))
	if err != nil {
		return nil, err
	}
	out := map[string]routing.Version{}
	const chunk = 500 // keeps each $in small
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		cur, err := s.db.Collection(name).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: part}}}},
			options.Find().SetProjection(bson.D{{Key: fieldMetadata, Value: 1}}))
		if err != nil {
			return nil, fmt.Errorf("mongodb: reading keys of %s: %w", name, err)
		}
		for cur.Next(ctx) {
			var doc struct {
				Key  string `bson:"_id"`
				Meta struct {
					ID       string `bson:"id"`
					Contract string `bson:"contract"`
					Time     int64  `bson:"time"`
				} `bson:"_waybill"`
			}
			if err := cur.Decode(&doc); err != nil {
				cur.Close(ctx)
				return nil, fmt.Errorf("mongodb: reading keys of %s: %w", name, err)
			}
			if doc.Meta.Contract == contract {
				out[doc.Key] = routing.Version{ID: doc.Meta.ID, Time: time.UnixMicro(doc.Meta.Time).UTC()}
			}
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("mongodb: reading keys of %s: %w", name, err)
		}
	}
	return out, nil
}
