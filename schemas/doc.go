// Package schemas owns Waybill's governed event contracts: the data model shared by the
// registry (writer) and the routers (readers), Avro parsing and canonical form, field
// classification, contract (governance) validation, the Confluent error codes, and the
// etcd key layout.
//
// Sub-packages: compat (compatibility rules), etcdstore (transactional writes),
// cache (watch-fed read cache for routers), registry (the HTTP API).
//
// # etcd key layout
//
// Everything lives under one prefix (DefaultPrefix, "/waybill/"). Ids and versions are
// zero-padded to 10 digits so that etcd's lexical order is numeric order. Subjects are
// path-escaped (url.PathEscape) so that a '/' in a subject stays inside one segment.
// Values are JSON.
//
//	ids/next                          next global schema id to hand out (decimal; absent = 1)
//	schemas/{id}                      SchemaRecord: id, schemaType, canonical schema, references, fingerprint
//	fingerprints/{sha256}             decimal id of the schema with that fingerprint
//	subjects/{subject}/versions/{v}   VersionRecord: subject, version, id, deleted (soft delete), registered
//	config/global                     ConfigRecord {"compatibilityLevel": ...}
//	config/subjects/{subject}         ConfigRecord for one subject
//	mode/global                       ModeRecord {"mode": ...}
//	mode/subjects/{subject}           ModeRecord for one subject
//	contracts/{subject}               Contract (governance)
//	audit/global/{n}                  etcdstore.AuditRecord of a registry-wide config or mode change
//	audit/subjects/{subject}/{n}      etcdstore.AuditRecord of a change to the subject; also the
//	                                  routers' erasure requests (action "erasure", routing/audit)
//
// Audit records are written in the transaction of the change they record and never
// deleted (a hard delete of a subject keeps them). {n} is a unique, roughly
// time-ordered name (20-digit Unix nanoseconds, '-', random hex); the key's create
// revision, the revision of the change itself, is the authoritative order. Readers of
// contracts (the cache) ignore audit keys.
//
// Invariants, kept by etcd transactions in etcdstore:
//   - schemas/{id} and fingerprints/{fp} are written once and never changed or deleted,
//     and ids/next only grows, so a global id is never reused, not even after a hard
//     delete; readers may cache a schema by id forever.
//   - A version is appended only if nothing under subjects/{subject}/ changed since the
//     registry read it (compare on mod revision over the prefix), and a new id only if
//     ids/next is unchanged; two registries racing on one etcd therefore never hand out
//     the same id or version: the loser re-reads and retries.
//   - Every write also compares the subject's contract (and the key it replaces)
//     against the snapshot it was authorised and audited on, so who may write, and the
//     before of its audit record, hold for exactly the state written over.
//
// # Identity
//
// A schema's identity is the SHA-256 of its type, canonical text (see Canonical) and
// references. The canonical text keeps doc, defaults, aliases, custom properties and
// logical types, so registering the same schema twice — in any subject — returns the
// same id, while a changed default or classification is a new schema.
package schemas
