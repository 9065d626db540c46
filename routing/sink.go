package routing

import (
	"context"
	"time"

	"github.com/hamba/avro/v2"
)

// Event is one accepted event as the router delivers it.
type Event struct {
	Seq      uint64    // WAL sequence number: unique, increasing in acceptance order
	ID       string    // idempotency key (event id)
	Contract string    // subject of the contract
	SchemaID int       // registry id of the schema Data is encoded with
	Key      string    // entity key ("" when the contract has no key field)
	Time     time.Time // event time
	Received time.Time // when the router accepted it
	Data     []byte    // Avro binary encoding of the contract's record under SchemaID
}

// Class is a route's path class.
type Class string

const (
	Analytic Class = "analytic" // consistent: retry forever, never skip
	Runtime  Class = "runtime"  // available: retry until max_lag, then dead-letter
)

// Mode is how a route writes.
type Mode string

const (
	Append Mode = "append" // every event once, idempotent by event id
	Latest Mode = "latest" // one record per key that never regresses
)

// Route is what a sink needs to know about the route a batch belongs to.
type Route struct {
	Name   string
	Class  Class
	Mode   Mode
	Target string // target template, e.g. "{contract}/dt={date}/hr={hour}"
}

// Schemas resolves registry schema ids to parsed Avro schemas for decoding Event.Data.
type Schemas interface {
	Avro(id int) (avro.Schema, error)
}

// Batch is a run of events of one route, in WAL order, for one Write.
type Batch struct {
	Route   Route
	Events  []Event
	Schemas Schemas
}

// Sink writes batches to a store. It is defined here, where it is used; adapters
// implement it. Write returns nil only when every event of the batch is durably
// stored (or was already: re-delivery after a crash must not duplicate). Otherwise it
// returns an error that classifies itself: a *BatchError for per-item outcomes, or an
// error for the whole batch, retryable unless marked Permanent.
type Sink interface {
	Write(ctx context.Context, b *Batch) error
	Close() error
}
