package cassandra

import (
	"errors"
	"fmt"
	"strings"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// ErrClosed is returned by Write after Close. It is retryable: the router reopens its
// sinks on restart, and the events are still in its WAL.
var ErrClosed = errors.New("cassandra: sink is closed")

// WriteError is a failed request (a batch, an insert, the read of a key's stored
// version) with the driver's error. It classifies itself; see Retryable.
type WriteError struct {
	Op  string // "batch of 12 into ks.t", "insert into ks.t", "read latest of ks.t"
	Err error
}

func (e *WriteError) Error() string   { return fmt.Sprintf("cassandra: %s: %v", e.Op, e.Err) }
func (e *WriteError) Unwrap() error   { return e.Err }
func (e *WriteError) Retryable() bool { return Retryable(e.Err) }

// Retryable classifies an error of the driver. Permanent: a value the driver cannot
// encode (gocql.MarshalError), and requests Cassandra refuses for what they are —
// Invalid (a value out of range, a mutation too large, a column that does not exist),
// SyntaxError, ConfigError, AlreadyExists, FunctionFailure. Retryable: everything else —
// Unavailable, WriteTimeout, ReadTimeout, Overloaded, IsBootstrapping, Truncate,
// Read/WriteFailure, CDC write failure, CAS write unknown, server and protocol errors;
// a missing keyspace or table, Unauthorized and bad credentials (an operator fixes
// them, and dead-lettering every event meanwhile would be worse); and every error that
// is not an answer from Cassandra: refused or reset connections, no connections in
// the pool, driver timeouts, a cancelled or expired context. A write that timed out
// may or may not have been applied; the sink's writes are idempotent, so writing
// again is safe.
func Retryable(err error) bool {
	var me gocql.MarshalError
	var ue gocql.UnmarshalError
	if errors.As(err, &me) || errors.As(err, &ue) {
		return false
	}
	var re gocql.RequestError
	if !errors.As(err, &re) {
		return true
	}
	switch re.Code() {
	case gocql.ErrCodeInvalid:
		return missingSchema(re.Message())
	case gocql.ErrCodeSyntax, gocql.ErrCodeConfig, gocql.ErrCodeAlreadyExists, gocql.ErrCodeFunctionFailure:
		return false
	}
	return true
}

// missingSchema recognizes Cassandra's messages for a missing keyspace or table.
func missingSchema(msg string) bool {
	return strings.HasPrefix(msg, "unconfigured table") ||
		strings.HasPrefix(msg, "Keyspace ") && strings.HasSuffix(msg, "does not exist")
}

// EncodeError is an event that cannot be stored: its Avro datum does not decode, a
// value has no CQL representation (a uuid that does not parse, a time of day past
// 24:00, a null inside a collection), the contract's schema does not map to a table
// (a recursive record, a field named like an envelope column), or the table Cassandra
// holds conflicts with the schema (a column of another type). It is permanent.
type EncodeError struct {
	EventID string
	Err     error
}

func (e *EncodeError) Error() string   { return fmt.Sprintf("cassandra: event %s: %v", e.EventID, e.Err) }
func (e *EncodeError) Unwrap() error   { return e.Err }
func (e *EncodeError) Retryable() bool { return false }

// SchemaError is a failure to create or evolve a table or user type
// (create_tables): the DDL request failed, or reading the table's columns back did.
// It is retryable whatever Cassandra answered: a table that cannot be created needs an
// operator (a missing keyspace, a permission), and the events wait in the WAL.
type SchemaError struct {
	Table string
	Err   error
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("cassandra: creating or evolving table %s: %v", e.Table, e.Err)
}
func (e *SchemaError) Unwrap() error   { return e.Err }
func (e *SchemaError) Retryable() bool { return true }

// ConflictError is a table or user type that exists with a layout the contract's
// schema cannot be written to: a column of another type, another primary key. It is
// permanent for the events of that schema.
type ConflictError struct {
	Object   string // "table ks.t", "type ks.t__rec"
	Problems []string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s conflicts with the contract's schema: %s", e.Object, strings.Join(e.Problems, "; "))
}
func (e *ConflictError) Retryable() bool { return false }
