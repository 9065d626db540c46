// Package wal is the router's durable write-ahead log.
//
// The router appends every accepted event to the WAL and answers the producer only after
// the fsync that covers it (Append returns). One Reader per route then reads from its own
// cursor; when every route has moved past a segment, Release deletes it.
//
// # What it owns
//
// A directory (Options.Dir) holding segment files and a LOCK file. While a WAL is open it
// holds an exclusive flock(2) on Dir/LOCK, so a second Open of the same directory fails.
// No other files are read or written; files whose names do not match the segment pattern
// are ignored.
//
// # Sequence numbers
//
// Every record carries a sequence number. The first record ever appended is 1; each
// following record is the previous plus one, with no gaps, across segments and across
// restarts. LastSeq is the last durable sequence (0 for an empty log), FirstSeq the
// first one still on disk. Sequences of a failed Append are not consumed.
//
// # On-disk format (version 1)
//
// All integers are little-endian. CRC means CRC-32C (Castagnoli polynomial, the
// hash/crc32 Castagnoli table), stored as a uint32.
//
// File naming: a segment is named after the sequence of its first record (its base),
// as 20 decimal digits zero-padded, plus ".wal": the segment starting at sequence 1 is
// "00000000000000000001.wal". Sorting names sorts segments. A segment may hold no
// records yet (a new active segment); its base is then the next sequence to be written.
//
// Segment header, 20 bytes at offset 0:
//
//	offset size field
//	0      4    magic "WBWL" (0x57 0x42 0x57 0x4C)
//	4      2    format version, uint16 = 1
//	6      2    reserved, zero
//	8      8    base sequence, uint64; equals the number in the file name
//	16     4    CRC of bytes 0..15
//
// Records follow the header back to back, with no padding and no trailer:
//
//	offset size field
//	0      4    CRC of bytes 4..(16+length-1): the length, the sequence and the payload
//	4      4    payload length, uint32, at most MaxPayload (16 MiB)
//	8      8    sequence number, uint64
//	16     len  payload (opaque bytes; length 0 allowed)
//
// A record is valid when its length is <= MaxPayload, all its bytes are present and the
// CRC matches. Within a segment the first record carries the base sequence and each
// next record the previous sequence + 1; the first record of a segment carries the last
// sequence of the previous segment + 1. A segment ends at end of file.
//
// # Writing: group commit
//
// A single writer goroutine owns the active (newest) segment. Append validates the
// batch (payloads over MaxPayload fail with ErrTooLarge) and queues it. The writer takes
// everything queued (up to 8 MiB, and no more than fits before SegmentBytes unless it is
// a single batch), checks the disk budget per batch, assigns sequences, encodes all
// records into one buffer, writes it with one pwrite at the end of the segment, fsyncs
// the segment file once and then wakes all the callers in the group. While that fsync
// runs, new Appends queue up and are covered by the next write+fsync. One Append's
// records are always consecutive and in the same segment.
//
// Segments roll at a group boundary: when the active segment has reached SegmentBytes
// and holds at least one record, the next group first creates a new segment (file
// created, header written, file fsynced, then the directory fsynced) named after the
// next sequence. The old segment is complete and already fsynced. A segment thus grows
// past SegmentBytes by at most one group (one batch when it is nearly full).
//
// Readers only see records up to the last fsynced sequence: the durable size of each
// segment is published after the fsync, and readers never read past it.
//
// # Errors while writing
//
//   - Disk budget: when MaxBytes > 0 and a batch would bring Size() over MaxBytes
//     (counting a new segment header if the group rolls), that Append fails with ErrFull
//     without writing anything; other batches of the group that fit are still written.
//   - Free-space reserve: when ReserveBytes > 0 and a batch would leave less than that
//     free on the file system (statfs, checked once per group commit), the same: ErrFull,
//     nothing written. The reserve is what the rest of the router's state needs to keep
//     moving on a full disk (cursors advance, segments are released, space returns).
//   - ENOSPC or EDQUOT from the write: the file is truncated back to the offset before
//     the write (the end of the last good record) and the group fails with ErrFull. The
//     next Append continues from that offset.
//   - ENOSPC or EDQUOT from the fsync: same, and the truncation is itself fsynced before
//     anything else is accepted. Everything before that offset was covered by an earlier
//     successful fsync.
//   - Any other write error: the file is truncated back and the group fails with that
//     error; the WAL stays usable.
//   - Any other fsync error (EIO, ...), or a failed truncation: the group fails, and the
//     WAL refuses all further appends with ErrFailed. After a failed fsync the kernel may
//     have dropped the dirty pages and marked them clean, so a retried fsync can report
//     success for data that never reached the disk; the only safe course is to stop
//     and let Open recover from what is really on disk. Records acknowledged before the
//     failure remain durable and readable.
//
// # Recovery (Open)
//
// Open lists the segments in name order and checks, in order:
//
//   - Continuity: each segment's base is the previous segment's last sequence + 1, and
//     no base is 0. Otherwise: *CorruptionError naming the later segment at offset 0.
//   - Every segment except the last must have a valid header and consist of valid
//     records with consecutive sequences up to exactly its end of file. Any damage,
//     including a truncated final record, is a *CorruptionError naming the segment and
//     the offset of the first bad record (or header field). Nothing is skipped.
//   - The last segment: a file shorter than the header (a crash while creating it) holds
//     no records; its header is rewritten. A complete but invalid header is corruption.
//     Records are read until the first one that is incomplete, has an over-long length
//     or a CRC mismatch. If no valid record (a plausible sequence >= the expected one and
//     a matching CRC) starts anywhere after that offset, the bytes from it to the end
//     are a torn tail: the file is truncated at the end of the last good record, the
//     truncation fsynced, and a warning logged with the number of bytes dropped. If a
//     valid record does follow, the damage is mid-segment: Open returns a
//     *CorruptionError at the bad record's offset. A record whose CRC is valid but whose
//     sequence is wrong is always corruption.
//
// As with any write-ahead log, records of an Append that was never acknowledged (the
// process crashed before the fsync returned, or the fsync failed and the truncation
// back failed too) may or may not be present after recovery; producers retry, and
// consumers deduplicate by event id.
//
// Open never skips damaged records silently: a CorruptionError needs an operator (for
// example to truncate the segment by hand at the reported offset, accepting the loss).
// Note that a crash in the middle of a large group write can in principle persist a
// later page of the write but not an earlier one; those records were never
// acknowledged, but since the log cannot tell them from acknowledged records damaged
// later, it reports corruption rather than guessing.
//
// Open verifies every CRC of every segment, so its cost is a sequential read of the
// whole log (bounded by MaxBytes).
//
// # Readers and Release
//
// A Reader opens its own file descriptor for the segment it reads and moves to the next
// segment when it has read all records of a sealed one. Next blocks on a channel that
// the writer closes after each commit (no polling). Release(upTo) deletes, oldest first,
// whole segments whose every record has a sequence < upTo; it never deletes the active
// segment. Deletion is unlink(2): on Linux a file that a Reader still has open stays
// readable through that descriptor until the Reader closes it or moves on, so a slow
// reader inside a released segment keeps reading it. A Reader that must then move to a
// segment that was also released gets ErrReleased; NewReader(from) with from <
// FirstSeq() fails with ErrReleased.
package wal
