package elasticsearch

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("elasticsearch: sink is closed")

// retryableStatus reports whether an HTTP status (of a whole request or of one bulk
// item) may succeed when tried again: 408, 429 and 5xx are load or availability
// problems; 401 and 403 are credentials or privileges an operator can fix, and
// dead-lettering everything meanwhile would be worse; every other 4xx is about the
// request or document itself.
func retryableStatus(status int) bool {
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return true
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return true
	}
	return false
}

// RequestError is a whole request Elasticsearch refused (or a proxy in front of it):
// every event of the request failed with it.
type RequestError struct {
	Op     string // "bulk", "create index", "put mapping", "mget"
	Status int
	Type   string // ES error type, e.g. es_rejected_execution_exception ("" if none)
	Reason string
}

func (e *RequestError) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("elasticsearch: %s: HTTP %d %s", e.Op, e.Status, e.Reason)
	}
	return fmt.Sprintf("elasticsearch: %s: HTTP %d %s: %s", e.Op, e.Status, e.Type, e.Reason)
}

// Retryable reports whether sending the request again may succeed.
func (e *RequestError) Retryable() bool { return retryableStatus(e.Status) }

// TransportError is a request that got no answer: connection refused or reset,
// timeout, cancelled context. It is always retryable.
type TransportError struct {
	Op  string
	Err error
}

func (e *TransportError) Error() string   { return fmt.Sprintf("elasticsearch: %s: %v", e.Op, e.Err) }
func (e *TransportError) Unwrap() error   { return e.Err }
func (e *TransportError) Retryable() bool { return true }

// ItemError is the failure of one document of a bulk request, as Elasticsearch
// reported it: 429 and 5xx are retryable, other statuses permanent (a mapping conflict,
// an invalid index name, a rejected document).
type ItemError struct {
	Index  string
	ID     string
	Status int
	Type   string
	Reason string
}

func (e *ItemError) Error() string {
	return fmt.Sprintf("elasticsearch: document %s/%s: HTTP %d %s: %s", e.Index, e.ID, e.Status, e.Type, e.Reason)
}

// Retryable reports whether writing the document again may succeed.
func (e *ItemError) Retryable() bool { return retryableStatus(e.Status) }
