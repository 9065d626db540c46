package routing

import (
	"errors"
	"fmt"
	"strings"
)

// permanentError marks a failure that retrying cannot fix (a mapping conflict, a
// rejected document): the event is dead-lettered, with the reason.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Retryable() bool { return false }

// Permanent marks err as not retryable.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Retryable reports whether a delivery error may succeed if tried again. Errors are
// retryable unless something in their chain says otherwise through a
// Retryable() bool method: network failures, timeouts and overload are the common case,
// and treating an unknown error as permanent would lose data on analytic routes.
func Retryable(err error) bool {
	var c interface{ Retryable() bool }
	if errors.As(err, &c) {
		return c.Retryable()
	}
	return true
}

// ItemError is the failure of one event of a batch.
type ItemError struct {
	Index int // position in Batch.Events
	Err   error
}

// BatchError reports per-event failures; events not listed were stored.
type BatchError struct {
	Items []ItemError
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d event(s) failed", len(e.Items))
	for i, it := range e.Items {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Items)-3)
			break
		}
		fmt.Fprintf(&b, "; #%d: %v", it.Index, it.Err)
	}
	return b.String()
}

// Retryable is true when any failed item is retryable (the batch must be retried for it).
func (e *BatchError) Retryable() bool {
	for _, it := range e.Items {
		if Retryable(it.Err) {
			return true
		}
	}
	return false
}
