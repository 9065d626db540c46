package avrojson

import (
	"strconv"
	"strings"
)

// FieldError locates a problem: Path names the offending value (dotted record fields,
// [i] for array items, {key} for map values, e.g. "customer.address.zip",
// "items[3].price", "attrs{color}"), "" meaning the whole value; Reason says what is
// wrong with it. Every error returned by Encode, EncodeJSON and Validate for bad input
// is a *FieldError.
type FieldError struct {
	Path   string
	Reason string
}

// Error returns "<path>: <reason>", or just the reason when the path is empty.
func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// encErr is the internal form of a FieldError: it is built where the problem is found
// and collects path segments, innermost first, as the recursion unwinds, so that no path
// is built (nor anything allocated) for values that are fine.
type encErr struct {
	rev    []string
	reason string
}

func errf(reason string) *encErr { return &encErr{reason: reason} }

// inField prefixes a record field name to the path.
func (e *encErr) inField(name string) *encErr {
	e.rev = append(e.rev, "."+name)
	return e
}

// inIndex prefixes an array index to the path.
func (e *encErr) inIndex(i int) *encErr {
	e.rev = append(e.rev, "["+strconv.Itoa(i)+"]")
	return e
}

// inKey prefixes a map key to the path.
func (e *encErr) inKey(k []byte) *encErr {
	e.rev = append(e.rev, "{"+string(k)+"}")
	return e
}

func (e *encErr) path() string {
	if len(e.rev) == 0 {
		return ""
	}
	var b strings.Builder
	for i := len(e.rev) - 1; i >= 0; i-- {
		b.WriteString(e.rev[i])
	}
	return strings.TrimPrefix(b.String(), ".")
}

// brief is the error relative to where it was found, for nesting in a union's reason.
func (e *encErr) brief() string {
	if p := e.path(); p != "" {
		return p + ": " + e.reason
	}
	return e.reason
}

func (e *encErr) fieldError() *FieldError {
	return &FieldError{Path: e.path(), Reason: e.reason}
}
