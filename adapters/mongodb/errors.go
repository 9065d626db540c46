package mongodb

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Server error codes the sink treats specially (MongoDB's error_codes.yml).
const (
	codeDuplicateKey = 11000
)

// retryableCodes are server errors that go away by themselves: elections, shutdowns,
// network trouble between members, stale routing, interrupted or timed-out operations,
// write concern failures, lock conflicts.
var retryableCodes = map[int]string{
	6:     "HostUnreachable",
	7:     "HostNotFound",
	24:    "LockTimeout",
	46:    "LockBusy",
	50:    "MaxTimeMSExpired",
	63:    "StaleShardVersion",
	64:    "WriteConcernFailed",
	79:    "UnknownReplWriteConcern",
	89:    "NetworkTimeout",
	91:    "ShutdownInProgress",
	100:   "UnsatisfiableWriteConcern",
	112:   "WriteConflict",
	133:   "FailedToSatisfyReadPreference",
	150:   "StaleEpoch",
	189:   "PrimarySteppedDown",
	262:   "ExceededTimeLimit",
	9001:  "SocketException",
	10107: "NotWritablePrimary",
	11600: "InterruptedAtShutdown",
	11601: "Interrupted",
	11602: "InterruptedDueToReplStateChange",
	13388: "StaleConfig",
	13435: "NotPrimaryNoSecondaryOk",
	13436: "NotPrimaryOrSecondary",
}

// permanentCodes are server errors about the document itself: writing it again
// cannot succeed.
var permanentCodes = map[int]string{
	2:     "BadValue",
	9:     "FailedToParse",
	14:    "TypeMismatch",
	22:    "InvalidBSON",
	52:    "DollarPrefixedFieldName",
	53:    "InvalidIdField",
	55:    "InvalidDBRef",
	56:    "EmptyFieldName",
	57:    "DottedFieldName",
	66:    "ImmutableField",
	73:    "InvalidNamespace",
	121:   "DocumentValidationFailure",
	10334: "BSONObjectTooLarge",
	17280: "KeyTooLong",
	17419: "DocumentTooLarge",
}

// ServerError is a write error the server reported for one document, or for the whole
// write, with its code. Codes about the document (validation, bad values, size) are
// permanent; everything else — including codes not listed — is retryable, since
// treating an unknown condition as permanent would dead-letter good events.
type ServerError struct {
	Code    int
	Message string
	Labels  []string
}

func (e *ServerError) Error() string {
	name := retryableCodes[e.Code]
	if name == "" {
		name = permanentCodes[e.Code]
	}
	if name == "" {
		return fmt.Sprintf("mongodb: server error %d: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("mongodb: server error %d (%s): %s", e.Code, name, e.Message)
}

// Retryable reports whether writing the document again may succeed.
func (e *ServerError) Retryable() bool {
	if slices.Contains(e.Labels, "RetryableWriteError") {
		return true
	}
	_, permanent := permanentCodes[e.Code]
	return !permanent
}

// EncodeError is an event the sink cannot turn into a document: its data does not
// decode against its schema, its record uses a reserved field name, the document is too
// large, or its collection name is invalid. It is permanent.
type EncodeError struct {
	EventID string
	Err     error
}

func (e *EncodeError) Error() string   { return fmt.Sprintf("mongodb: event %s: %v", e.EventID, e.Err) }
func (e *EncodeError) Unwrap() error   { return e.Err }
func (e *EncodeError) Retryable() bool { return false }

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("mongodb: sink is closed")

// classify wraps a driver error that failed a whole write. Network errors, timeouts,
// server selection failures and server errors not about a document are retryable
// (routing's default for errors without a Retryable method); a server error with a
// permanent code becomes a *ServerError.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		mongo.IsTimeout(err) || mongo.IsNetworkError(err) {
		return fmt.Errorf("mongodb: %w", err)
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return &ServerError{Code: int(ce.Code), Message: ce.Message, Labels: ce.Labels}
	}
	return fmt.Errorf("mongodb: %w", err)
}

// itemOutcome is what a write error means for one document.
type itemOutcome int

const (
	itemFailed    itemOutcome = iota // report the error
	itemDuplicate                    // _id exists: see the caller
)

// writeErrorOutcome classifies one element of a bulk write's writeErrors.
func writeErrorOutcome(we mongo.BulkWriteError) (itemOutcome, error) {
	if we.Code == codeDuplicateKey || we.Code == 11001 {
		return itemDuplicate, nil
	}
	return itemFailed, &ServerError{Code: we.Code, Message: we.Message}
}
