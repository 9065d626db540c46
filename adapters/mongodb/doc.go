// Package mongodb is Waybill's MongoDB sink: a routing.Sink that stores each event as
// one document, with the official driver (go.mongodb.org/mongo-driver/v2). It owns the
// document format below, its inverse for readers (DecodeDocument), and the
// classification of MongoDB's errors.
//
// # Collections
//
// A route's target template (package routing/target) is rendered per event from its
// contract, the route name and its event time; '/' becomes '.', so "wb_{contract}"
// gives "wb_checkout.order_placed" and "{contract}/{yyyy.MM}" gives
// "checkout.order_placed.2024.03". Rendered names hold only [A-Za-z0-9._=-]; a name
// starting with "system." or whose namespace "<database>.<collection>" exceeds 255
// bytes fails its events permanently. A latest route's template must not use a time
// placeholder (one document per key needs one collection): its batches fail
// permanently, naming the placeholder.
//
// # Documents
//
//	{
//	  _id:      <event id> (append) | <entity key> (latest)      string
//	  <field>:  <value>, ...                                     the contract's record, fields in schema order
//	  _waybill: {
//	    id:        event id                                      string
//	    key:       entity key ("" without one)                   string
//	    contract:  contract (subject)                            string
//	    schema_id: registry id of the event's schema             int32
//	    time:      event time, microseconds since the epoch      int64
//	    received:  when the router accepted it, µs since epoch   int64
//	    date:      event time as a BSON date (milliseconds)      date, for date queries and TTL indexes
//	  }
//	}
//
// The record's fields are top-level fields; a contract whose record has a field named
// "_id" or "_waybill" cannot be stored (permanent, per event). Values map as follows
// (docs/STORE_TYPES.md, section mongodb, has the same table):
//
//	null                       null
//	boolean                    boolean
//	int / long                 int32 / int64
//	float / double             double (a float widens exactly)
//	string, uuid               string
//	bytes, fixed               binary, subtype 0
//	enum                       string, the symbol
//	array                      array
//	map                        embedded document; in keys '%', '.', '$' and NUL are
//	                           escaped as %25, %2E, %24, %00 (EscapeKey)
//	record                     embedded document, fields in schema order
//	union                      the value of the branch taken, as that branch's type
//	decimal                    Decimal128 with the same digits and exponent (1.50 stays
//	                           1.50) when the type's precision is at most 34; exact
//	                           text ("-12.30") when it is larger or Config.Decimal is
//	                           "string" (for servers without Decimal128, as FerretDB v1)
//	timestamp-millis           date
//	timestamp-micros           int64 microseconds since the epoch
//	timestamp-nanos            int64 nanoseconds since the epoch
//	local-timestamp-millis     date (the wall clock read as UTC)
//	local-timestamp-micros     int64 microseconds (the wall clock read as UTC)
//	date                       date, midnight UTC
//	time-millis / time-micros  int32 milliseconds / int64 microseconds since midnight
//
// A BSON date counts milliseconds, so finer timestamps are stored as integers: exact,
// ordered like the times, and turned into dates by {$toDate: {$divide: ["$f", 1000]}}.
// A second date field beside each would double them and could collide with the
// record's own names. Unions are stored unwrapped; a reader resolves the branch from
// the stored type, trying branches in order (DecodeDocument does), so branches that
// store alike — ["float", "double"], ["string", an enum], two timestamps — read back as
// the first that fits the stored value.
//
// # Append mode
//
// Each collection's events go in one unordered InsertMany, _id = event id. A duplicate
// key error (11000) on an event is the same event stored by an earlier delivery and
// counts as delivered, so re-delivery after a crash never duplicates.
//
// # Latest mode
//
// One document per key, _id = key, that never regresses: versions are ordered by
// event time (to the microsecond) and then event id. Per key only the newest event of
// a batch is written (the others are superseded by it), as a conditional upsert in an
// unordered BulkWrite:
//
//	replaceOne({_id: key, $or: [{"_waybill.time": {$lt: t}},
//	                            {"_waybill.time": t, "_waybill.id": {$lt: id}}]},
//	           document, {upsert: true})
//
// A stored older version matches and is replaced. Otherwise the upsert tries to
// insert and the unique _id refuses it with a duplicate key: a document at least as
// new exists — or one was inserted concurrently between the match and the insert,
// possibly older than ours. The first duplicate key is therefore retried once; by
// then the document exists and only moves forward, so a second duplicate key proves
// it is at least as new, and the event counts as delivered. When a key's newest event
// fails permanently, its next newest is written instead.
//
// Before writing, the sink reads the stored versions of the batch's keys (one find by
// _id per 500 keys) and drops the keys whose stored version is at least as new as the
// batch's newest: those events count as delivered without a write. The conditional
// upsert still decides for the rest, so a writer racing between the read and the write
// changes nothing. A bulk carries at most latest_bulk_writes upserts (default 1000;
// keep it small, e.g. 32, on FerretDB, which applies them one by one).
//
// Every bulk reply must account for each of its writes (matched, upserted or a write
// error). One that does not — FerretDB v1 stops an unordered bulk of upserts at its
// first error, reports that error at index 0 and leaves the rest undone — makes the
// sink write the remaining keys one per request, where the error's index cannot be
// wrong. Found by `router verify` in the demo; MongoDB's replies always add up.
//
// # Errors
//
// Write returns nil, one error for the whole batch (every event failed alike: a
// network error, server selection timeout, context deadline — retryable), or a
// *routing.BatchError with one entry per failed event, from the write errors' indexes.
// Per event: EncodeError (data that does not decode, a reserved field name, a document
// over 16 MiB, an invalid collection name — permanent); ServerError with the server's
// code — permanent for codes about the document (2 BadValue, 9, 14, 22, 52, 53, 55, 56,
// 57, 66, 73, 121 DocumentValidationFailure, 10334, 17280, 17419), retryable for every
// other code (6, 7, 24, 46, 50, 63, 64, 79, 89, 91, 100, 112, 133, 150, 189, 262, 9001,
// 10107, 11600, 11601, 11602, 13388, 13435, 13436 and codes not listed) and whenever
// the RetryableWriteError label is present. A write concern error makes every event of
// its write retryable (applied but unconfirmed; writing again is idempotent).
//
// # Erasure
//
// The sink is a routing.Eraser for latest routes: Erase deletes the key's document
// (deleteOne({_id: key})) with the route class's write concern; a missing document is
// already erased. MongoDB keeps no tombstone, so any event written after the erasure,
// older or newer, re-creates the document.
//
// # TLS
//
// TLS is configured either in the URI (tls=true&tlsCAFile=...&tlsCertificateKeyFile=...)
// or in a tls section (package adapters/tlsopt: ca_file, cert_file and key_file for
// x.509 authentication, server_name, insecure_skip_verify for tests), not both.
//
// # Write concern
//
// Analytic routes write with {w: "majority", j: true}, runtime routes with {w: 1},
// each overridable in Config.WriteConcern; w: 0 is refused, since an unacknowledged
// write cannot be confirmed.
package mongodb
