package cassandra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/waybill-data/waybill/routing"
)

// requestError is an answer from Cassandra with an error code, as gocql's
// RequestError interface describes it (its own types have unexported fields).
type requestError struct {
	code int
	msg  string
}

func (e requestError) Code() int       { return e.code }
func (e requestError) Message() string { return e.msg }
func (e requestError) Error() string   { return e.msg }

func TestRetryable(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		retryable bool
	}{
		{"unavailable", requestError{gocql.ErrCodeUnavailable, "Cannot achieve consistency level LOCAL_QUORUM"}, true},
		{"write timeout", requestError{gocql.ErrCodeWriteTimeout, "Operation timed out"}, true},
		{"read timeout", requestError{gocql.ErrCodeReadTimeout, "Operation timed out"}, true},
		{"overloaded", requestError{gocql.ErrCodeOverloaded, "overloaded"}, true},
		{"bootstrapping", requestError{gocql.ErrCodeBootstrapping, "bootstrapping"}, true},
		{"write failure", requestError{gocql.ErrCodeWriteFailure, "failure"}, true},
		{"read failure", requestError{gocql.ErrCodeReadFailure, "failure"}, true},
		{"truncate", requestError{gocql.ErrCodeTruncate, "truncate"}, true},
		{"cas unknown", requestError{gocql.ErrCodeCASWriteUnknown, "unknown"}, true},
		{"cdc", requestError{gocql.ErrCodeCDCWriteFailure, "cdc"}, true},
		{"server error", requestError{gocql.ErrCodeServer, "NullPointerException"}, true},
		{"protocol error", requestError{gocql.ErrCodeProtocol, "protocol"}, true},
		{"unprepared", requestError{gocql.ErrCodeUnprepared, "unprepared"}, true},
		{"unauthorized", requestError{gocql.ErrCodeUnauthorized, "User app has no MODIFY permission"}, true},
		{"credentials", requestError{gocql.ErrCodeCredentials, "bad password"}, true},
		{"missing table", requestError{gocql.ErrCodeInvalid, "unconfigured table wb_orders"}, true},
		{"missing keyspace", requestError{gocql.ErrCodeInvalid, "Keyspace 'events' does not exist"}, true},
		{"invalid", requestError{gocql.ErrCodeInvalid, "Invalid value for column qty"}, false},
		{"mutation too large", requestError{gocql.ErrCodeInvalid, "Mutation of 20000000 bytes is too large"}, false},
		{"syntax", requestError{gocql.ErrCodeSyntax, "line 1:0 no viable alternative"}, false},
		{"config", requestError{gocql.ErrCodeConfig, "config"}, false},
		{"already exists", requestError{gocql.ErrCodeAlreadyExists, "exists"}, false},
		{"function failure", requestError{gocql.ErrCodeFunctionFailure, "udf"}, false},
		{"marshal", gocql.MarshalError("can not marshal string into int"), false},
		{"unmarshal", gocql.UnmarshalError("cannont marshal tuple"), false},
		{"no connections", gocql.ErrNoConnections, true},
		{"driver timeout", gocql.ErrTimeoutNoResponse, true},
		{"connection closed", gocql.ErrConnectionClosed, true},
		{"session closed", gocql.ErrSessionClosed, true},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"deadline", context.DeadlineExceeded, true},
		{"cancelled", context.Canceled, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Retryable(tt.err); got != tt.retryable {
				t.Errorf("Retryable(%v) = %t, want %t", tt.err, got, tt.retryable)
			}
			// As the router sees it: wrapped in the sink's WriteError, itself wrapped.
			werr := fmt.Errorf("route r: %w", &WriteError{Op: "insert into ks.t", Err: fmt.Errorf("gocql: %w", tt.err)})
			if got := routing.Retryable(werr); got != tt.retryable {
				t.Errorf("routing.Retryable(%v) = %t, want %t", werr, got, tt.retryable)
			}
		})
	}
}

func TestErrorTypes(t *testing.T) {
	tests := []struct {
		err       error
		retryable bool
		msg       string
	}{
		{&EncodeError{EventID: "e1", Err: errors.New("bad uuid")}, false, "cassandra: event e1: bad uuid"},
		{&SchemaError{Table: "ks.t", Err: requestError{gocql.ErrCodeInvalid, "bad"}}, true, "cassandra: creating or evolving table ks.t: bad"},
		{&ConflictError{Object: "table ks.t", Problems: []string{"a is text, the schema needs int"}}, false,
			"table ks.t conflicts with the contract's schema: a is text, the schema needs int"},
		{&WriteError{Op: "insert into ks.t", Err: requestError{gocql.ErrCodeWriteTimeout, "timed out"}}, true, "cassandra: insert into ks.t: timed out"},
		{ErrClosed, true, "cassandra: sink is closed"},
	}
	for _, tt := range tests {
		if routing.Retryable(tt.err) != tt.retryable || tt.err.Error() != tt.msg {
			t.Errorf("%T: retryable %t, %q; want %t, %q", tt.err, routing.Retryable(tt.err), tt.err.Error(), tt.retryable, tt.msg)
		}
	}
}

func TestOutcomesResult(t *testing.T) {
	var o outcomes
	if err := o.result(); err != nil {
		t.Fatalf("no failures: %v", err)
	}
	down, bad := errors.New("down"), errors.New("bad")
	o.fail(down, &row{index: 4}, &row{index: 0})
	o.fail(bad, &row{index: 2})
	var be *routing.BatchError
	if err := o.result(); !errors.As(err, &be) || fmt.Sprint(be.Items) != fmt.Sprint([]routing.ItemError{{Index: 0, Err: down}, {Index: 2, Err: bad}, {Index: 4, Err: down}}) {
		t.Fatalf("result = %v, want events 0, 2, 4 in order with their errors", err)
	}
}
