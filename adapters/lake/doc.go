// Package lake is Waybill's local-filesystem lake: a routing.Sink that stores events
// as Avro object container files under a root directory, exactly once across crashes.
//
// # Layout
//
// A route's target template (package routing/target, e.g.
// "{contract}/dt={date}/hr={hour}") is rendered per event from its contract, the route
// name and its event time (UTC). Under Path/<rendered target>/ every file holds the
// events of one schema id and is named after the WAL sequence range it holds:
//
//	part-{firstSeq:020d}-{lastSeq:020d}-s{schemaID}.avro
//	part-{firstSeq:020d}-{lastSeq:020d}-s{schemaID}.avro.manifest.json
//
// for example checkout.order_placed/dt=2024-03-01/hr=09/part-00000000000000000001-00000000000000000010-s7.avro.
// Zero padding makes names sort in sequence order. Names starting with '.' are not
// data: ".waybill-lake.lock" in the root (an flock held while a Sink is open, so one
// process at a time owns the lake) and ".tmp-*" temporary files.
//
// # Files
//
// Each file is an Avro object container file (magic "Obj\x01"; metadata avro.schema,
// avro.codec — "deflate", raw RFC 1951 blocks, by default, or "null" — plus
// waybill.contracts (JSON array), waybill.route and waybill.schema_id; a random 16-byte
// sync marker; blocks of up to about 1 MiB of records). Its single writer schema is the
// record waybill.Event:
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
// Event.Data verbatim: nothing is decoded and re-encoded. Each event's data is checked
// to be exactly one well-formed datum of its schema first (walking the bytes, without
// building values), so a corrupt event is dead-lettered on its own (a permanent
// per-item error) instead of making a file unreadable. String contents are not
// checked for UTF-8, as the router accepted them.
//
// The manifest is JSON: file, count, first_seq, last_seq, min_time and max_time (event
// times, RFC 3339 UTC), schema_id, contract (or "" and contracts when a target without
// {contract} mixes contracts that share a schema id), route, codec, bytes and sha256 of
// the data file. Scan lists committed files with their manifests and ReadFile decodes a
// file (records through hamba's decoder).
//
// # Commit protocol
//
// A batch's events are grouped by (rendered target directory, schema id); each group,
// in sequence order, becomes one file:
//
//  1. create missing directories, fsyncing each parent that got a new entry;
//  2. write the file to ".tmp-<final name>.<random>" in the target directory, fsync;
//  3. rename it to the final name with renameat2(RENAME_NOREPLACE), or where the file
//     system answers EINVAL/ENOSYS/EOPNOTSUPP, link(2) then unlink(2) — both fail
//     instead of replacing an existing name (New checks at startup that one works);
//  4. fsync the directory;
//  5. write the manifest the same way (temporary name, fsync, rename, directory fsync).
//
// A final name therefore only ever names a complete, synced file. If the final name
// already exists, nothing is overwritten: the temporary file is removed and the events
// count as committed. With names derived from sequence ranges and one process per lake
// that is the same file committed before a crash; if the existing file turns out to be
// unreadable or to hold other events, this is logged at error level, still without
// touching it (the lake was changed behind Waybill's back and an operator must look).
//
// # Exactly once across crashes
//
// After a crash the router re-sends from its durable cursor, possibly with different
// batch boundaries, so the same events may come back as a different range ([1..10]
// committed, then [5..15] re-sent). A range-named file cannot detect that by name. The
// sink keeps instead, per stream — one (target directory, schema id) — a high-water
// mark: the largest lastSeq among the stream's file names, read from the directory on
// first use and then tracked in memory. Events with Seq at or below it are
// acknowledged without writing; the others go into the new file (here [11..15]).
//
// This is correct because a stream's files are committed in sequence order and each
// commit covers everything below its range: the router delivers a route's events in WAL
// order, one Write at a time per route, and re-delivers only from its cursor; a
// group's events are committed together as one file or not at all, and the stream is
// locked from reading the mark to committing. So when a file up to lastSeq L exists,
// every event of that stream with a sequence number up to L that the route delivered
// is in some file of the stream, or was rejected as permanently failed (and
// dead-lettered) — there is no gap to fill, and skipping is exact. Streams are
// independent: in one batch one group may commit while another fails, and each stream's
// mark only moves with its own files. The marks rest on three assumptions, checked
// where possible: one process per lake (the lock file), one route per target directory
// (a second route writing a stream this process holds in memory gets a permanent
// error; give routes distinct templates), and sequence numbers never re-used for other events — a
// dead-letter replay must append the event to the WAL again, under a new sequence
// number, or the lake would take it for already committed. Sequence numbers start at 1
// (0 is rejected); if a WAL were ever started afresh, the lake needs a new Path.
//
// # Recovery
//
// New removes every ".tmp-*" file (a write or manifest interrupted by a crash) and
// regenerates missing manifests by reading their data files (a crash between a
// commit and its manifest). The first write to a stream rescans its directory the same
// way. After any failure a stream's cached state is dropped and rebuilt from the
// directory (so is an idle stream's when more than 4096 are in memory, as time-based
// targets keep adding directories), and a rename whose directory fsync failed is synced
// before anything more is acknowledged. Recovery is best effort: what it cannot do is
// logged and retried by the first write to the stream concerned.
//
// # Errors
//
// File system failures are *IOError with a Kind: disk full (ENOSPC, EDQUOT), I/O
// (EIO), permission (EACCES, EPERM), read-only (EROFS) are retryable — an operator can
// fix them, and marking them permanent would dead-letter every event meanwhile; a
// rendered path too long (ENAMETOOLONG) is permanent. A schema id the resolver cannot
// resolve (unless its error says it is retryable) and corrupt event data are permanent
// for those events, through *routing.BatchError; an invalid target template is a
// permanent error for the whole batch.
package lake
