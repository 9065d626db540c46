// Package sinktest is the conformance suite every store adapter (routing.Sink) must
// pass, against the project's local test servers and, when an environment variable
// names one, against a real cluster.
//
// A store's test describes how to open its sink and how to read back what the store
// holds (with the store's own client, independent of the adapter) in a Store, and
// calls Run. The suite writes events the way the router does — batches of one route
// in WAL order, retrying only the events that failed retryably — and checks:
//
//   - append: every event stored exactly once, with its id, key, event time (to the
//     microsecond), schema id and value;
//   - redelivery: overlapping batches after a "crash" (the sink closed and opened
//     again, the router resending from its cursor) store nothing twice;
//   - latest (stores with the latest mode): one record per key, the newest by (event
//     time, then event id), however the versions are shuffled across batches;
//   - partial failure: per-item permanent and retryable failures reported for exactly
//     the events concerned (collateral failures may only be retryable), everything else
//     stored, and the retried events stored once;
//   - outage: while the store is down Write returns a retryable error within its
//     deadline; after recovery nothing is lost;
//   - types: every Avro type (records, unions, enums, fixed, arrays, maps, decimals,
//     timestamps, dates, times, uuids) read back exactly equal, compared as
//     adapters/avrovalue values;
//   - erase (latest stores whose sink implements routing.Eraser): the erased key is
//     gone and the others untouched, erasing again, a key never stored or a contract
//     with nothing stored yet succeeds, and a newer event re-creates the key.
//
// Contracts are named per test (lower-case [a-z0-9_], at most 24 characters, unique per
// run), so a store's Target template may use {contract} for table, collection, index or
// directory names. A subtest a store cannot run (no fault injection against a real
// cluster; a mode it does not support) is skipped with the reason, never passed.
package sinktest
