// Package etcdstore is the registry's transactional store in etcd. It owns every write
// to the key layout documented in package schemas, and the rules that make concurrent
// registries safe: a version is appended, and a global id allocated, only by a
// transaction whose compares prove nothing changed since the state it was computed
// from (mod revision of the subject's prefix, of ids/next, and absence of the
// fingerprint). A transaction that loses a race re-reads and retries.
//
// Every write takes an optional Change: who makes it, an Authorize callback asked on
// each attempt about the subject's contract in the snapshot that attempt commits over
// (its revision is compared too), and the audit record (AuditRecord, keys under audit/)
// is put in the same transaction, so a change and its record exist together or not at
// all. Audit reads the trail back in commit order.
//
// Every call is bounded by the store's operation timeout; an unreachable etcd surfaces
// as a schemas.Error with code 50001 (store error), never as a hang or a 404.
package etcdstore
