package registry_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// serve runs one request through the handler in-process and fails on a non-200 answer.
func serve(b *testing.B, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, path, nil)
	} else {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctV1)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
	}
	return w
}

// BenchmarkRegister registers a new schema (new id, next version) each iteration under
// NONE, through the handler, against the embedded etcd: two etcd transactions (snapshot
// and commit) plus the mode, config and contract reads.
func BenchmarkRegister(b *testing.B) {
	e := newEnv(b)
	e.setCompat("bench", "NONE")
	h := e.reg.Handler()
	bodies := make([]string, b.N)
	for i := range bodies {
		bodies[i] = fmt.Sprintf(`{"schema":%q}`, rec("R", fld(fmt.Sprintf("f%d", i), `"string"`)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		serve(b, h, "POST", "/subjects/bench/versions", bodies[i])
	}
}

// BenchmarkLookupByIDCached reads one schema by id. Despite the name, nothing is cached
// on this path: the store's cache holds parsed schemas (used by compatibility checks and
// contracts), while GET /schemas/ids/{id} reads the record from etcd on every request.
func BenchmarkLookupByIDCached(b *testing.B) {
	e := newEnv(b)
	id := e.register("bench", userV1).ID
	h := e.reg.Handler()
	path := fmt.Sprintf("/schemas/ids/%d", id)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		serve(b, h, "GET", path, "")
	}
}

// BenchmarkCompatibilityCheck50Fields checks a 50-field record under FULL_TRANSITIVE
// against 3 registered versions (both directions against each).
func BenchmarkCompatibilityCheck50Fields(b *testing.B) {
	e := newEnv(b)
	e.setCompat("bench", "FULL_TRANSITIVE")
	types := []string{`"string"`, `"long"`, `"double"`, `"boolean"`, `["null","string"]`}
	defaults := []string{`""`, `0`, `0.0`, `false`, `null`}
	schemaWith := func(n int) string {
		fields := make([]string, n)
		for i := range fields {
			fields[i] = fldDef(fmt.Sprintf("f%02d", i), types[i%len(types)], defaults[i%len(defaults)])
		}
		return rec("com.acme.Wide", fields...)
	}
	for _, n := range []int{47, 48, 49} {
		e.register("bench", schemaWith(n))
	}
	h := e.reg.Handler()
	body := fmt.Sprintf(`{"schema":%q}`, schemaWith(50))
	path := "/compatibility/subjects/bench/versions?verbose=true"
	var got compatResp
	if err := json.Unmarshal(serve(b, h, "POST", path, body).Body.Bytes(), &got); err != nil || !got.IsCompatible {
		b.Fatalf("candidate not compatible: %+v %v", got, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		serve(b, h, "POST", path, body)
	}
}
