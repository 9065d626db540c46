// Package mongo runs a real MongoDB wire-protocol database for tests — FerretDB
// v1.24.2, embedded in the test process with its SQLite backend in a temporary
// directory — behind a small fault-injecting TCP proxy that is part of this package.
//
// FerretDB is not MongoDB, but it is not a test server of ours either: it is an
// independent implementation of the MongoDB wire protocol and query language, so
// whatever passes against it passes against real MongoDB semantics (the fidelity test
// checks it with Debian's pymongo). Known limits on this machine: no w:0 (unacknowledged)
// writes, transactions, change streams or TTL indexes; _id lookups scan, so tests keep
// collections small.
//
// # Fault injection (Proxy)
//
// Clients use Server.URI, the proxy's address. The proxy forwards bytes between each
// client connection and FerretDB, and can:
//
//   - Down: close its listening socket (new connections are refused) and reset every
//     open connection with a TCP RST; Up listens again on the same address.
//   - ResetConnections: reset every open connection, keep listening.
//   - SetDelay: hold every request for a duration before forwarding it (a slow server).
//   - FailNext: make the next write of given item ids fail per item. The proxy decodes
//     each OP_MSG request (wire protocol opcode 2013: flags, a body section and
//     document sequences); in an "insert" (items in "documents") or "update" (items in
//     "updates") command it removes the items whose _id — or _waybill.id, or for update
//     statements q._id or u.$set._waybill.id — is armed, forwards the rest to FerretDB,
//     and merges into FerretDB's reply one writeErrors element {index, code, errmsg}
//     per removed item, with every index (of FerretDB's own writeErrors and upserted
//     entries too) mapped back to the original command's numbering. That is exactly the
//     shape of a real server's per-item failure in an unordered write: the other items
//     are really written, the failed ones are not. When every item is removed the proxy
//     answers by itself ({n: 0, writeErrors: [...], ok: 1}). The failures offered are
//     PermanentFailure (code 2, BadValue, as for a rejected document) and
//     RetryableFailure (code 11600, InterruptedAtShutdown, as for the items an
//     unordered batch left unapplied when its server shut down). Other opcodes and
//     commands pass through untouched; a request with an OP_MSG checksum that is
//     rewritten loses its checksum (flag cleared).
package mongo
