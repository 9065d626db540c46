package cassandra

import (
	"context"
	"errors"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/waybill-data/waybill/routing"
)

// Erase removes an entity key's row from a latest-mode route's table
// (routing.Eraser):
//
//	SELECT WRITETIME(_waybill_id) FROM t WHERE _waybill_key = ?
//	DELETE FROM t USING TIMESTAMP <that write time> WHERE _waybill_key = ?
//
// at the route's consistency. The tombstone's timestamp is the stored row's write time
// (the erased version's event time, in microseconds, see upsertLatest): it covers every
// cell of the row, and an event accepted after the erasure that is newer than the
// erased version re-creates the key. One that is not newer stays shadowed by the
// tombstone, as last-write-wins makes any older write: unlike MongoDB and
// Elasticsearch, Cassandra does not let a late older event re-create an erased key.
// A key with no row, or a table that does not exist, is already erased.
func (s *Sink) Erase(ctx context.Context, route routing.Route, contract, key string) error {
	s.life.RLock()
	defer s.life.RUnlock()
	if route.Mode != routing.Latest {
		return routing.Permanent(fmt.Errorf("cassandra: route %s: only latest-mode routes keep one row per key to erase", route.Name))
	}
	tmpl, err := s.template(route)
	if err != nil {
		return err
	}
	session, err := s.connect()
	if err != nil {
		return err
	}
	table := quote(s.cfg.Keyspace) + "." + quote(s.tableName(tmpl.Render(contract, route.Name, time.Time{})))
	cl := s.cfg.consistency(route.Class)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	var writeTime int64
	err = session.Query("SELECT WRITETIME("+quote(ColID)+") FROM "+table+" WHERE "+quote(ColKey)+" = ?", key).
		Consistency(readConsistency(cl)).Idempotent(true).ScanContext(ctx, &writeTime)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		return nil
	case err != nil && isMissingTable(err):
		return nil
	case err != nil:
		return &WriteError{Op: "reading the write time of a key in " + table, Err: err}
	}
	if err := session.Query("DELETE FROM "+table+" USING TIMESTAMP ? WHERE "+quote(ColKey)+" = ?", writeTime, key).
		Consistency(cl).Idempotent(true).ExecContext(ctx); err != nil {
		return &WriteError{Op: "deleting a key from " + table, Err: err}
	}
	return nil
}
