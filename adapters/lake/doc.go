// Package lake is Waybill's local-filesystem lake: a routing.Sink that stores events
// as Avro object container files under a root directory, exactly once across crashes.
//
// # Layout
//
// Under Path/<rendered target>/ the lake keeps the data files and manifests that
// package avrofile describes (names, the Avro container format with its waybill.Event
// wrapper schema, manifests, how a batch becomes files). Names starting with '.' are
// not data: ".waybill-lake.lock" in the root (an flock held while a Sink is open, so
// one process at a time owns the lake) and ".tmp-*" temporary files. Scan lists
// committed files with their manifests and ReadFile decodes a file (records through
// hamba's decoder).
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
// Per stream — one (target directory, schema id) — the lake keeps the high-water mark
// avrofile describes: the largest last sequence number among the stream's file names,
// read from the directory on first use, then tracked in memory; events at or below it
// are acknowledged without writing. avrofile's package documentation gives the
// argument and its assumptions; here the lock file enforces one process per lake.
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
