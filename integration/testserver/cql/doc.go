// Package cql is a protocol-level TEST server, not Cassandra. It speaks the CQL
// native protocol v4 (frames and messages encoded with
// github.com/datastax/go-cassandra-native-protocol) with its own accept loop: one
// goroutine per connection, every request handled concurrently and answered on its
// stream id. It exists so the Cassandra adapter and its conformance run can be tested
// without a JVM, and it is checked against an independent client (Debian's
// python3-cassandra driver) by this package's fidelity test.
//
// What it serves:
//   - OPTIONS/SUPPORTED, STARTUP/READY (no compression), optional PasswordAuthenticator
//     login (Options.Username/Password), REGISTER (no events are ever pushed).
//   - QUERY, PREPARE/EXECUTE (Unprepared for unknown ids, and for statements on a
//     table altered or dropped since, as Cassandra drops them), BATCH of prepared and
//     simple INSERTs (logged or unlogged: applied all-or-nothing after validating
//     every statement).
//   - The system tables drivers read: system.local (one node, Murmur3 token "0",
//     release 3.11.17, so there is no system.peers_v2: querying it is Invalid
//     "unconfigured table peers_v2" as on Cassandra 3.11), an empty system.peers, and
//     system_schema keyspaces/tables/columns/types computed from the catalog
//     (functions, aggregates, triggers, indexes, views, dropped_columns are empty).
//   - A small in-memory CQL engine: CREATE KEYSPACE/TYPE/TABLE [IF NOT EXISTS] (the
//     replication and table options are accepted and ignored), ALTER TABLE/TYPE ADD,
//     DROP KEYSPACE/TABLE/TYPE [IF EXISTS], TRUNCATE, USE, INSERT [IF NOT EXISTS]
//     [USING TIMESTAMP], DELETE FROM of whole partitions [USING TIMESTAMP] (a partition
//     tombstone that shadows writes at or below its timestamp, also later ones),
//     SELECT (*, columns, WRITETIME(c), COUNT(*)) with = and IN
//     relations, LIMIT and ALLOW FILTERING, paging by offset. Types: every native CQL
//     type, list/set/map, tuple and frozen UDTs. Bound values are validated against the
//     column type; literals are parsed for the common types.
//   - Per-cell write timestamps with Cassandra's reconciliation: the higher timestamp
//     wins; on a tie a tombstone (null) wins, then the greater value bytewise. A row
//     exists while its INSERT row marker or any cell is live.
//
// What it simplifies: collections are single cells (no per-element merge, like frozen
// collections), there is no UPDATE, no DELETE of single rows or columns, tombstones are
// never purged (no gc_grace_seconds), no TTL expiry, rows are
// returned ordered by partition key bytes (not by token), and there is one node.
//
// Faults, for tests: Down/Up (close the listener and every connection; listen again on
// the same address), SetDelay (answer user requests late), FailNext(n, fault),
// FailMatching(needle, fault) and FailMatchingN(needle, fault, n) (answer with
// Unavailable, WriteTimeout, ReadTimeout, Overloaded or Invalid, or reset the
// connection, for the next n user requests, or for the next one — n, or every one
// until ClearFaults — whose statement or bound values contain needle). Requests and
// Consistencies record what clients sent (operation, statement, consistency, batch
// type and size, whether prepared). The drivers' own queries on system keyspaces are
// never failed or delayed.
package cql
