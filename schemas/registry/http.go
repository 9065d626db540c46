package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/waybill-data/waybill/schemas"
)

// MaxBodyBytes bounds a request body: a schema at its limit, JSON-escaped, fits.
const MaxBodyBytes = 4 << 20

const contentTypeV1 = "application/vnd.schemaregistry.v1+json"

// acceptedContentTypes are the request media types Confluent clients send.
var acceptedContentTypes = map[string]bool{
	contentTypeV1:                         true,
	"application/vnd.schemaregistry+json": true,
	"application/json":                    true,
	"application/octet-stream":            true, // some clients send no specific type
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentTypeV1)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	e := schemas.AsError(err)
	writeJSON(w, e.HTTPStatus(), e)
}

// httpError is an error whose HTTP status is not derived from a Confluent code
// (malformed JSON, oversize bodies, unsupported media types).
func httpError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, schemas.Error{Code: status, Message: fmt.Sprintf(format, args...)})
}

// decodeBody reads a bounded JSON body into v. It answers the client itself and
// returns false when the body is unacceptable.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !acceptedContentTypes[mt] {
			httpError(w, http.StatusUnsupportedMediaType, "Unsupported Content-Type %q: use %s or application/json", ct, contentTypeV1)
			return false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpError(w, http.StatusRequestEntityTooLarge, "Request body is larger than the %d-byte limit", MaxBodyBytes)
			return false
		}
		httpError(w, http.StatusBadRequest, "Reading request body: %v", err)
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		httpError(w, http.StatusBadRequest, "Request body is empty; expected a JSON object")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			writeError(w, schemas.Errorf(http.StatusUnprocessableEntity, "Field %q must be a %s, not a JSON %s", ute.Field, jsonKind(ute.Type.Kind().String()), ute.Value))
			return false
		}
		httpError(w, http.StatusBadRequest, "Malformed JSON body: %v", err)
		return false
	}
	return true
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int64", "int32":
		return "integer"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	}
	return goKind
}

// parseVersion parses a version path segment: a positive 32-bit integer, "latest" or
// "-1" (both mean the latest, returned as -1).
func parseVersion(s string) (int, error) {
	if s == "latest" || s == "-1" {
		return -1, nil
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil || v < 1 {
		return 0, schemas.ErrInvalidVersion(s)
	}
	return int(v), nil
}

func parseID(s string) (int, error) {
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil || v < 1 {
		return 0, schemas.Errorf(schemas.CodeSchemaNotFound, "Schema %s not found", s)
	}
	return int(v), nil
}

func boolParam(r *http.Request, name string) bool {
	b, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return b
}

// maxSubjectLen matches Confluent's practical limit; subjects are etcd key segments.
const maxSubjectLen = 255

// subjectParam validates the {subject} path value.
func subjectParam(r *http.Request) (string, error) {
	s := r.PathValue("subject")
	return s, validSubject(s)
}

// validSubject checks a subject name.
func validSubject(s string) error {
	if s == "" || len(s) > maxSubjectLen {
		return schemas.Errorf(schemas.CodeInvalidSubject, "Invalid subject %q: must be 1 to %d bytes", s, maxSubjectLen)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return schemas.Errorf(schemas.CodeInvalidSubject, "Invalid subject %q: control characters are not allowed", s)
		}
	}
	return nil
}
