// Package cache is the routers' read side of the schema registry: an in-memory,
// watch-fed copy of the registry's etcd state (key layout in package schemas), from
// which routers look up schemas by id, a subject's latest or given version, and its
// contract, without a round trip to etcd per event.
//
// # What it owns
//
// The cache reads schemas/{id}, subjects/{subject}/versions/{v} and contracts/{subject}
// under one prefix; every other key (ids/next, fingerprints, config, mode, keys of a
// newer writer) is ignored. It never writes: etcdstore is the only writer.
//
// State lives in one immutable snapshot behind an atomic.Pointer. Readers load it and
// never lock; the watch goroutine builds the next snapshot (copying only the maps that
// change) and swaps it in, one swap per watch response, so a reader never sees half of
// a change — a registration's schema and version, or a hard delete's keys, appear and
// disappear together because etcd delivers one transaction in one response. Values
// handed out (*Schema, *Version) are shared and must be treated as read-only; Contract
// returns a copy.
//
// Schemas are parsed eagerly, when their record arrives, with schemas.ParseAvro and
// their references resolved through the cached versions and schema records
// (dependencies first, as etcdstore.ResolveReferences does). A parsed schema is kept by
// id for good: ids are never reused and records never change. A record that does not
// parse is logged once and skipped — SchemaByID does not answer for it and versions
// using it are left out of Latest and Version — and never stops the cache. A record
// whose references do not resolve yet is retried whenever versions change, so it
// appears once its dependency does.
//
// Deletions follow the registry: a soft-deleted version disappears from Latest and
// Version (Latest falls back to the highest live version); a hard-deleted subject
// disappears entirely, contract included; schemas stay readable by id.
//
// # Loading and watching
//
// Start lists everything under the prefix at one revision (in pages pinned to that
// revision), retrying with capped backoff until it succeeds or its context ends, and
// publishes it. A goroutine then watches the prefix until Close:
//
//   - The watch resumes at the revision the cache has applied. It starts at that
//     revision itself rather than the next one, because etcd only answers progress
//     requests for watchers that started at or below its current revision; events at
//     or below the applied revision are skipped, so nothing is applied twice.
//   - The watch context carries clientv3.WithRequireLeader, so a member that loses
//     quorum ends the watch instead of serving it silently, and metadata of its own, so
//     the cache has a gRPC watch stream to itself.
//   - A heartbeat asks etcd for watch progress every 500ms. A healthy watch answers with
//     a progress notification, which also advances Revision past changes outside the
//     prefix. When nothing at all arrives for 2s — etcd down, connection lost, watch
//     stuck reconnecting — the cache is marked stale and the watch is restarted.
//   - When the watch fails (no leader, channel closed, heartbeat silence) it is
//     restarted from the applied revision after a backoff doubling from 100ms to 2s;
//     the backoff resets once a watch gets answers again.
//   - When the resume revision has been compacted (a response with CompactRevision
//     set, i.e. ErrCompacted), the cache re-lists everything, publishes it as one new
//     snapshot (listeners hear about exactly the subjects that changed), and watches
//     again from the listed revision.
//
// # Outages and staleness
//
// While etcd is unreachable the cache keeps serving its last snapshot; nothing is
// evicted. Stale reports true — with the time since etcd last answered — from the
// moment the watch is known broken until a watch gets an answer again; it is also true
// before the first load completes and after Close. Routers use it for /readyz.
//
// Revision is the etcd revision the cache reflects: every change under the prefix up
// to it has been applied. WaitForRevision blocks on a change notification (a channel
// closed at each snapshot swap), never by polling; it also asks the heartbeat for an
// immediate progress request, so waiting for the revision of a write is prompt even
// when that write was outside the prefix. OnChange listeners run in the watch goroutine
// after the new snapshot is visible, once per changed subject, and must not block.
package cache
