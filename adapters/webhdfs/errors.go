package webhdfs

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("webhdfs: sink is closed")

// permanentExceptions are the Hadoop exceptions that say the request itself cannot
// succeed: the user may not write there, or the path is not one HDFS accepts. Every
// other exception — StandbyException, RetriableException, SafeModeException, quota and
// lease problems, the generic IOException HDFS uses for "no DataNode available" —
// may succeed later and is retryable.
var permanentExceptions = map[string]bool{
	"AccessControlException":           true,
	"AuthorizationException":           true,
	"InvalidPathException":             true,
	"ParentNotDirectoryException":      true,
	"FileAlreadyExistsException":       true, // where not handled as "already committed": a file where a directory must be
	"PathComponentTooLongException":    true,
	"HadoopIllegalArgumentException":   true,
	"IllegalArgumentException":         true,
	"UnsupportedOperationException":    true,
	"PathIsNotEmptyDirectoryException": true,
}

// RemoteError is an error answer of a NameNode or DataNode: Hadoop's RemoteException
// body ({"RemoteException":{"exception":..., "javaClassName":..., "message":...}}),
// or just a status when a proxy or another server answered.
type RemoteError struct {
	Op        string // WebHDFS operation: CREATE, RENAME, MKDIRS, LISTSTATUS, ...
	Path      string // HDFS path
	DataNode  bool   // answered by the DataNode (the second step of CREATE, OPEN)
	Status    int
	Exception string // e.g. "AccessControlException" ("" without a RemoteException body)
	Message   string
}

func (e *RemoteError) Error() string {
	where := ""
	if e.DataNode {
		where = " (DataNode)"
	}
	if e.Exception == "" {
		return fmt.Sprintf("webhdfs: %s %s%s: HTTP %d %s", e.Op, e.Path, where, e.Status, e.Message)
	}
	return fmt.Sprintf("webhdfs: %s %s%s: HTTP %d %s: %s", e.Op, e.Path, where, e.Status, e.Exception, e.Message)
}

// Retryable reports whether sending the request again may succeed: false for the
// permanent exceptions (access denied, invalid path) and, without an exception, for
// 400; true for everything else — Standby, Retriable and SafeMode exceptions, 429,
// 5xx, and 401/403/404 without a RemoteException (authentication or a proxy an
// operator can fix; treating them as permanent would dead-letter every event of an
// analytic route meanwhile).
func (e *RemoteError) Retryable() bool {
	if e.Exception != "" {
		return !permanentExceptions[e.Exception]
	}
	return e.Status != http.StatusBadRequest
}

// is reports whether err is a RemoteError with the given exception.
func isException(err error, exception string) bool {
	var re *RemoteError
	return errors.As(err, &re) && re.Exception == exception
}

// TransportError is a request that got no answer: connection refused or reset, a
// timeout, a cancelled context. It is always retryable. Its text never holds the
// request URL (which may carry the delegation token).
type TransportError struct {
	Op   string
	Path string
	Err  error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("webhdfs: %s %s: %v", e.Op, e.Path, e.Err)
}
func (e *TransportError) Unwrap() error   { return e.Err }
func (e *TransportError) Retryable() bool { return true }

// ProtocolError is an answer that does not follow the WebHDFS protocol (a redirect
// without a Location, a body that does not decode). It is retryable: it usually means
// a proxy or a server in trouble, not a problem with the events.
type ProtocolError struct {
	Op, Path, Problem string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("webhdfs: %s %s: %s", e.Op, e.Path, e.Problem)
}
func (e *ProtocolError) Retryable() bool { return true }

// deferredError fails the events of a stream that come after a file that failed in
// the same Write: they were not tried, so that the stream's files stay in sequence
// order (see the package documentation), and are retried with the next delivery.
type deferredError struct{ cause error }

func (e *deferredError) Error() string {
	return fmt.Sprintf("webhdfs: not written, an earlier file of the stream failed (%v); retried with the next delivery", e.cause)
}
func (e *deferredError) Retryable() bool { return true }
