package wal

import (
	"errors"
	"fmt"
	"syscall"
)

var (
	// ErrFull is returned by Append when the records would not fit: the disk budget
	// (Options.MaxBytes) would be exceeded, or the file system reported ENOSPC or EDQUOT.
	// Nothing of the failed Append is in the log; it may be retried after Release (or
	// the operator) frees space.
	ErrFull = errors.New("wal: full")

	// ErrClosed is returned by operations on a closed WAL or Reader.
	ErrClosed = errors.New("wal: closed")

	// ErrFailed is returned by Append once the WAL has seen an I/O error it cannot
	// recover from (an fsync failure other than ENOSPC, a failed truncation). The
	// records already acknowledged are safe; the WAL must be closed and reopened
	// (which re-runs recovery) before it accepts appends again.
	ErrFailed = errors.New("wal: failed after an unrecoverable I/O error")

	// ErrTooLarge is returned by Append when a payload exceeds MaxPayload.
	ErrTooLarge = errors.New("wal: payload too large")

	// ErrReleased is returned by NewReader (and by a Reader that must move on to a
	// segment) when the wanted records were already deleted by Release.
	ErrReleased = errors.New("wal: records already released")
)

// CorruptionError reports damage in the log that recovery must not silently skip: a bad
// record followed by valid records, any damage in a segment other than the last, a bad
// segment header, or a break in the sequence numbering. It is also returned by a Reader
// that finds a durable record no longer matching its checksum.
type CorruptionError struct {
	Segment string // path of the segment file
	Offset  int64  // byte offset of the damaged record (or header field) in that file
	Reason  string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corrupt segment %s at offset %d: %s", e.Segment, e.Offset, e.Reason)
}

// isNoSpace reports whether err means the file system is out of space or quota.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// fullError wraps an I/O error that means "no space" so that errors.Is(err, ErrFull)
// holds while the underlying cause stays visible.
func fullError(cause error) error {
	return fmt.Errorf("%w: %w", ErrFull, cause)
}

// freeBytes is the space available to unprivileged writers on dir's file system.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
