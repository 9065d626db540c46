// Package avrofile is the store-independent part of Waybill's file sinks (the local
// lake, WebHDFS): the files they write, how a batch becomes files, and the high-water
// marks that make re-delivery after a crash write nothing twice. Each sink adds its
// own commit protocol (package lake: local files and renameat2; package webhdfs:
// CREATE and RENAME over WebHDFS).
//
// # Names
//
// A route's target template (package routing/target, e.g.
// "{contract}/dt={date}/hr={hour}") is rendered per event from its contract, the route
// name and its event time (UTC). In the rendered target directory every data file holds
// the events of one schema id and is named after the WAL sequence range it holds:
//
//	part-{firstSeq:020d}-{lastSeq:020d}-s{schemaID}.avro
//	part-{firstSeq:020d}-{lastSeq:020d}-s{schemaID}.avro.manifest.json
//
// for example checkout.order_placed/dt=2024-03-01/hr=09/part-00000000000000000001-00000000000000000010-s7.avro.
// Zero padding makes names sort in sequence order. Names starting with '.' are not
// data; temporary files are ".tmp-<final name>.<16 random hex digits>" (TempName),
// where the final name is a data file's or its manifest's, so a sink can tell its own
// leftovers of a stream (TempTarget).
//
// # Files
//
// Each data file is an Avro object container file (magic "Obj\x01"; metadata
// avro.schema, avro.codec — "deflate", raw RFC 1951 blocks compressed at compress/flate's
// BestSpeed level, or "null" — plus
// waybill.contracts (JSON array), waybill.route and waybill.schema_id; a random 16-byte
// sync marker; blocks of up to about 1 MiB of records). Its single writer schema is
// the record waybill.Event:
//
//	seq       long                      WAL sequence number
//	id        string                    event id
//	key       string                    entity key ("" when the contract has none)
//	time      long (timestamp-micros)   event time
//	received  long (timestamp-micros)   when the router accepted the event
//	schema_id int                       registry id of data's schema
//	data      <the contract's schema>   the event, as registered under schema_id
//
// The contract's schema is embedded in hamba's full JSON form (logical types, defaults
// and custom properties kept). Named types of a contract without a namespace take the
// wrapper's namespace "waybill" once embedded; should one be called Event, the wrapper
// is named Event1 (Event2...) instead. Because a record's binary encoding is the
// concatenation of its fields, a record is the encoded envelope fields followed by
// Event.Data verbatim: nothing is decoded and re-encoded (Encode). Each event's data
// is checked to be exactly one well-formed datum of its schema first (CheckDatum,
// walking the bytes without building values), so a corrupt event is dead-lettered on
// its own (a permanent per-item error) instead of making a file unreadable. String
// contents are not checked for UTF-8, as the router accepted them.
//
// The manifest is JSON: file, count, first_seq, last_seq, min_time and max_time (event
// times, RFC 3339 UTC), schema_id, contract (or "" and contracts when a target without
// {contract} mixes contracts that share a schema id), route, codec, bytes and sha256 of
// the data file. Decode reads a file's records through hamba's decoder; Summarize
// rebuilds a file's manifest with this package's own reader (checking every record
// against the wrapper schema), which is how sinks regenerate a manifest lost in a
// crash and check that a file already at a final name holds the events they meant to
// commit (Summary.Holds).
//
// # Batches into files
//
// Planner.Plan groups a batch's events by stream — one (rendered target directory,
// schema id) — and each group, in sequence order, becomes one file. A target template
// that does not parse, a latest-mode route or a batch without schema resolver fails
// the whole batch permanently; an unresolvable schema id fails its events (permanently
// unless the resolver says the failure is retryable).
//
// # Exactly once across crashes
//
// After a crash the router re-sends from its durable cursor, possibly with different
// batch boundaries, so the same events may come back as a different range ([1..10]
// committed, then [5..15] re-sent). A range-named file cannot detect that by name. A
// sink keeps instead, per stream, a high-water mark: the largest lastSeq among the
// stream's file names, read from the directory on first use and then tracked in
// memory (Streams, StreamState). Planner.Select acknowledges events at or below it
// without writing; the others go into the new file (here [11..15]).
//
// This is correct because a stream's files are committed in sequence order and each
// commit covers everything below its range: the router delivers a route's events in WAL
// order, one Write at a time per route, and re-delivers only from its cursor; a
// group's events are committed together as one file or not at all, and the stream is
// locked from reading the mark to committing. So when a file up to lastSeq L exists,
// every event of that stream with a sequence number up to L that the route delivered
// is in some file of the stream, or was rejected as permanently failed (and
// dead-lettered before the router sent anything after it) — there is no gap to fill,
// and skipping is exact. An event rejected for its own data is checked again when it
// comes back, whatever the mark, so it is reported again rather than taken for
// committed. Streams are independent: in one batch one group may commit while another
// fails, and each stream's mark only moves with its own files.
//
// The marks rest on three assumptions, which each sink checks where it can: one
// process writes a sink's root at a time; one route per target directory (a second
// route writing a stream this process holds in memory gets a permanent error,
// StreamState.Claim; give routes distinct templates); and sequence numbers are never
// re-used for other events — a dead-letter replay must append the event to the WAL
// again, under a new sequence number, or the sink would take it for already committed.
// Sequence numbers start at 1 (0 is rejected); if a WAL were ever started afresh, the
// sink needs a new root.
package avrofile
