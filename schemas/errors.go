package schemas

import (
	"errors"
	"fmt"
	"net/http"
)

// Confluent Schema Registry error codes. Clients branch on these, so they are part of
// the wire contract. Codes in the 4xx90 range are Waybill's own (governance).
const (
	CodeSubjectNotFound            = 40401
	CodeVersionNotFound            = 40402
	CodeSchemaNotFound             = 40403
	CodeSubjectSoftDeleted         = 40404
	CodeSubjectNotSoftDeleted      = 40405
	CodeVersionSoftDeleted         = 40406
	CodeVersionNotSoftDeleted      = 40407
	CodeSubjectCompatNotConfigured = 40408
	CodeSubjectModeNotConfigured   = 40409
	CodeContractNotFound           = 40490
	CodeIncompatible               = 409
	CodeInvalidSchema              = 42201
	CodeInvalidVersion             = 42202
	CodeInvalidCompatibilityLevel  = 42203
	CodeInvalidMode                = 42204
	CodeOperationNotPermitted      = 42205
	CodeReferenceExists            = 42206
	CodeIDDoesNotMatch             = 42207
	CodeInvalidSubject             = 42208
	CodeSchemaTooLarge             = 42209
	CodeInvalidContract            = 42290
	CodeStoreError                 = 50001
	CodeOperationTimeout           = 50002
	CodeBadRequestBody             = 50005 // Confluent's code for an unparseable JSON body.
)

// Error is a registry error with its Confluent error code. Its JSON form is exactly
// {"error_code":N,"message":"..."}.
type Error struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
	cause   error
}

func (e *Error) Error() string { return e.Message }

// Unwrap exposes the underlying cause (for example an etcd error) to errors.Is/As.
func (e *Error) Unwrap() error { return e.cause }

// HTTPStatus derives the HTTP status from the code the way Confluent does: the first
// three digits of a five-digit code, or the code itself when it has three digits.
// The one exception is Confluent's JSON parse error 50005, which is answered as 400.
func (e *Error) HTTPStatus() int {
	switch {
	case e.Code == CodeBadRequestBody:
		return http.StatusBadRequest
	case e.Code >= 10000:
		return e.Code / 100
	default:
		return e.Code
	}
}

// Errorf builds an Error with a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// StoreError wraps a storage failure (etcd unreachable, timeout) as 50001 so clients
// see a retryable server error, never a misleading 404.
func StoreError(op string, err error) *Error {
	return &Error{Code: CodeStoreError, Message: fmt.Sprintf("store error while %s: %v", op, err), cause: err}
}

// AsError returns the *Error inside err, or a store error for anything else.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return StoreError("serving the request", err)
}

// Constructors for the errors Confluent clients expect, with Confluent's messages.

func ErrSubjectNotFound(subject string) *Error {
	return Errorf(CodeSubjectNotFound, "Subject '%s' not found.", subject)
}

func ErrVersionNotFound(version int) *Error {
	return Errorf(CodeVersionNotFound, "Version %d not found.", version)
}

func ErrSchemaNotFound() *Error { return Errorf(CodeSchemaNotFound, "Schema not found") }

func ErrSchemaIDNotFound(id int) *Error { return Errorf(CodeSchemaNotFound, "Schema %d not found", id) }

func ErrSubjectSoftDeleted(subject string) *Error {
	return Errorf(CodeSubjectSoftDeleted, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)
}

func ErrSubjectNotSoftDeleted(subject string) *Error {
	return Errorf(CodeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
}

func ErrVersionSoftDeleted(subject string, version int) *Error {
	return Errorf(CodeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", subject, version)
}

func ErrVersionNotSoftDeleted(subject string, version int) *Error {
	return Errorf(CodeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, version)
}

func ErrInvalidVersion(version string) *Error {
	return Errorf(CodeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", version)
}
