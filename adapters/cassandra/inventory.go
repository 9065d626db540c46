package cassandra

import (
	"context"
	"errors"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
	"github.com/waybill-data/waybill/routing/verify"
)

// versionsChunk bounds the keys of one IN relation (Cassandra coordinates an IN on
// the partition key as one read per key).
const versionsChunk = 100

// Count recounts, for `router verify`, the rows of contract the route holds with
// event times in [since, until), by event hour. It reads the envelope columns of
// every row of the tables the route's target renders to for that range, page by
// page, at the route's consistency: the tables are partitioned by key, not by time,
// so a recount is a full scan of them. A table that does not exist holds nothing.
func (s *Sink) Count(ctx context.Context, route routing.Route, contract string, since, until time.Time) (map[string]verify.HourCount, error) {
	tmpl, session, err := s.reader(route)
	if err != nil {
		return nil, err
	}
	tally := verify.NewTally(since, until)
	for _, rendered := range tmpl.RenderRange(contract, route.Name, since, until) {
		table := TableName(rendered)
		q := fmt.Sprintf("SELECT %s, %s, %s FROM %s.%s", quote(ColContract), quote(ColID), quote(ColTimeUS), quote(s.cfg.Keyspace), quote(table))
		iter := session.Query(q).Consistency(readConsistency(s.cfg.consistency(route.Class))).PageSize(5000).IterContext(ctx)
		var c, id string
		var at int64
		for iter.Scan(&c, &id, &at) {
			if c == contract {
				tally.Add(time.UnixMicro(at), id)
			}
		}
		if err := iter.Close(); err != nil && !isMissingTable(err) {
			return nil, &WriteError{Op: "counting " + s.cfg.Keyspace + "." + table, Err: err}
		}
	}
	return tally.Counts(), nil
}

// Versions returns, for `router verify`, the version a latest-mode route stores for
// each key of contract, read by key (IN on the partition key, 100 keys a request).
func (s *Sink) Versions(ctx context.Context, route routing.Route, contract string, keys []string) (map[string]routing.Version, error) {
	tmpl, session, err := s.reader(route)
	if err != nil {
		return nil, err
	}
	table := TableName(tmpl.Render(contract, route.Name, time.Time{}))
	q := fmt.Sprintf("SELECT %s, %s, %s, %s FROM %s.%s WHERE %s IN ?", quote(ColKey), quote(ColContract), quote(ColID), quote(ColTimeUS),
		quote(s.cfg.Keyspace), quote(table), quote(ColKey))
	out := map[string]routing.Version{}
	for start := 0; start < len(keys); start += versionsChunk {
		part := keys[start:min(start+versionsChunk, len(keys))]
		iter := session.Query(q, part).Consistency(readConsistency(s.cfg.consistency(route.Class))).IterContext(ctx)
		var key, c, id string
		var at int64
		for iter.Scan(&key, &c, &id, &at) {
			if c == contract {
				out[key] = routing.Version{ID: id, Time: time.UnixMicro(at).UTC()}
			}
		}
		if err := iter.Close(); err != nil {
			if isMissingTable(err) {
				return out, nil
			}
			return nil, &WriteError{Op: "reading keys of " + s.cfg.Keyspace + "." + table, Err: err}
		}
	}
	return out, nil
}

// reader is what a recount needs: the route's template and the session.
func (s *Sink) reader(route routing.Route) (*target.Template, *gocql.Session, error) {
	tmpl, err := s.template(route)
	if err != nil {
		return nil, nil, err
	}
	session, err := s.connect()
	return tmpl, session, err
}

// isMissingTable reports whether err is Cassandra's answer for a table (or keyspace)
// that does not exist.
func isMissingTable(err error) bool {
	var re gocql.RequestError
	return errors.As(err, &re) && re.Code() == gocql.ErrCodeInvalid && missingSchema(re.Message())
}

var _ verify.Inventory = (*Sink)(nil)
