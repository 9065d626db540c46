package lake

import (
	"errors"
	"fmt"
	"syscall"
)

// Kind classifies a file system failure.
type Kind int

const (
	KindOther       Kind = iota // anything else: retryable
	KindDiskFull                // ENOSPC, EDQUOT: retryable once space is freed
	KindIO                      // EIO: retryable (transient on network and virtual disks)
	KindPermission              // EACCES, EPERM: retryable once an operator fixes it
	KindReadOnly                // EROFS: retryable once the file system is writable
	KindNameTooLong             // ENAMETOOLONG: permanent, the rendered target is too long
)

func (k Kind) String() string {
	switch k {
	case KindDiskFull:
		return "disk full"
	case KindIO:
		return "I/O error"
	case KindPermission:
		return "permission denied"
	case KindReadOnly:
		return "read-only file system"
	case KindNameTooLong:
		return "name too long"
	}
	return "file system error"
}

// IOError is a classified file system failure of the lake. It is retryable unless the
// failure comes from the event itself (a target path too long to create): a full disk,
// an I/O error or a permission problem is an environment condition an operator can
// fix, and treating it as permanent would dead-letter every event of the route meanwhile.
type IOError struct {
	Op   string // what the lake was doing: "create", "write", "fsync", "rename", ...
	Path string
	Kind Kind
	Err  error
}

func (e *IOError) Error() string {
	return fmt.Sprintf("lake: %s %s: %s: %v", e.Op, e.Path, e.Kind, e.Err)
}

func (e *IOError) Unwrap() error { return e.Err }

// Retryable reports whether writing again may succeed.
func (e *IOError) Retryable() bool { return e.Kind != KindNameTooLong }

// ioError wraps err as an *IOError (nil stays nil; an *IOError is returned unchanged).
func ioError(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var ie *IOError
	if errors.As(err, &ie) {
		return err
	}
	return &IOError{Op: op, Path: path, Kind: classify(err), Err: err}
}

func classify(err error) Kind {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return KindOther
	}
	switch errno {
	case syscall.ENOSPC, syscall.EDQUOT:
		return KindDiskFull
	case syscall.EIO:
		return KindIO
	case syscall.EACCES, syscall.EPERM:
		return KindPermission
	case syscall.EROFS:
		return KindReadOnly
	case syscall.ENAMETOOLONG:
		return KindNameTooLong
	}
	return KindOther
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("lake: sink is closed")
