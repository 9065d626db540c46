package elastic

import (
	"encoding/json"
	"net/http"
	"strings"
)

// esError is an Elasticsearch error: a whole-request error body or a bulk item's
// error object.
type esError struct {
	Status   int
	Type     string
	Reason   string
	Index    string // the index concerned, when there is one
	CausedBy *esError
}

func (e *esError) Error() string { return e.Type + ": " + e.Reason }

// object is the error object as ES writes it: type, reason, and index details.
func (e *esError) object() map[string]any {
	o := map[string]any{"type": e.Type, "reason": e.Reason}
	if e.Index != "" {
		o["index"] = e.Index
		o["index_uuid"] = "_na_"
		if e.Type != "index_not_found_exception" && e.Type != "invalid_index_name_exception" {
			o["shard"] = "0"
			o["index_uuid"] = indexUUID(e.Index)
		}
	}
	if e.Type == "index_not_found_exception" {
		o["resource.type"] = "index_or_alias"
		o["resource.id"] = e.Index
	}
	if e.CausedBy != nil {
		o["caused_by"] = e.CausedBy.object()
	}
	return o
}

// body is the whole-request error body: {"error": {root_cause, type, reason}, "status"}.
func (e *esError) body() map[string]any {
	root := e.object()
	delete(root, "caused_by")
	o := e.object()
	o["root_cause"] = []any{root}
	return map[string]any{"error": o, "status": e.Status}
}

// indexUUID is a stable made-up uuid for an index name.
func indexUUID(name string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var h uint64 = 1469598103934665603
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	b := make([]byte, 22)
	for i := range b {
		b[i] = alphabet[h%64]
		h = h*6364136223846793005 + 1442695040888963407
	}
	return string(b)
}

func badRequest(typ, reason string) *esError {
	return &esError{Status: http.StatusBadRequest, Type: typ, Reason: reason}
}

func indexNotFound(idx string) *esError {
	return &esError{Status: http.StatusNotFound, Type: "index_not_found_exception", Reason: "no such index [" + idx + "]", Index: idx}
}

func errResp(e *esError) (int, any) { return e.Status, e.body() }

func writeError(w http.ResponseWriter, r *http.Request, e *esError) {
	writeJSON(w, r, e.Status, e.body())
}

// writeJSON writes a JSON answer. The content type follows the request's Accept:
// clients asking for compatible-with get the vendor type back, as from ES.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	ct := "application/json"
	if strings.Contains(r.Header.Get("Accept"), "vnd.elasticsearch+json") {
		ct = "application/vnd.elasticsearch+json;compatible-with=8"
	}
	w.Header().Set("Content-Type", ct)
	if v == nil || r.Method == http.MethodHead {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"type":"exception","reason":"test server: encoding the answer failed"},"status":500}`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
