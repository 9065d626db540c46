package registry_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/registry"
)

// Schemas shared by several tests.
var (
	userV1 = rec("com.acme.User", fld("id", `"long"`), fld("name", `"string"`))
	// userV2 adds an optional field: BACKWARD and FORWARD compatible with userV1.
	userV2 = rec("com.acme.User", fld("id", `"long"`), fld("name", `"string"`), fldDef("email", `"string"`, `""`))
	// userV3 adds a second optional field.
	userV3 = rec("com.acme.User", fld("id", `"long"`), fld("name", `"string"`), fldDef("email", `"string"`, `""`), fldDef("age", `"int"`, `0`))
	// userBad changes id to string: incompatible with all of the above in any direction.
	userBad = rec("com.acme.User", fld("id", `"string"`), fld("name", `"string"`))
)

func TestRegisterAssignsAndReusesIDs(t *testing.T) {
	e := newEnv(t)

	// The first schema gets id 1, version 1; the body carries exactly id and version.
	r := e.ok("POST", "/subjects/orders/versions", schemaBody{Schema: userV1}, nil)
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["id"] != float64(1) || raw["version"] != float64(1) {
		t.Fatalf("first registration answered %s, want id 1 version 1", r.body)
	}

	// The same schema with other whitespace, key order and shorthand is the same schema.
	reordered := `{
	  "fields": [ {"type": {"type":"long"}, "name": "id"},
	              {"name":"name",   "type":"string"} ],
	  "name": "User", "namespace": "com.acme", "type": "record"
	}`
	if got := e.register("orders", reordered); got != (regResp{ID: 1, Version: 1}) {
		t.Errorf("re-registering the same schema reformatted: got %+v, want id 1 version 1", got)
	}
	vs := []int{}
	e.ok("GET", "/subjects/orders/versions", nil, &vs)
	if !reflect.DeepEqual(vs, []int{1}) {
		t.Errorf("versions after re-registering the same schema: %v, want [1]", vs)
	}

	// The same schema in another subject keeps its id and starts at version 1 there.
	if got := e.register("invoices", userV1); got != (regResp{ID: 1, Version: 1}) {
		t.Errorf("same schema in another subject: got %+v, want id 1 version 1", got)
	}

	// A different schema is a new id and the next version.
	if got := e.register("orders", userV2); got != (regResp{ID: 2, Version: 2}) {
		t.Errorf("new schema: got %+v, want id 2 version 2", got)
	}
	// Changing only a default is a different schema too.
	other := rec("com.acme.User", fld("id", `"long"`), fld("name", `"string"`), fldDef("email", `"string"`, `"none"`))
	if got := e.register("orders", other); got != (regResp{ID: 3, Version: 3}) {
		t.Errorf("schema with a changed default: got %+v, want id 3 version 3", got)
	}
}

func TestIDsAreNeverReusedAfterPermanentDelete(t *testing.T) {
	e := newEnv(t)
	a := rec("A", fld("a", `"string"`))
	b := rec("A", fld("a", `"string"`), fldDef("b", `"string"`, `""`))

	if got := e.register("s", a); got != (regResp{ID: 1, Version: 1}) {
		t.Fatalf("register A: %+v", got)
	}
	var deleted []int
	e.ok("DELETE", "/subjects/s", nil, &deleted)
	e.ok("DELETE", "/subjects/s?permanent=true", nil, &deleted)
	if !reflect.DeepEqual(deleted, []int{1}) {
		t.Fatalf("permanent delete answered %v, want [1]", deleted)
	}
	e.fail("GET", "/subjects/s/versions", nil, 404, schemas.CodeSubjectNotFound)

	// B is new: it gets id 2, never the freed 1; versions restart in the emptied subject.
	if got := e.register("s", b); got != (regResp{ID: 2, Version: 1}) {
		t.Errorf("register B after hard delete: got %+v, want id 2 version 1", got)
	}
	// A keeps its identity: id 1 again, as the next version.
	if got := e.register("s", a); got != (regResp{ID: 1, Version: 2}) {
		t.Errorf("re-register A: got %+v, want id 1 version 2", got)
	}
	// The id's record stayed readable throughout.
	var byID struct{ Schema string }
	e.ok("GET", "/schemas/ids/1", nil, &byID)
	if !sameJSON(t, byID.Schema, `{"type":"record","name":"A","fields":[{"name":"a","type":"string"}]}`) {
		t.Errorf("schema 1 is %s", byID.Schema)
	}
}

func TestLookupSchemaInSubject(t *testing.T) {
	e := newEnv(t)
	e.register("s", userV1)
	e.register("s", userV2)
	e.register("elsewhere", userV3)
	var v2 versionResp
	e.ok("GET", "/subjects/s/versions/2", nil, &v2)

	t.Run("found", func(t *testing.T) {
		var got versionResp
		// Reformatted: lookup is by identity, not by text.
		e.ok("POST", "/subjects/s", schemaBody{Schema: strings.ReplaceAll(userV2, ",", " , ")}, &got)
		if got.Subject != "s" || got.ID != 2 || got.Version != 2 {
			t.Errorf("lookup: got %+v, want subject s id 2 version 2", got)
		}
		if got.Schema != v2.Schema {
			t.Errorf("lookup schema %s, want the registered %s", got.Schema, v2.Schema)
		}
	})
	errCases := []struct {
		name, subject, schema string
		status, code          int
	}{
		{"unknown subject", "nope", userV1, 404, schemas.CodeSubjectNotFound},
		{"unknown schema", "s", userBad, 404, schemas.CodeSchemaNotFound},
		{"schema of another subject", "s", userV3, 404, schemas.CodeSchemaNotFound},
		{"invalid schema", "s", `{"type":"record"}`, 422, schemas.CodeInvalidSchema},
	}
	for _, c := range errCases {
		t.Run(c.name, func(t *testing.T) {
			e.fail("POST", "/subjects/"+c.subject, schemaBody{Schema: c.schema}, c.status, c.code)
		})
	}
	t.Run("soft-deleted version only with deleted=true", func(t *testing.T) {
		e.ok("DELETE", "/subjects/s/versions/2", nil, nil)
		e.fail("POST", "/subjects/s", schemaBody{Schema: userV2}, 404, schemas.CodeSchemaNotFound)
		var got versionResp
		e.ok("POST", "/subjects/s?deleted=true", schemaBody{Schema: userV2}, &got)
		if got.ID != 2 || got.Version != 2 {
			t.Errorf("lookup deleted=true: got %+v, want id 2 version 2", got)
		}
	})
	t.Run("soft-deleted subject only with deleted=true", func(t *testing.T) {
		e.ok("DELETE", "/subjects/s", nil, nil)
		e.fail("POST", "/subjects/s", schemaBody{Schema: userV1}, 404, schemas.CodeSubjectNotFound)
		var got versionResp
		e.ok("POST", "/subjects/s?deleted=true", schemaBody{Schema: userV1}, &got)
		if got.ID != 1 || got.Version != 1 {
			t.Errorf("lookup deleted=true: got %+v, want id 1 version 1", got)
		}
	})
}

func TestVersionReads(t *testing.T) {
	e := newEnv(t)
	for i, s := range []string{userV1, userV2, userV3} {
		if got := e.register("s", s); got.Version != i+1 {
			t.Fatalf("register version %d: %+v", i+1, got)
		}
	}
	getV := func(path string) versionResp {
		t.Helper()
		var v versionResp
		e.ok("GET", path, nil, &v)
		return v
	}
	versions := func(path string) []int {
		t.Helper()
		var vs []int
		e.ok("GET", path, nil, &vs)
		return vs
	}

	if vs := versions("/subjects/s/versions"); !reflect.DeepEqual(vs, []int{1, 2, 3}) {
		t.Errorf("versions: %v", vs)
	}
	v3 := getV("/subjects/s/versions/3")
	if v3.Subject != "s" || v3.Version != 3 || v3.ID != 3 || !sameJSON(t, v3.Schema, userV3) {
		t.Errorf("version 3: %+v", v3)
	}
	if v3.SchemaType != "" {
		t.Errorf("schemaType %q on an AVRO version; Confluent omits it", v3.SchemaType)
	}
	for _, alias := range []string{"latest", "-1"} {
		if got := getV("/subjects/s/versions/" + alias); !reflect.DeepEqual(got, v3) {
			t.Errorf("versions/%s: %+v, want version 3", alias, got)
		}
	}
	v2 := getV("/subjects/s/versions/2")
	if v2.Version != 2 || v2.ID != 2 || !sameJSON(t, v2.Schema, userV2) {
		t.Errorf("version 2: %+v", v2)
	}

	// /schema is the schema itself as the JSON document.
	r := e.ok("GET", "/subjects/s/versions/2/schema", nil, nil)
	if string(r.body) != v2.Schema {
		t.Errorf("versions/2/schema body %s, want %s", r.body, v2.Schema)
	}
	r = e.ok("GET", "/subjects/s/versions/latest/schema", nil, nil)
	if string(r.body) != v3.Schema {
		t.Errorf("versions/latest/schema body %s, want %s", r.body, v3.Schema)
	}

	// Soft-deleting version 3 hides it unless deleted=true.
	e.ok("DELETE", "/subjects/s/versions/3", nil, nil)
	if vs := versions("/subjects/s/versions"); !reflect.DeepEqual(vs, []int{1, 2}) {
		t.Errorf("versions after soft delete: %v", vs)
	}
	if vs := versions("/subjects/s/versions?deleted=true"); !reflect.DeepEqual(vs, []int{1, 2, 3}) {
		t.Errorf("versions?deleted=true: %v", vs)
	}
	if got := getV("/subjects/s/versions/latest"); got.Version != 2 {
		t.Errorf("latest after soft-deleting 3: version %d, want 2", got.Version)
	}
	e.fail("GET", "/subjects/s/versions/3", nil, 404, schemas.CodeVersionNotFound)
	e.fail("GET", "/subjects/s/versions/3/schema", nil, 404, schemas.CodeVersionNotFound)
	if got := getV("/subjects/s/versions/3?deleted=true"); got.Version != 3 || got.ID != 3 {
		t.Errorf("versions/3?deleted=true: %+v", got)
	}

	e.fail("GET", "/subjects/s/versions/7", nil, 404, schemas.CodeVersionNotFound)
	e.fail("GET", "/subjects/nope/versions", nil, 404, schemas.CodeSubjectNotFound)
	e.fail("GET", "/subjects/nope/versions/1", nil, 404, schemas.CodeSubjectNotFound)
	e.fail("GET", "/subjects/nope/versions/latest", nil, 404, schemas.CodeSubjectNotFound)
	for _, bad := range []string{"abc", "0", "-2", "2147483648", "1.5"} {
		e.fail("GET", "/subjects/s/versions/"+bad, nil, 422, schemas.CodeInvalidVersion)
	}
}

func TestSchemasByID(t *testing.T) {
	e := newEnv(t)
	e.register("s1", userV1)
	e.register("s2", userV1)
	e.register("s1", userV2)

	var byID map[string]any
	e.ok("GET", "/schemas/ids/1", nil, &byID)
	if len(byID) != 1 || !sameJSON(t, byID["schema"].(string), userV1) {
		t.Errorf("/schemas/ids/1: %v, want only the schema (no schemaType for AVRO, no references)", byID)
	}
	r := e.ok("GET", "/schemas/ids/2/schema", nil, nil)
	if !sameJSON(t, string(r.body), userV2) {
		t.Errorf("/schemas/ids/2/schema: %s", r.body)
	}
	var subjects []string
	e.ok("GET", "/schemas/ids/1/subjects", nil, &subjects)
	if !reflect.DeepEqual(subjects, []string{"s1", "s2"}) {
		t.Errorf("/schemas/ids/1/subjects: %v", subjects)
	}
	var uses []struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	e.ok("GET", "/schemas/ids/1/versions", nil, &uses)
	if fmt.Sprint(uses) != "[{s1 1} {s2 1}]" {
		t.Errorf("/schemas/ids/1/versions: %v", uses)
	}
	e.ok("GET", "/schemas/ids/2/subjects", nil, &subjects)
	if !reflect.DeepEqual(subjects, []string{"s1"}) {
		t.Errorf("/schemas/ids/2/subjects: %v", subjects)
	}

	// Soft-deleted uses are listed only with deleted=true.
	e.ok("DELETE", "/subjects/s2", nil, nil)
	e.ok("GET", "/schemas/ids/1/subjects", nil, &subjects)
	if !reflect.DeepEqual(subjects, []string{"s1"}) {
		t.Errorf("/schemas/ids/1/subjects after deleting s2: %v", subjects)
	}
	e.ok("GET", "/schemas/ids/1/subjects?deleted=true", nil, &subjects)
	if !reflect.DeepEqual(subjects, []string{"s1", "s2"}) {
		t.Errorf("/schemas/ids/1/subjects?deleted=true: %v", subjects)
	}

	for _, path := range []string{"/schemas/ids/99", "/schemas/ids/99/schema", "/schemas/ids/99/subjects", "/schemas/ids/99/versions", "/schemas/ids/0", "/schemas/ids/abc"} {
		e.fail("GET", path, nil, 404, schemas.CodeSchemaNotFound)
	}

	var types []string
	e.ok("GET", "/schemas/types", nil, &types)
	if !reflect.DeepEqual(types, []string{"AVRO"}) {
		t.Errorf("/schemas/types: %v", types)
	}
}

// compatResp is the answer of the compatibility endpoint.
type compatResp struct {
	IsCompatible bool      `json:"is_compatible"`
	Messages     *[]string `json:"messages"`
}

func TestCompatibilityEndpoint(t *testing.T) {
	e := newEnv(t)
	addr := func(zip string) string {
		return `{"type":"record","name":"Address","fields":[` + fld("zip", zip) + `]}`
	}
	base := rec("Order", fld("a", `"int"`), fld("b", `"string"`), fld("addr", addr(`"int"`)))
	e.register("s", base)

	// Three problems under BACKWARD: a int->string, addr.zip int->boolean, d added without default.
	threeProblems := rec("Order", fld("a", `"string"`), fld("b", `"string"`), fld("addr", addr(`"boolean"`)), fld("d", `"long"`))

	post := func(path string, schema string) compatResp {
		t.Helper()
		var got compatResp
		e.ok("POST", path, schemaBody{Schema: schema}, &got)
		return got
	}

	t.Run("verbose lists every incompatibility", func(t *testing.T) {
		got := post("/compatibility/subjects/s/versions/latest?verbose=true", threeProblems)
		if got.IsCompatible || got.Messages == nil {
			t.Fatalf("got %+v, want incompatible with messages", got)
		}
		msgs := *got.Messages
		if len(msgs) != 4 {
			t.Fatalf("got %d messages, want 3 problems + the level: %q", len(msgs), msgs)
		}
		want := []struct{ typ, path string }{
			{"TYPE_MISMATCH", "a"},
			{"TYPE_MISMATCH", "addr.zip"},
			{"READER_FIELD_MISSING_DEFAULT_VALUE", "d"},
		}
		for i, w := range want {
			m := msgs[i]
			if !strings.Contains(m, "errorType:'"+w.typ+"'") || !strings.Contains(m, "path:'"+w.path+"'") ||
				!strings.Contains(m, "oldSchemaVersion: 1") {
				t.Errorf("message %d = %q, want errorType %s at path %s against version 1", i, m, w.typ, w.path)
			}
		}
		if msgs[3] != "{compatibility: 'BACKWARD'}" {
			t.Errorf("last message %q, want the level", msgs[3])
		}
	})
	t.Run("not verbose", func(t *testing.T) {
		got := post("/compatibility/subjects/s/versions", threeProblems)
		if got.IsCompatible || got.Messages != nil {
			t.Errorf("got %+v, want incompatible without messages", got)
		}
	})
	t.Run("compatible", func(t *testing.T) {
		got := post("/compatibility/subjects/s/versions?verbose=true", rec("Order", fld("a", `"long"`), fld("b", `"string"`), fld("addr", addr(`"int"`))))
		if !got.IsCompatible || got.Messages == nil || len(*got.Messages) != 0 {
			t.Errorf("int->long promotion: got %+v, want compatible with no messages", got)
		}
	})

	// Version forms: v2 adds e with a default; the candidate has e without one, so it
	// reads v2's data but not v1's.
	v2 := rec("Order", fld("a", `"int"`), fld("b", `"string"`), fld("addr", addr(`"int"`)), fldDef("e", `"string"`, `"x"`))
	e.register("s", v2)
	cand := rec("Order", fld("a", `"int"`), fld("b", `"string"`), fld("addr", addr(`"int"`)), fld("e", `"string"`))
	for _, c := range []struct {
		path string
		want bool
	}{
		{"/compatibility/subjects/s/versions/latest", true},
		{"/compatibility/subjects/s/versions/-1", true},
		{"/compatibility/subjects/s/versions/2", true},
		{"/compatibility/subjects/s/versions/1", false},
		{"/compatibility/subjects/s/versions", true}, // BACKWARD: latest only
	} {
		if got := post(c.path, cand); got.IsCompatible != c.want {
			t.Errorf("%s: is_compatible %v, want %v", c.path, got.IsCompatible, c.want)
		}
	}
	e.setCompat("s", "BACKWARD_TRANSITIVE")
	got := post("/compatibility/subjects/s/versions?verbose=true", cand)
	if got.IsCompatible || got.Messages == nil || len(*got.Messages) != 2 ||
		!strings.Contains((*got.Messages)[0], "oldSchemaVersion: 1") || (*got.Messages)[1] != "{compatibility: 'BACKWARD_TRANSITIVE'}" {
		t.Errorf("BACKWARD_TRANSITIVE against all versions: %+v", got)
	}
	// Against one named version, transitivity does not matter.
	if got := post("/compatibility/subjects/s/versions/2", cand); !got.IsCompatible {
		t.Errorf("BACKWARD_TRANSITIVE against version 2 only: incompatible")
	}

	t.Run("errors", func(t *testing.T) {
		e.fail("POST", "/compatibility/subjects/nope/versions/latest", schemaBody{Schema: base}, 404, schemas.CodeSubjectNotFound)
		e.fail("POST", "/compatibility/subjects/nope/versions/1", schemaBody{Schema: base}, 404, schemas.CodeSubjectNotFound)
		e.fail("POST", "/compatibility/subjects/s/versions/9", schemaBody{Schema: base}, 404, schemas.CodeVersionNotFound)
		e.fail("POST", "/compatibility/subjects/s/versions/0", schemaBody{Schema: base}, 422, schemas.CodeInvalidVersion)
		e.fail("POST", "/compatibility/subjects/s/versions", schemaBody{Schema: `{"type":"nope"}`}, 422, schemas.CodeInvalidSchema)
	})
	t.Run("new subject is compatible", func(t *testing.T) {
		got := post("/compatibility/subjects/brand-new/versions?verbose=true", base)
		if !got.IsCompatible {
			t.Errorf("no-version form on a new subject: %+v", got)
		}
		// Nothing was registered by the check.
		e.fail("GET", "/subjects/brand-new/versions", nil, 404, schemas.CodeSubjectNotFound)
	})
}

func TestRegisterEnforcesCompatibility(t *testing.T) {
	e := newEnv(t)
	e.register("s", userV1)

	// BACKWARD is the default: an incompatible schema is refused with 409.
	msg := e.fail("POST", "/subjects/s/versions", schemaBody{Schema: userBad}, 409, schemas.CodeIncompatible)
	if !strings.Contains(msg, "TYPE_MISMATCH") || !strings.Contains(msg, "path:'id'") {
		t.Errorf("409 message does not name the problem: %s", msg)
	}
	var vs []int
	e.ok("GET", "/subjects/s/versions", nil, &vs)
	if !reflect.DeepEqual(vs, []int{1}) {
		t.Errorf("a refused schema left versions %v", vs)
	}
	// Under NONE the same schema is accepted.
	e.setCompat("s", "NONE")
	if got := e.register("s", userBad); got.Version != 2 {
		t.Errorf("register under NONE: %+v", got)
	}

	// Transitive vs not: v1 {a}; v2 {a, e=default}; candidate {a, e} reads v2 but not v1.
	v1 := rec("T", fld("a", `"string"`))
	v2 := rec("T", fld("a", `"string"`), fldDef("e", `"string"`, `""`))
	cand := rec("T", fld("a", `"string"`), fld("e", `"string"`))
	for _, c := range []struct {
		level string
		ok    bool
	}{
		{"BACKWARD", true},
		{"BACKWARD_TRANSITIVE", false},
		{"FULL", true},
		{"FULL_TRANSITIVE", false},
	} {
		t.Run(c.level, func(t *testing.T) {
			subject := "t-" + strings.ToLower(c.level)
			e.register(subject, v1)
			e.register(subject, v2)
			e.setCompat(subject, c.level)
			if c.ok {
				if got := e.register(subject, cand); got.Version != 3 {
					t.Errorf("%s: %+v", c.level, got)
				}
			} else {
				e.fail("POST", "/subjects/"+subject+"/versions", schemaBody{Schema: cand}, 409, schemas.CodeIncompatible)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	e := newEnv(t)
	exact := func(path string, want string) {
		t.Helper()
		r := e.ok("GET", path, nil, nil)
		if !sameJSON(t, string(r.body), want) {
			t.Errorf("GET %s: %s, want %s", path, r.body, want)
		}
	}
	exact("/config", `{"compatibilityLevel":"BACKWARD"}`)

	r := e.ok("PUT", "/config", map[string]string{"compatibility": "full"}, nil)
	if !sameJSON(t, string(r.body), `{"compatibility":"FULL"}`) {
		t.Errorf("PUT /config: %s", r.body)
	}
	exact("/config", `{"compatibilityLevel":"FULL"}`)

	// A subject's level may be set before it has any version.
	r = e.ok("PUT", "/config/s", map[string]string{"compatibility": "Forward_Transitive"}, nil)
	if !sameJSON(t, string(r.body), `{"compatibility":"FORWARD_TRANSITIVE"}`) {
		t.Errorf("PUT /config/s: %s", r.body)
	}
	exact("/config/s", `{"compatibilityLevel":"FORWARD_TRANSITIVE"}`)

	e.fail("GET", "/config/other", nil, 404, schemas.CodeSubjectCompatNotConfigured)
	exact("/config/other?defaultToGlobal=true", `{"compatibilityLevel":"FULL"}`)

	// The subject's level is the one applied.
	e.register("s", userV1)
	var got compatResp
	e.ok("POST", "/compatibility/subjects/s/versions?verbose=true", schemaBody{Schema: userBad}, &got)
	if got.Messages == nil || !slices.Contains(*got.Messages, "{compatibility: 'FORWARD_TRANSITIVE'}") {
		t.Errorf("level applied before delete: %+v", got)
	}

	// DELETE answers the previous level and falls back to the global one.
	r = e.ok("DELETE", "/config/s", nil, nil)
	if !sameJSON(t, string(r.body), `{"compatibilityLevel":"FORWARD_TRANSITIVE"}`) {
		t.Errorf("DELETE /config/s: %s", r.body)
	}
	e.fail("GET", "/config/s", nil, 404, schemas.CodeSubjectCompatNotConfigured)
	exact("/config/s?defaultToGlobal=true", `{"compatibilityLevel":"FULL"}`)
	e.ok("POST", "/compatibility/subjects/s/versions?verbose=true", schemaBody{Schema: userBad}, &got)
	if got.Messages == nil || !slices.Contains(*got.Messages, "{compatibility: 'FULL'}") {
		t.Errorf("level applied after delete: %+v", got)
	}
	e.fail("DELETE", "/config/s", nil, 404, schemas.CodeSubjectCompatNotConfigured)

	// Deleting the global level returns it and restores the default.
	r = e.ok("DELETE", "/config", nil, nil)
	if !sameJSON(t, string(r.body), `{"compatibilityLevel":"FULL"}`) {
		t.Errorf("DELETE /config: %s", r.body)
	}
	exact("/config", `{"compatibilityLevel":"BACKWARD"}`)

	for _, bad := range []string{"SIDEWAYS", "", " FULL", "full-transitive"} {
		for _, path := range []string{"/config", "/config/s"} {
			msg := e.fail("PUT", path, map[string]string{"compatibility": bad}, 422, schemas.CodeInvalidCompatibilityLevel)
			if !strings.Contains(msg, "backward_transitive") {
				t.Errorf("PUT %s %q: message does not list the levels: %s", path, bad, msg)
			}
		}
	}
	exact("/config", `{"compatibilityLevel":"BACKWARD"}`)
}

func TestMode(t *testing.T) {
	e := newEnv(t)
	exact := func(path string, want string) {
		t.Helper()
		r := e.ok("GET", path, nil, nil)
		if !sameJSON(t, string(r.body), want) {
			t.Errorf("GET %s: %s, want %s", path, r.body, want)
		}
	}
	e.register("s", userV1)
	e.register("s", userV2)
	exact("/mode", `{"mode":"READWRITE"}`)

	r := e.ok("PUT", "/mode", map[string]string{"mode": "READONLY"}, nil)
	if !sameJSON(t, string(r.body), `{"mode":"READONLY"}`) {
		t.Errorf("PUT /mode: %s", r.body)
	}
	exact("/mode", `{"mode":"READONLY"}`)
	e.fail("POST", "/subjects/s/versions", schemaBody{Schema: userV3}, 422, schemas.CodeOperationNotPermitted)
	e.fail("POST", "/subjects/new/versions", schemaBody{Schema: userV3}, 422, schemas.CodeOperationNotPermitted)
	e.fail("DELETE", "/subjects/s/versions/2", nil, 422, schemas.CodeOperationNotPermitted)
	e.fail("DELETE", "/subjects/s", nil, 422, schemas.CodeOperationNotPermitted)
	// Reads still work.
	e.ok("GET", "/subjects/s/versions/latest", nil, nil)
	e.ok("POST", "/subjects/s", schemaBody{Schema: userV1}, nil)

	e.ok("PUT", "/mode", map[string]string{"mode": "READWRITE"}, nil)
	e.register("s", userV3)
	e.ok("DELETE", "/subjects/s/versions/3", nil, nil)

	// Per subject.
	e.fail("GET", "/mode/s", nil, 404, schemas.CodeSubjectModeNotConfigured)
	exact("/mode/s?defaultToGlobal=true", `{"mode":"READWRITE"}`)
	e.ok("PUT", "/mode/s", map[string]string{"mode": "READONLY"}, nil)
	exact("/mode/s", `{"mode":"READONLY"}`)
	exact("/mode", `{"mode":"READWRITE"}`)
	e.fail("POST", "/subjects/s/versions", schemaBody{Schema: userV3}, 422, schemas.CodeOperationNotPermitted)
	e.fail("DELETE", "/subjects/s/versions/1", nil, 422, schemas.CodeOperationNotPermitted)
	e.register("other", userV1) // other subjects are unaffected
	r = e.ok("DELETE", "/mode/s", nil, nil)
	if !sameJSON(t, string(r.body), `{"mode":"READONLY"}`) {
		t.Errorf("DELETE /mode/s: %s", r.body)
	}
	e.fail("GET", "/mode/s", nil, 404, schemas.CodeSubjectModeNotConfigured)
	e.register("s", userV3)

	for _, bad := range []string{"SLEEPY", "", "READ_WRITE"} {
		e.fail("PUT", "/mode", map[string]string{"mode": bad}, 422, schemas.CodeInvalidMode)
		e.fail("PUT", "/mode/s", map[string]string{"mode": bad}, 422, schemas.CodeInvalidMode)
	}
	exact("/mode", `{"mode":"READWRITE"}`)
}

func TestImportMode(t *testing.T) {
	t.Run("empty registry", func(t *testing.T) {
		e := newEnv(t)
		r := e.ok("PUT", "/mode", map[string]string{"mode": "IMPORT"}, nil)
		if !sameJSON(t, string(r.body), `{"mode":"IMPORT"}`) {
			t.Errorf("PUT /mode IMPORT: %s", r.body)
		}
		var got regResp
		e.ok("POST", "/subjects/imp/versions", schemaBody{Schema: userV1, ID: 7, Version: 4}, &got)
		if got != (regResp{ID: 7, Version: 4}) {
			t.Errorf("import: got %+v, want id 7 version 4", got)
		}
		// IMPORT copies history verbatim: no compatibility check.
		e.ok("POST", "/subjects/imp/versions", schemaBody{Schema: userBad, ID: 3, Version: 5}, &got)
		if got != (regResp{ID: 3, Version: 5}) {
			t.Errorf("import: got %+v, want id 3 version 5", got)
		}
		e.fail("POST", "/subjects/imp/versions", schemaBody{Schema: userV2}, 422, schemas.CodeOperationNotPermitted)
		// An id already holding another schema cannot be overwritten.
		e.fail("POST", "/subjects/imp/versions", schemaBody{Schema: userV2, ID: 7, Version: 6}, 422, schemas.CodeIDDoesNotMatch)

		e.ok("PUT", "/mode", map[string]string{"mode": "READWRITE"}, nil)
		var v versionResp
		e.ok("GET", "/subjects/imp/versions/4", nil, &v)
		if v.ID != 7 || !sameJSON(t, v.Schema, userV1) {
			t.Errorf("imported version 4: %+v", v)
		}
		e.fail("POST", "/subjects/imp/versions", schemaBody{Schema: userV2, ID: 99}, 422, schemas.CodeOperationNotPermitted)
		e.setCompat("imp", "NONE")
		if got := e.register("imp", userV2); got != (regResp{ID: 8, Version: 6}) {
			t.Errorf("normal registration after import: got %+v, want id 8 (above the imported 7) version 6", got)
		}
		if got := e.register("fresh", userV3); got.ID != 9 {
			t.Errorf("next id: %+v, want 9", got)
		}
	})
	t.Run("non-empty registry", func(t *testing.T) {
		e := newEnv(t)
		e.register("s", userV1)
		e.fail("PUT", "/mode", map[string]string{"mode": "IMPORT"}, 422, schemas.CodeOperationNotPermitted)
		e.fail("PUT", "/mode/s", map[string]string{"mode": "IMPORT"}, 422, schemas.CodeOperationNotPermitted)
		r := e.ok("GET", "/mode", nil, nil)
		if !sameJSON(t, string(r.body), `{"mode":"READWRITE"}`) {
			t.Errorf("refused IMPORT changed the mode: %s", r.body)
		}
		// A subject without versions may be imported into.
		e.ok("PUT", "/mode/imp", map[string]string{"mode": "IMPORT"}, nil)

		e.ok("PUT", "/mode?force=true", map[string]string{"mode": "IMPORT"}, nil)
		var got regResp
		e.ok("POST", "/subjects/imp/versions", schemaBody{Schema: userV2, ID: 100, Version: 1}, &got)
		if got != (regResp{ID: 100, Version: 1}) {
			t.Errorf("import: %+v", got)
		}
		e.ok("PUT", "/mode", map[string]string{"mode": "READWRITE"}, nil)
		e.ok("DELETE", "/mode/imp", nil, nil)
		if got := e.register("later", userV3); got.ID <= 100 {
			t.Errorf("registration after import got id %d, want > 100", got.ID)
		}
	})
}

func TestDeleteRules(t *testing.T) {
	e := newEnv(t)
	e.register("s", userV1)
	e.register("s", userV2)
	e.register("s", userV3)

	type call struct {
		method, path string
		status, code int    // code 0: success
		want         string // JSON body on success
	}
	steps := []call{
		{"DELETE", "/subjects/nope", 404, schemas.CodeSubjectNotFound, ""},
		{"DELETE", "/subjects/nope?permanent=true", 404, schemas.CodeSubjectNotFound, ""},
		{"DELETE", "/subjects/nope/versions/1", 404, schemas.CodeSubjectNotFound, ""},
		{"DELETE", "/subjects/s/versions/9", 404, schemas.CodeVersionNotFound, ""},
		{"DELETE", "/subjects/s/versions/abc", 422, schemas.CodeInvalidVersion, ""},
		{"DELETE", "/subjects/s/versions/0", 422, schemas.CodeInvalidVersion, ""},
		{"DELETE", "/subjects/s/versions/-2", 422, schemas.CodeInvalidVersion, ""},
		{"DELETE", "/subjects/s/versions/2147483648", 422, schemas.CodeInvalidVersion, ""},
		// Permanent deletes need a soft delete first.
		{"DELETE", "/subjects/s/versions/1?permanent=true", 404, schemas.CodeVersionNotSoftDeleted, ""},
		{"DELETE", "/subjects/s?permanent=true", 404, schemas.CodeSubjectNotSoftDeleted, ""},
		{"DELETE", "/subjects/s/versions/1", 200, 0, `1`},
		{"DELETE", "/subjects/s/versions/1", 404, schemas.CodeVersionSoftDeleted, ""},
		{"GET", "/subjects/s/versions", 200, 0, `[2,3]`},
		{"DELETE", "/subjects/s/versions/1?permanent=true", 200, 0, `1`},
		{"DELETE", "/subjects/s/versions/1?permanent=true", 404, schemas.CodeVersionNotFound, ""},
		{"GET", "/subjects/s/versions?deleted=true", 200, 0, `[2,3]`},
		{"DELETE", "/subjects/s/versions/latest", 200, 0, `3`},
		{"GET", "/subjects/s/versions?deleted=true", 200, 0, `[2,3]`},
		{"DELETE", "/subjects/s", 200, 0, `[2]`},
		{"DELETE", "/subjects/s", 404, schemas.CodeSubjectSoftDeleted, ""},
		{"GET", "/subjects", 200, 0, `[]`},
		{"GET", "/subjects?deleted=true", 200, 0, `["s"]`},
		{"GET", "/subjects/s/versions", 404, schemas.CodeSubjectNotFound, ""},
		{"DELETE", "/subjects/s?permanent=true", 200, 0, `[2,3]`},
		{"GET", "/subjects?deleted=true", 200, 0, `[]`},
		{"DELETE", "/subjects/s", 404, schemas.CodeSubjectNotFound, ""},
		{"DELETE", "/subjects/s?permanent=true", 404, schemas.CodeSubjectNotFound, ""},
	}
	for i, c := range steps {
		what := fmt.Sprintf("step %d: %s %s", i, c.method, c.path)
		r := e.send(request{method: c.method, path: c.path})
		if c.code != 0 {
			checkError(t, what, r.status, r.body, c.status, c.code)
			continue
		}
		if r.status != c.status || !sameJSON(t, string(r.body), c.want) {
			t.Fatalf("%s: status %d body %s, want %d %s", what, r.status, r.body, c.status, c.want)
		}
	}
	// Ids outlive their versions.
	e.ok("GET", "/schemas/ids/3", nil, nil)
}

// orderSchema is a subject for contract tests: a nested record, a nullable field, a
// double, a timestamp and two ways of classifying PII.
var orderSchema = `{"type":"record","name":"Order","namespace":"com.acme","fields":[
	{"name":"order_id","type":"string"},
	{"name":"amount","type":"double"},
	{"name":"note","type":["null","string"],"default":null},
	{"name":"created_at","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"seq","type":"int"},
	{"name":"email","type":"string","waybill.classification":"pii"},
	{"name":"address","type":{"type":"record","name":"Address","fields":[
		{"name":"street","type":"string","confluent:tags":["PII"]},
		{"name":"city","type":"string"}]}}
]}`

func validContract() map[string]any {
	return map[string]any{
		"owner":       "payments-team",
		"description": "orders placed",
		"key_field":   "order_id",
		"time_field":  "created_at",
		"routes": map[string]any{
			"allowed":  []string{"warehouse", "analytics"},
			"required": []string{"warehouse"},
			"default":  []string{"analytics"},
		},
		"pii": map[string]any{
			"analytics": map[string]string{"email": "hash", "address.street": "redact"},
		},
		"retention": "400d",
	}
}

func TestContracts(t *testing.T) {
	e := newEnv(t)
	e.fail("GET", "/contracts/orders", nil, 404, schemas.CodeSubjectNotFound)
	e.fail("PUT", "/contracts/orders", validContract(), 404, schemas.CodeSubjectNotFound)
	e.register("orders", orderSchema)
	e.fail("GET", "/contracts/orders", nil, 404, schemas.CodeContractNotFound)

	var put map[string]any
	e.ok("PUT", "/contracts/orders", validContract(), &put)
	wantClass := map[string]any{"email": "pii", "address.street": "pii"}
	if !reflect.DeepEqual(put["classification"], wantClass) {
		t.Errorf("PUT classification %v, want %v", put["classification"], wantClass)
	}
	var got map[string]any
	e.ok("GET", "/contracts/orders", nil, &got)
	if !reflect.DeepEqual(got, put) {
		t.Errorf("GET contract %v\nwant what PUT answered %v", got, put)
	}
	if got["owner"] != "payments-team" || got["key_field"] != "order_id" || got["retention"] != "400d" {
		t.Errorf("GET contract lost fields: %v", got)
	}
	// A client-supplied classification is ignored: the schema is its only source.
	c := validContract()
	c["classification"] = map[string]string{"amount": "pii"}
	e.ok("PUT", "/contracts/orders", c, &put)
	if !reflect.DeepEqual(put["classification"], wantClass) {
		t.Errorf("PUT with a client classification: %v, want %v", put["classification"], wantClass)
	}

	// A new schema version that drops the key field breaks the contract.
	noKey := strings.Replace(orderSchema, `{"name":"order_id","type":"string"},`, "", 1)
	msg := e.fail("POST", "/subjects/orders/versions", schemaBody{Schema: noKey}, 422, schemas.CodeInvalidContract)
	if !strings.Contains(msg, "key_field") {
		t.Errorf("contract-breaking registration message: %s", msg)
	}
	// One that keeps it and adds a classified field is accepted, and classification follows it.
	withPhone := strings.Replace(orderSchema, `{"name":"seq","type":"int"},`,
		`{"name":"seq","type":"int"},{"name":"phone","type":"string","default":"","confluent:tags":["PII"]},`, 1)
	e.register("orders", withPhone)
	e.ok("GET", "/contracts/orders", nil, &got)
	if want := map[string]any{"email": "pii", "address.street": "pii", "phone": "pii"}; !reflect.DeepEqual(got["classification"], want) {
		t.Errorf("classification after a new version: %v, want %v", got["classification"], want)
	}
}

func TestContractValidationReportsEveryError(t *testing.T) {
	e := newEnv(t)
	e.register("orders", orderSchema)

	with := func(edit func(c map[string]any)) map[string]any {
		c := validContract()
		edit(c)
		return c
	}
	routes := func(c map[string]any) map[string]any { return c["routes"].(map[string]any) }
	cases := []struct {
		name     string
		contract map[string]any
		paths    []string // every error's path, in the order reported
	}{
		{"unknown key field", with(func(c map[string]any) { c["key_field"] = "nope" }), []string{"key_field"}},
		{"double key", with(func(c map[string]any) { c["key_field"] = "amount" }), []string{"key_field"}},
		{"nullable union key", with(func(c map[string]any) { c["key_field"] = "note" }), []string{"key_field"}},
		{"nested unknown key", with(func(c map[string]any) { c["key_field"] = "address.zip" }), []string{"key_field"}},
		{"plain int time", with(func(c map[string]any) { c["time_field"] = "seq" }), []string{"time_field"}},
		{"required not allowed", with(func(c map[string]any) { routes(c)["required"] = []string{"warehouse", "billing"} }), []string{"routes.required[1]"}},
		{"default not allowed", with(func(c map[string]any) { routes(c)["default"] = []string{"billing"} }), []string{"routes.default[0]"}},
		{"unknown handling", with(func(c map[string]any) {
			c["pii"] = map[string]any{"analytics": map[string]string{"email": "encrypt"}}
		}), []string{"pii.analytics.email"}},
		{"pii on unknown route", with(func(c map[string]any) {
			c["pii"] = map[string]any{"billing": map[string]string{"email": "hash"}}
		}), []string{"pii.billing"}},
		{"pii on unknown field", with(func(c map[string]any) {
			c["pii"] = map[string]any{"analytics": map[string]string{"address.zip": "hash"}}
		}), []string{"pii.analytics.address.zip"}},
		{"bad retention", with(func(c map[string]any) { c["retention"] = "forever" }), []string{"retention"}},
		{"negative retention", with(func(c map[string]any) { c["retention"] = "-5d" }), []string{"retention"}},
		{"missing owner", with(func(c map[string]any) { delete(c, "owner") }), []string{"owner"}},
		{"everything at once", map[string]any{
			"key_field":  "note",
			"time_field": "seq",
			"routes": map[string]any{
				"allowed":  []string{"warehouse"},
				"required": []string{"billing"},
				"default":  []string{"archive"},
			},
			"pii": map[string]any{
				"warehouse": map[string]string{"email": "encrypt", "ghost": "hash"},
				"billing":   map[string]string{"email": "hash"},
			},
			"retention": "soon",
		}, []string{
			"owner", "key_field", "time_field", "routes.required[0]", "routes.default[0]",
			"pii.billing", "pii.warehouse.email", "pii.warehouse.ghost", "retention",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := e.fail("PUT", "/contracts/orders", c.contract, 422, schemas.CodeInvalidContract)
			_, list, ok := strings.Cut(msg, "): ")
			if !ok {
				t.Fatalf("message does not list the errors: %s", msg)
			}
			paths := errorPaths(list)
			if !reflect.DeepEqual(paths, c.paths) {
				t.Errorf("error paths %q, want %q\nmessage: %s", paths, c.paths, msg)
			}
		})
	}
	// Nothing invalid was stored.
	e.fail("GET", "/contracts/orders", nil, 404, schemas.CodeContractNotFound)
}

// errorPaths returns the path of every "path: message" item in a "; "-joined list. A
// message may itself contain "; ", so an item starts only where a space-free path
// is followed by ": ".
func errorPaths(list string) []string {
	var paths []string
	for _, item := range strings.Split(list, "; ") {
		if p, _, ok := strings.Cut(item, ": "); ok && p != "" && !strings.ContainsAny(p, " \"'") {
			paths = append(paths, p)
		}
	}
	return paths
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	e.register("s", userV1)
	big := strings.Repeat(" ", schemas.MaxSchemaBytes) + userV2 // valid JSON, over the schema limit
	cases := []struct {
		name         string
		rq           request
		status, code int
		msgHas       string
	}{
		{"malformed JSON", request{"POST", "/subjects/s/versions", `{"schema":`, ""}, 400, 400, ""},
		{"malformed JSON lookup", request{"POST", "/subjects/s", `{"schema" "x"}`, ""}, 400, 400, ""},
		{"malformed JSON config", request{"PUT", "/config", `{`, ""}, 400, 400, ""},
		{"empty body", request{"POST", "/subjects/s/versions", ``, ""}, 400, 400, ""},
		{"schema is a number", request{"POST", "/subjects/s/versions", `{"schema":42}`, ""}, 422, 422, "schema"},
		{"references not a list", request{"POST", "/subjects/s/versions", `{"schema":"\"int\"","references":"x"}`, ""}, 422, 422, "references"},
		{"empty schema", request{"POST", "/subjects/s/versions", schemaBody{Schema: ""}, ""}, 422, schemas.CodeInvalidSchema, ""},
		{"no schema", request{"POST", "/subjects/s/versions", `{}`, ""}, 422, schemas.CodeInvalidSchema, ""},
		{"unknown type", request{"POST", "/subjects/s/versions", schemaBody{Schema: rec("R", fld("a", `"strnig"`))}, ""}, 422, schemas.CodeInvalidSchema, "Invalid schema: avro: unknown type: strnig"},
		{"missing fields", request{"POST", "/subjects/s/versions", schemaBody{Schema: `{"type":"record","name":"R"}`}, ""}, 422, schemas.CodeInvalidSchema, "Invalid schema: avro: record must have an array of fields"},
		{"bad default type", request{"POST", "/subjects/s/versions", schemaBody{Schema: rec("R", fldDef("a", `"int"`, `"x"`))}, ""}, 422, schemas.CodeInvalidSchema, "Invalid schema: avro: invalid default for field a"},
		{"not JSON schema", request{"POST", "/subjects/s/versions", schemaBody{Schema: `{"type":`}, ""}, 422, schemas.CodeInvalidSchema, ""},
		{"protobuf", request{"POST", "/subjects/s/versions", schemaBody{Schema: `syntax = "proto3";`, SchemaType: "PROTOBUF"}, ""}, 422, schemas.CodeInvalidSchema, "PROTOBUF"},
		{"json schema type", request{"POST", "/subjects/s/versions", schemaBody{Schema: `{"type":"object"}`, SchemaType: "JSON"}, ""}, 422, schemas.CodeInvalidSchema, "JSON"},
		{"schema over the schema limit", request{"POST", "/subjects/s/versions", schemaBody{Schema: big}, ""}, 422, schemas.CodeSchemaTooLarge, ""},
		{"schema over the limit in compatibility", request{"POST", "/compatibility/subjects/s/versions", schemaBody{Schema: big}, ""}, 422, schemas.CodeSchemaTooLarge, ""},
		{"text/plain", request{"POST", "/subjects/s/versions", schemaBody{Schema: userV2}, "text/plain"}, 415, 415, ""},
		{"bad media type", request{"PUT", "/config", `{"compatibility":"NONE"}`, "application/xml"}, 415, 415, ""},
		{"unknown route", request{"GET", "/nope", nil, ""}, 404, 404, ""},
		{"wrong method", request{"PATCH", "/subjects", nil, ""}, 405, 405, ""},
		{"wrong method on a subject", request{"PUT", "/subjects/s/versions", schemaBody{Schema: userV2}, ""}, 405, 405, ""},
		{"unknown nested route", request{"GET", "/subjects/s/versions/1/schema/extra", nil, ""}, 404, 404, ""},
		{"control character in subject", request{"POST", "/subjects/a%01b/versions", schemaBody{Schema: userV2}, ""}, 422, schemas.CodeInvalidSubject, ""},
		{"DEL in subject", request{"GET", "/subjects/a%7Fb/versions", nil, ""}, 422, schemas.CodeInvalidSubject, ""},
		{"newline in subject", request{"PUT", "/config/a%0Ab", map[string]string{"compatibility": "NONE"}, ""}, 422, schemas.CodeInvalidSubject, ""},
		{"subject too long", request{"POST", "/subjects/" + strings.Repeat("x", 256) + "/versions", schemaBody{Schema: userV2}, ""}, 422, schemas.CodeInvalidSubject, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := e.failReq(c.rq, c.status, c.code)
			if c.msgHas != "" && !strings.Contains(msg, c.msgHas) {
				t.Errorf("message %q does not contain %q", msg, c.msgHas)
			}
		})
	}
	t.Run("405 names the allowed methods", func(t *testing.T) {
		r := e.send(request{method: "DELETE", path: "/schemas/types"})
		checkError(t, "DELETE /schemas/types", r.status, r.body, 405, 405)
		if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") {
			t.Errorf("Allow header %q", allow)
		}
	})
	t.Run("oversize body", func(t *testing.T) {
		body := `{"schema":"` + strings.Repeat("x", registry.MaxBodyBytes) + `"}`
		// In-process so that the server's early answer cannot race the client's write.
		w := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/subjects/s/versions", strings.NewReader(body))
		req.Header.Set("Content-Type", ctV1)
		e.reg.Handler().ServeHTTP(w, req)
		checkError(t, "oversize body", w.Code, w.Body.Bytes(), 413, 413)
		// And over the network.
		e.failReq(request{"POST", "/subjects/s/versions", body, ""}, 413, 413)
	})
	// Nothing was registered by any of the above.
	var vs []int
	e.ok("GET", "/subjects/s/versions", nil, &vs)
	if !reflect.DeepEqual(vs, []int{1}) {
		t.Errorf("versions after bad requests: %v", vs)
	}
	var subjects []string
	e.ok("GET", "/subjects", nil, &subjects)
	if !reflect.DeepEqual(subjects, []string{"s"}) {
		t.Errorf("subjects after bad requests: %v", subjects)
	}
}

func TestSubjectWithSlash(t *testing.T) {
	e := newEnv(t)
	const s = "team%2Forders" // "team/orders"
	if got := e.register(s, userV1); got != (regResp{ID: 1, Version: 1}) {
		t.Fatalf("register: %+v", got)
	}
	e.register(s, userV2)
	e.register("team", userV3) // a subject that is a prefix of it stays separate
	var subjects []string
	e.ok("GET", "/subjects", nil, &subjects)
	if !reflect.DeepEqual(subjects, []string{"team", "team/orders"}) {
		t.Errorf("subjects: %q", subjects)
	}
	var v versionResp
	e.ok("GET", "/subjects/"+s+"/versions/1", nil, &v)
	if v.Subject != "team/orders" || v.ID != 1 {
		t.Errorf("version 1: %+v", v)
	}
	var vs []int
	e.ok("GET", "/subjects/"+s+"/versions", nil, &vs)
	if !reflect.DeepEqual(vs, []int{1, 2}) {
		t.Errorf("versions: %v", vs)
	}
	e.ok("GET", "/subjects/"+s+"/versions/latest/schema", nil, nil)
	e.ok("POST", "/subjects/"+s, schemaBody{Schema: userV1}, &v)
	if v.Subject != "team/orders" || v.Version != 1 {
		t.Errorf("lookup: %+v", v)
	}
	var c compatResp
	e.ok("POST", "/compatibility/subjects/"+s+"/versions/latest", schemaBody{Schema: userBad}, &c)
	if c.IsCompatible {
		t.Errorf("compatibility through the escaped subject did not see its versions")
	}
	e.setCompat(s, "NONE")
	r := e.ok("GET", "/config/"+s, nil, nil)
	if !sameJSON(t, string(r.body), `{"compatibilityLevel":"NONE"}`) {
		t.Errorf("config: %s", r.body)
	}
	e.fail("GET", "/config/team", nil, 404, schemas.CodeSubjectCompatNotConfigured)
	e.ok("PUT", "/mode/"+s, map[string]string{"mode": "READONLY"}, nil)
	e.fail("POST", "/subjects/"+s+"/versions", schemaBody{Schema: userBad}, 422, schemas.CodeOperationNotPermitted)
	e.ok("DELETE", "/mode/"+s, nil, nil)
	e.register(s, userBad)
	e.register("team%2Forders%2Fv2", userV1)

	var subjectsOfID []string
	e.ok("GET", "/schemas/ids/1/subjects", nil, &subjectsOfID)
	sort.Strings(subjectsOfID) // Confluent does not promise an order here
	if !reflect.DeepEqual(subjectsOfID, []string{"team/orders", "team/orders/v2"}) {
		t.Errorf("subjects of id 1: %q", subjectsOfID)
	}
	e.ok("DELETE", "/subjects/"+s+"/versions/1", nil, nil)
	var deleted []int
	e.ok("DELETE", "/subjects/"+s, nil, &deleted)
	if !reflect.DeepEqual(deleted, []int{2, 3}) {
		t.Errorf("soft delete: %v", deleted)
	}
	e.ok("DELETE", "/subjects/"+s+"?permanent=true", nil, &deleted)
	e.ok("GET", "/subjects?deleted=true", nil, &subjects)
	if !reflect.DeepEqual(subjects, []string{"team", "team/orders/v2"}) {
		t.Errorf("subjects after hard delete: %q", subjects)
	}
}

func TestContentTypes(t *testing.T) {
	e := newEnv(t)
	for i, ct := range []string{
		"application/vnd.schemaregistry.v1+json",
		"application/vnd.schemaregistry+json",
		"application/json",
		"application/json; charset=utf-8",
		"-", // none
	} {
		t.Run(ct, func(t *testing.T) {
			schema := rec("R", fld(fmt.Sprintf("f%d", i), `"int"`))
			r := e.send(request{"POST", fmt.Sprintf("/subjects/s%d/versions", i), schemaBody{Schema: schema}, ct})
			if r.status != 200 {
				t.Fatalf("register with %s: %d %s", ct, r.status, r.body)
			}
			r = e.send(request{"POST", fmt.Sprintf("/subjects/s%d", i), schemaBody{Schema: schema}, ct})
			if r.status != 200 {
				t.Fatalf("lookup with %s: %d %s", ct, r.status, r.body)
			}
			r = e.send(request{"PUT", fmt.Sprintf("/config/s%d", i), map[string]string{"compatibility": "NONE"}, ct})
			if r.status != 200 {
				t.Fatalf("config with %s: %d %s", ct, r.status, r.body)
			}
			// send asserts every response's Content-Type, raw schema bodies included.
			e.send(request{method: "GET", path: fmt.Sprintf("/subjects/s%d/versions/1/schema", i)})
		})
	}
	for _, path := range []string{"/", "/healthz", "/subjects", "/schemas/types", "/config", "/mode"} {
		if r := e.send(request{method: "GET", path: path}); r.status != 200 {
			t.Errorf("GET %s: %d", path, r.status)
		}
	}
}

func TestReferences(t *testing.T) {
	e := newEnv(t)
	address := `{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"}]}`
	customer := `{"type":"record","name":"Customer","namespace":"com.acme","fields":[
		{"name":"name","type":"string"},{"name":"address","type":"com.acme.Address"}]}`
	refs := []reference{{Name: "com.acme.Address", Subject: "addr", Version: 1}}

	if got := e.register("addr", address); got != (regResp{ID: 1, Version: 1}) {
		t.Fatalf("register addr: %+v", got)
	}
	// Without the reference the type is unknown.
	e.fail("POST", "/subjects/cust/versions", schemaBody{Schema: customer}, 422, schemas.CodeInvalidSchema)
	// A reference to a version that does not exist is an invalid schema.
	e.fail("POST", "/subjects/cust/versions", schemaBody{Schema: customer, References: []reference{{Name: "com.acme.Address", Subject: "addr", Version: 2}}}, 422, schemas.CodeInvalidSchema)
	e.fail("POST", "/subjects/cust/versions", schemaBody{Schema: customer, References: []reference{{Name: "com.acme.Address", Subject: "nope", Version: 1}}}, 422, schemas.CodeInvalidSchema)

	var got regResp
	e.ok("POST", "/subjects/cust/versions", schemaBody{Schema: customer, References: refs}, &got)
	if got != (regResp{ID: 2, Version: 1}) {
		t.Fatalf("register cust: %+v", got)
	}
	// "latest" (-1) is pinned to the version it meant, so it is the same schema.
	e.ok("POST", "/subjects/cust/versions", schemaBody{Schema: customer, References: []reference{{Name: "com.acme.Address", Subject: "addr", Version: -1}}}, &got)
	if got != (regResp{ID: 2, Version: 1}) {
		t.Errorf("register with latest reference: %+v", got)
	}

	var v versionResp
	e.ok("GET", "/subjects/cust/versions/1", nil, &v)
	if !reflect.DeepEqual(v.References, refs) {
		t.Errorf("version references %+v, want %+v", v.References, refs)
	}
	var byID versionResp
	e.ok("GET", "/schemas/ids/2", nil, &byID)
	if !reflect.DeepEqual(byID.References, refs) {
		t.Errorf("schema 2 references %+v, want %+v", byID.References, refs)
	}
	var look versionResp
	e.ok("POST", "/subjects/cust", schemaBody{Schema: customer, References: refs}, &look)
	if look.ID != 2 || !reflect.DeepEqual(look.References, refs) {
		t.Errorf("lookup: %+v", look)
	}
	// A compatible evolution of the referencing schema is checked with its references.
	customer2 := strings.Replace(customer, `{"name":"name","type":"string"},`, `{"name":"name","type":"string"},{"name":"vip","type":"boolean","default":false},`, 1)
	var c compatResp
	e.ok("POST", "/compatibility/subjects/cust/versions/latest", schemaBody{Schema: customer2, References: refs}, &c)
	if !c.IsCompatible {
		t.Errorf("compatible evolution with references reported incompatible")
	}

	// A referenced version cannot be deleted while a live schema uses it.
	e.fail("DELETE", "/subjects/addr/versions/1", nil, 422, schemas.CodeReferenceExists)
	e.fail("DELETE", "/subjects/addr", nil, 422, schemas.CodeReferenceExists)
	e.ok("GET", "/subjects/addr/versions/1", nil, nil)
	// Once the referrer is soft-deleted, it can.
	e.ok("DELETE", "/subjects/cust", nil, nil)
	e.ok("DELETE", "/subjects/addr/versions/1", nil, nil)
}

func TestStoreDownAnswers50001(t *testing.T) {
	srv, err := startEtcd(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Close()
		}
	}()
	cli, err := newEtcdClient(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	e := newEnvOn(t, cli, "/t/"+t.Name()+"/", 500*time.Millisecond)
	e.register("s", userV1)

	srv.Close()
	stopped = true

	for _, rq := range []request{
		{method: "POST", path: "/subjects/s/versions", body: schemaBody{Schema: userV2}},
		{method: "POST", path: "/subjects/s", body: schemaBody{Schema: userV1}},
		{method: "GET", path: "/subjects"},
		{method: "GET", path: "/subjects/s/versions"},
		{method: "GET", path: "/subjects/s/versions/latest"},
		{method: "GET", path: "/schemas/ids/1"},
		{method: "GET", path: "/config"},
		{method: "PUT", path: "/config/s", body: map[string]string{"compatibility": "NONE"}},
		{method: "GET", path: "/mode"},
		{method: "GET", path: "/readyz"},
		{method: "DELETE", path: "/subjects/s"},
		{method: "POST", path: "/compatibility/subjects/s/versions", body: schemaBody{Schema: userV2}},
	} {
		start := time.Now()
		msg := e.failReq(rq, 500, schemas.CodeStoreError)
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("%s %s took %v with etcd down", rq.method, rq.path, d)
		}
		if !strings.Contains(msg, "store error") {
			t.Errorf("%s %s: message %q", rq.method, rq.path, msg)
		}
	}
}

func TestConcurrentRegistrationAcrossRegistries(t *testing.T) {
	prefix := testPrefix(t)
	var envs []*env
	for range 2 {
		cli, err := newEtcdClient(etcdAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		envs = append(envs, newEnvOn(t, cli, prefix, 0))
	}
	envs[0].setCompat("s", "NONE")

	const workers, each = 8, 10
	schemaOf := func(w, i int) string { return rec("R", fld(fmt.Sprintf("f_%d_%d", w, i), `"string"`)) }
	type result struct {
		w, i int
		regResp
		err string
	}
	results := make(chan result, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := envs[w%2]
			for i := range each {
				body := fmt.Sprintf(`{"schema":%q}`, schemaOf(w, i))
				resp, err := e.srv.Client().Post(e.srv.URL+"/subjects/s/versions", ctV1, strings.NewReader(body))
				if err != nil {
					results <- result{w: w, i: i, err: err.Error()}
					continue
				}
				var rr regResp
				err = json.NewDecoder(resp.Body).Decode(&rr)
				resp.Body.Close()
				if resp.StatusCode != 200 || err != nil {
					results <- result{w: w, i: i, err: fmt.Sprintf("status %d %v", resp.StatusCode, err)}
					continue
				}
				results <- result{w: w, i: i, regResp: rr}
			}
		}()
	}
	wg.Wait()
	close(results)

	ids := map[int]bool{}
	var versions []int
	byKey := map[[2]int]regResp{}
	for r := range results {
		if r.err != "" {
			t.Errorf("worker %d schema %d: %s", r.w, r.i, r.err)
			continue
		}
		if ids[r.ID] {
			t.Errorf("id %d handed out twice", r.ID)
		}
		ids[r.ID] = true
		versions = append(versions, r.Version)
		byKey[[2]int{r.w, r.i}] = r.regResp
	}
	sort.Ints(versions)
	want := make([]int, workers*each)
	for i := range want {
		want[i] = i + 1
	}
	if !reflect.DeepEqual(versions, want) {
		t.Fatalf("versions %v, want 1..%d without gaps or duplicates", versions, workers*each)
	}
	var listed []int
	envs[1].ok("GET", "/subjects/s/versions", nil, &listed)
	if !reflect.DeepEqual(listed, want) {
		t.Errorf("listed versions %v", listed)
	}
	// One new schema registered by every worker at once gets one id and one version.
	shared := rec("R", fld("shared", `"string"`))
	same := make(chan regResp, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := envs[w%2].srv.Client().Post(envs[w%2].srv.URL+"/subjects/s/versions", ctV1, strings.NewReader(fmt.Sprintf(`{"schema":%q}`, shared)))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var rr regResp
			if err := json.NewDecoder(resp.Body).Decode(&rr); err != nil || resp.StatusCode != 200 {
				t.Errorf("shared schema: status %d %v", resp.StatusCode, err)
			}
			same <- rr
		}()
	}
	wg.Wait()
	close(same)
	distinct := map[regResp]int{}
	for rr := range same {
		distinct[rr]++
	}
	for rr := range distinct {
		if len(distinct) != 1 || rr.Version != workers*each+1 || ids[rr.ID] {
			t.Errorf("shared schema registered concurrently answered %v, want one new id at version %d", distinct, workers*each+1)
			break
		}
	}

	// Every schema keeps its id and version, whichever registry is asked.
	for k, first := range byKey {
		again := envs[(k[0]+1)%2].register("s", schemaOf(k[0], k[1]))
		if again != first {
			t.Errorf("schema %v: first %+v, re-registered %+v", k, first, again)
		}
		var v versionResp
		envs[k[0]%2].ok("GET", fmt.Sprintf("/subjects/s/versions/%d", first.Version), nil, &v)
		if v.ID != first.ID || !sameJSON(t, v.Schema, schemaOf(k[0], k[1])) {
			t.Errorf("version %d holds id %d %s, want id %d", first.Version, v.ID, v.Schema, first.ID)
		}
	}
}
