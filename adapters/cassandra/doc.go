// Package cassandra is Waybill's Cassandra sink: a routing.Sink that stores each event
// as one row, with the official driver (github.com/apache/cassandra-gocql-driver/v2,
// native protocol v4). It owns the table layout below, the mapping of Avro values to
// CQL types, the DDL create_tables runs, and the classification of Cassandra's errors.
// Readers need nothing of it but this documentation (docs/STORE_TYPES.md, section
// cassandra, has the type table too).
//
// # Tables
//
// A route's target template (package routing/target) is rendered per event from its
// contract, the route name and its event time, and made a CQL name by TableName:
// lower case, characters outside [a-z0-9_] replaced by '_', "t_" in front unless it
// starts with a letter, names over 48 characters cut and suffixed with a hash. So
// "wb_{contract}" gives "wb_checkout_order_placed". Every table lives in
// Config.Keyspace, which the operator creates (replication is theirs to choose). A
// latest route's template must not use a time placeholder (one row per key needs one
// table): its batches fail permanently, naming the placeholder.
//
// Append tables hold one row per event:
//
//	_waybill_partition   text    partition key: the entity key, or the event id for events without one
//	_waybill_day         date    partition key: the event time's UTC date
//	_waybill_time_us     bigint  clustering: event time, microseconds since 1970
//	_waybill_id          text    clustering: event id
//	_waybill_key         text    entity key ("" without one)
//	_waybill_contract    text    contract (subject)
//	_waybill_received_us bigint  when the router accepted the event, µs since 1970
//	_waybill_schema_id   int     registry id of the schema the row's fields follow
//	<field> ...                  the contract's record, one column per field
//	PRIMARY KEY ((_waybill_partition, _waybill_day), _waybill_time_us, _waybill_id)
//
// A key's events of one day form one partition, in event-time order: a key's timeline
// is read per day, and no partition grows without bound. The event id is in the
// primary key, so writing an event again (re-delivery after a crash) overwrites the
// same row with the same values.
//
// Latest tables hold one row per entity key, the newest event by (event time, event
// id):
//
//	_waybill_key         text    partition key: entity key
//	_waybill_id, _waybill_contract, _waybill_time_us, _waybill_received_us,
//	_waybill_schema_id, <field> ...   as above
//	PRIMARY KEY ((_waybill_key))
//
// Record fields whose names start with "_waybill_" cannot be stored (permanent, per
// event). Column names are the field names, quoted, so their case is kept. A row's
// fields follow the schema its _waybill_schema_id names; in latest tables a column a
// later schema version added may hold a value left by an older row version, so read a
// row through its own schema.
//
// # Types
//
//	Avro                        CQL                       Go value sent (gocql)
//	null                        (no column type)          a null-only field is refused
//	boolean                     boolean                   bool
//	int, long                   int, bigint               int32, int64
//	float, double               float, double             float32, float64 (NaN, ±Inf kept)
//	string                      text                      string
//	bytes, fixed                blob                      []byte
//	enum                        text                      the symbol
//	array                       frozen<list<T>>           []any
//	map                         frozen<map<text, T>>      map[string]any
//	record                      frozen<user type>         map[string]any by field name
//	union [null, T]             T, null for null          T's value
//	union of 2+ types           frozen<user type>, a      map[string]any with the taken branch
//	                            field per branch
//	decimal (bytes or fixed)    decimal                   *inf.Dec, same unscaled value and scale
//	timestamp-millis            timestamp                 int64 milliseconds
//	timestamp-micros, -nanos    bigint                    int64 micro / nanoseconds since 1970
//	local-timestamp-millis      timestamp                 the wall clock read as UTC, milliseconds
//	local-timestamp-micros      bigint                    the wall clock read as UTC, microseconds
//	date                        date                      days since 1970 (every int32)
//	time-millis, time-micros    time                      nanoseconds since midnight; outside
//	                                                      [00:00, 24:00) the event fails permanently
//	uuid                        uuid                      read back in lower case
//
// Collections are frozen: one cell, so an empty list or map reads back empty (not
// null) and a re-delivery replaces it whole. Cassandra collections cannot hold null,
// so a [null, T] union as a list element or map value is stored like a union of
// several types: a user type with one field, unset for null. A union's user type has
// one field per non-null branch, named as Avro's JSON encoding names the branch
// ("long", "string", "array", "map", a named type's full name such as
// "sinktest.Inner"), and exactly the taken branch set; it is named by ChoiceTypeName.
// A record's user type is named by UDTName ("<table>__<record full name>"); user types
// are per table. avrovalue does not say which branch of a union a value took, so
// branches that decode alike (a string and an enum, bytes and a fixed, two enums with
// a common symbol, two fixed of one size) resolve to the first branch the value fits
// and read back as that value. A union with two branches of one unnamed type (which
// Avro forbids) cannot be stored: its events fail permanently. CQL timestamp counts milliseconds, so finer timestamps are bigint: exact and
// ordered like the times. A recursive record has no CQL type: its events fail
// permanently.
//
// # create_tables
//
// With Config.CreateTables, the first event of each (table, schema, mode) runs
// CREATE TYPE IF NOT EXISTS for the user types (dependency order) and CREATE TABLE IF
// NOT EXISTS, then reads system_schema.columns and system_schema.types and adds, with
// ALTER TABLE ... ADD and ALTER TYPE ... ADD, the columns and fields a new schema
// version brings. A column or field that exists with another type (after ignoring
// frozen<>), or a primary key of the other mode, is a *ConflictError: that schema's
// events fail permanently, naming the columns. The schema is the one the batch
// resolves an event's schema id to, which the router may derive per route from the
// contract's PII handling (a dropped field is written as no value, a hashed one as
// text). A failed DDL request is a *SchemaError, retryable. Without create_tables
// nothing is checked: the tables must exist with the layout above.
//
// # Writes
//
// Every statement is prepared (the driver prepares each INSERT once per connection
// and sends EXECUTE, or a BATCH of prepared ids). Consistency is per path class:
// analytic routes write at LOCAL_QUORUM, runtime routes at ONE, each configurable
// (Config.Consistency); ANY is refused, since a write only hinted on the coordinator
// is not confirmed. The driver does not retry (the router does, with backoff, for
// exactly the failed events); requests are token-aware and, with LocalDC, DC-aware.
//
// Append: rows are grouped by table and partition in WAL order, and each group is
// written as one unlogged batch of at most MaxBatchStatements rows and MaxBatchBytes
// (one partition needs no batch log: its replicas apply the batch atomically), a
// single row as one INSERT; up to Concurrency requests are in flight. Events are
// grouped from their envelopes alone; each writer decodes its own rows' data just
// before sending them, so decoding overlaps the requests in flight.
//
// Latest: per key, only the batch's newest event is written (the others are
// superseded by it and count as delivered). Its INSERT carries USING TIMESTAMP = the
// event time in microseconds, so Cassandra keeps a newer event against any older
// write, concurrent or replayed, cell by cell. Cassandra resolves equal timestamps
// cell by cell too (the greater value wins), which would mix two events of the same
// microsecond, so the key's stored (_waybill_time_us, _waybill_id, WRITETIME) is read
// first, at the route's consistency: an event not newer than the stored one is
// skipped; one that wins on its id at an equal time (or follows such a write) is
// written one microsecond above the stored write time. Two sinks racing on one key
// within the same microsecond of event time can still interleave cells; the router
// writes each key from one route loop at a time. If a key's newest event fails
// permanently, its next newest is written instead.
//
// # Errors
//
// Write returns nil; one error for the whole batch when it cannot be written at all
// (a route whose mode or target is invalid: permanent; no session can be opened, or
// the sink is closed: retryable); or a *routing.BatchError with one entry per failed
// event. Per event: *EncodeError (a datum that does not decode, a value without a CQL representation,
// a conflicting table — permanent); *WriteError wrapping the driver's error for its
// request, classified by Retryable: Unavailable, WriteTimeout, ReadTimeout,
// Overloaded, IsBootstrapping, Read/WriteFailure, server errors, timeouts, refused
// or reset connections, an empty pool and expired contexts are retryable; Invalid,
// SyntaxError, ConfigError, FunctionFailure and values the driver cannot marshal are
// permanent, except Invalid for a missing keyspace or table, which an operator fixes
// (retryable, like Unauthorized and bad credentials). A batch that fails permanently
// is written again row by row, so only the rows at fault fail permanently; a
// retryable failure of a batch fails all its rows, retryably. *SchemaError
// (create_tables) is retryable.
//
// # Recount
//
// The sink is a verify.Inventory for `router verify`: Count reads the envelope
// columns of every row of the route's tables for the time range (a full scan, page by
// page: the tables are partitioned by key, not by time) and tallies them by event
// hour; Versions reads latest rows by key, 100 keys per IN relation. Both read at the
// route's consistency, with the sink's session; a table that does not exist holds
// nothing.
//
// # Configuration
//
// Config has yaml tags; Validate is pure and reports every problem with its path;
// String, GoString and LogValue never show the password.
//
// # TLS
//
// A tls section (package adapters/tlsopt) turns client-to-node encryption on, through
// the driver's SslOptions: the nodes' certificates are verified against ca_file (else
// the system's roots) for each host dialled or server_name, with a client certificate
// (cert_file, key_file) when the cluster requires one (require_client_auth). Files are
// read when the sink is created; an error names the file, never a key.
//
// # Erasure
//
// The sink is a routing.Eraser for latest routes: Erase reads the key's row write time
// and deletes the partition USING TIMESTAMP that write time, so the tombstone covers
// the erased version and anything older; see Erase for what that means for events
// accepted after an erasure.
package cassandra
