package router_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

// customersSchema classifies a top-level string, a nullable string, a field of a
// nested record, a field inside an array of records and one inside a map of records,
// and the key field itself.
const customersSchema = `{"type":"record","name":"Customer","namespace":"waybill.itest","fields":[` +
	`{"name":"user_id","type":"string","waybill.classification":"pii"},` +
	`{"name":"n","type":"long"},` +
	`{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},` +
	`{"name":"email","type":"string","waybill.classification":"pii"},` +
	`{"name":"phone","type":["null","string"],"default":null,"confluent:tags":["PII"]},` +
	`{"name":"address","type":{"type":"record","name":"Address","fields":[` +
	`{"name":"street","type":"string","waybill.classification":"pii"},{"name":"city","type":"string"}]}},` +
	`{"name":"orders","type":{"type":"array","items":{"type":"record","name":"Order","fields":[` +
	`{"name":"sku","type":"string"},{"name":"card","type":"string","waybill.classification":"pii"}]}}},` +
	`{"name":"devices","type":{"type":"map","values":{"type":"record","name":"Device","fields":[` +
	`{"name":"ip","type":"string","waybill.classification":"pii"},{"name":"os","type":"string"}]}}}]}`

const itestPIIKey = "integration-test-hmac-key-0123456789"

// customerPII are one customer's classified values by field path.
func customerPII(i int) map[string]string {
	return map[string]string{
		"user_id":        fmt.Sprintf("cust-%d-secret-id", i),
		"email":          fmt.Sprintf("person%d@private.example", i),
		"phone":          fmt.Sprintf("+33-600-000-%03d", i),
		"address.street": fmt.Sprintf("%d Secret Lane", i),
		"orders[].card":  fmt.Sprintf("4111-0000-0000-%04d", i),
		"devices{}.ip":   fmt.Sprintf("10.77.0.%d", i),
	}
}

func customer(i int) map[string]any {
	p := customerPII(i)
	return map[string]any{
		"user_id": p["user_id"], "n": i, "ts": 1795300000000 + int64(i),
		"email": p["email"], "phone": map[string]any{"string": p["phone"]},
		"address": map[string]any{"street": p["address.street"], "city": "Paris"},
		"orders":  []any{map[string]any{"sku": fmt.Sprintf("sku-%d", i), "card": p["orders[].card"]}},
		"devices": map[string]any{"phone": map[string]any{"ip": p["devices{}.ip"], "os": "ios"}},
	}
}

func itestHMAC(s string) string {
	m := hmac.New(sha256.New, []byte(itestPIIKey))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// TestPIIHandlingInEveryStore registers a contract with classified fields at the top
// level, in a nested record, in an array and in a map of records, with a different
// PII policy per route, sends events to all five routes and reads every store back
// with its own client: a value forbidden on a route appears nowhere in what its store
// holds (the whole record, raw), hashed values are HMAC-SHA256 under the configured
// key, allowed values are intact, and the lake's and HDFS's container files lack the
// dropped fields. A policy change then applies to the next events, in new files with
// another writer schema.
func TestPIIHandlingInEveryStore(t *testing.T) {
	e := startLiveEnv(t)
	st := startStores(t)
	mustCall(t, http.MethodPost, e.regURL+"/subjects/customers/versions", map[string]any{"schema": customersSchema}, http.StatusOK)
	// How each route handles the classified fields. Undeclared ones take the route's
	// default: allow on analytic routes, drop on runtime ones, drop on hdfs (pii_default).
	policy := map[string]map[string]string{
		"lake":     {"email": "hash", "orders[].card": "drop"},
		"hdfs":     {"email": "hash", "address.street": "redact"},
		"timeline": {"user_id": "hash", "email": "redact", "devices{}.ip": "hash"},
		"profiles": {"user_id": "hash", "phone": "allow"},
		// search: nothing declared, so every classified field is dropped.
	}
	contract := contractBody(storeRouteNames, []string{"lake"}, storeRouteNames)
	contract["pii"] = policy
	mustCall(t, http.MethodPut, e.regURL+"/contracts/customers", contract, http.StatusOK)

	keyFile := filepath.Join(t.TempDir(), "pii.key")
	if err := os.WriteFile(keyFile, []byte(itestPIIKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	routes := strings.Replace(storeRoutes, "hdfs:     {sink: hdfs, class: analytic,", "hdfs:     {sink: hdfs, class: analytic, pii_default: drop,", 1)
	if routes == storeRoutes {
		t.Fatal("storeRoutes changed: cannot set hdfs's pii_default")
	}
	e.startRouterWith(t, st.sinksYAML(t)+routes+fmt.Sprintf("pii: {hash_key_file: %s, key_id: itest-1}\n", keyFile))

	const n = 3
	for i := 1; i <= n; i++ {
		if status, a := e.send(t, orderEvent("customers", nil, customer(i))); !accepted(status, a) || len(a.Routes) != 5 {
			t.Fatalf("customer %d: HTTP %d %+v, want accepted on five routes", i, status, a)
		}
	}
	e.waitDelivered(t, storeRouteNames, n)

	// want is a field's expected stored value per route and handling, for customer i.
	type expect struct {
		route   string
		allowed []string                 // classified paths stored raw
		hashed  []string                 // classified paths stored as their hash
		dropped []string                 // absent from the record and, in files, the schema
		redact  []string                 // stored as ""
		field   func(path string) string // the stored field name of a path, when it differs
	}
	all := []string{"user_id", "email", "phone", "address.street", "orders[].card", "devices{}.ip"}
	except := func(out ...string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(p string) bool { return slices.Contains(out, p) })
	}
	cases := []expect{
		{route: "lake", hashed: []string{"email"}, dropped: []string{"orders[].card"}, allowed: except("email", "orders[].card")},
		{route: "hdfs", hashed: []string{"email"}, redact: []string{"address.street"}, dropped: except("email", "address.street")},
		{route: "timeline", hashed: []string{"user_id", "devices{}.ip"}, redact: []string{"email"}, allowed: []string{"phone", "address.street", "orders[].card"}},
		{route: "profiles", hashed: []string{"user_id"}, allowed: []string{"phone"}, dropped: except("user_id", "phone")},
		{route: "search", dropped: all},
	}
	for _, c := range cases {
		t.Run(c.route, func(t *testing.T) {
			recs := st.records(t, c.route, "customers")
			if len(recs) != n {
				t.Fatalf("%s holds %d records, want %d", c.route, len(recs), n)
			}
			forbidden := slices.Concat(c.hashed, c.dropped, c.redact)
			for _, r := range recs {
				i := customerIndex(t, r.Fields)
				pii := customerPII(i)
				for _, path := range forbidden {
					if bytes.Contains(r.Raw, []byte(pii[path])) {
						t.Errorf("customer %d: the raw %s %q is in %s's record: %q", i, path, pii[path], c.route, r.Raw)
					}
				}
				for _, path := range c.hashed {
					if got := storedValue(t, r.Fields, path); got != itestHMAC(pii[path]) {
						t.Errorf("customer %d: %s = %v, want HMAC-SHA256 %s", i, path, got, itestHMAC(pii[path]))
					}
				}
				for _, path := range c.redact {
					if got := storedValue(t, r.Fields, path); got != "" {
						t.Errorf("customer %d: %s = %v, want redacted to \"\"", i, path, got)
					}
				}
				for _, path := range c.allowed {
					if got := storedValue(t, r.Fields, path); got != pii[path] {
						t.Errorf("customer %d: allowed %s = %v, want %q", i, path, got, pii[path])
					}
				}
				for _, path := range c.dropped {
					if got := storedValue(t, r.Fields, path); got != nil {
						t.Errorf("customer %d: dropped %s is stored as %v", i, path, got)
					}
					if r.Schema != nil && schemaHas(t, r.Schema, path) {
						t.Errorf("customer %d: %s's file schema still has the dropped %s", i, r.File, path)
					}
				}
				if got := storedValue(t, r.Fields, "address.city"); got != "Paris" {
					t.Errorf("customer %d: address.city = %v, want the unclassified value intact", i, got)
				}
			}
		})
	}
	t.Run("profiles keyed by the hashed key", func(t *testing.T) {
		latest := st.latest(t, "customers")
		for i := 1; i <= n; i++ {
			if _, ok := latest[itestHMAC(customerPII(i)["user_id"])]; !ok {
				t.Errorf("MongoDB has no document keyed by customer %d's hashed user_id: %v", i, latest)
			}
		}
	})

	// A policy change reaches the next events, under new derived schemas for the same
	// schema id: the lake drops the email, the timeline the cards inside orders (a
	// user type loses a field), search now allows the phone (a field appears).
	policy["lake"] = map[string]string{"email": "drop"}
	policy["timeline"] = map[string]string{"user_id": "hash", "email": "redact", "devices{}.ip": "hash", "orders[].card": "drop"}
	policy["search"] = map[string]string{"phone": "allow"}
	mustCall(t, http.MethodPut, e.regURL+"/contracts/customers", contract, http.StatusOK)
	changed := []string{"lake", "timeline", "search"}
	next := n + 1
	if !testproc.Poll(15*time.Second, 50*time.Millisecond, nil, func() bool {
		if status, a := e.send(t, orderEvent("customers", changed[1:], customer(next))); !accepted(status, a) {
			t.Fatalf("HTTP %d %+v", status, a)
		}
		e.waitDelivered(t, changed, int64(next))
		for _, r := range st.records(t, "lake", "customers") {
			if customerIndex(t, r.Fields) == next && !schemaHas(t, r.Schema, "email") {
				return true
			}
		}
		next++
		return false
	}) {
		t.Fatal("the lake did not start dropping email within 15s of the policy change")
	}
	seen := map[int]int{}
	for _, r := range st.records(t, "lake", "customers") {
		i := customerIndex(t, r.Fields)
		seen[i]++
		hasEmail := schemaHas(t, r.Schema, "email")
		if i <= n && (!hasEmail || storedValue(t, r.Fields, "email") != itestHMAC(customerPII(i)["email"])) {
			t.Errorf("customer %d, delivered before the change, lost its hashed email (%s)", i, r.File)
		}
		if i == next && (hasEmail || bytes.Contains(r.Raw, []byte(customerPII(i)["email"]))) {
			t.Errorf("customer %d, delivered after the change, still has an email (%s)", i, r.File)
		}
	}
	// Files of one schema id under two derived schemas: every event once, none lost
	// to a name taken twice.
	for i := 1; i <= next; i++ {
		if seen[i] != 1 {
			t.Errorf("the lake holds customer %d %d times, want once", i, seen[i])
		}
	}
	for _, r := range st.records(t, "timeline", "customers") {
		i := customerIndex(t, r.Fields)
		card := customerPII(i)["orders[].card"]
		if stored := storedValue(t, r.Fields, "orders[].card"); i <= n && stored != card || i == next && stored != nil && stored != "" {
			t.Errorf("timeline, customer %d: orders[].card = %v (the policy changed after customer %d)", i, stored, n)
		}
		if i == next && bytes.Contains(r.Raw, []byte(card)) {
			t.Errorf("timeline, customer %d: the raw card is stored after the policy dropped it", i)
		}
	}
	for _, r := range st.records(t, "search", "customers") {
		i := customerIndex(t, r.Fields)
		phone := storedValue(t, r.Fields, "phone")
		if i <= n && phone != nil || i == next && phone != customerPII(i)["phone"] {
			t.Errorf("search, customer %d: phone = %v (allowed only after customer %d)", i, phone, n)
		}
	}
}

// customerIndex reads which customer a stored record is from its n field.
func customerIndex(t *testing.T, fields map[string]any) int {
	t.Helper()
	switch v := fields["n"].(type) {
	case int64:
		return int(v)
	case int32:
		return int(v)
	case float64:
		return int(v)
	}
	t.Fatalf("record without n: %v", fields)
	return 0
}

// storedValue reads a path from a stored record's fields, nil when absent: through
// the one array item and the one map value each customer has, and through union
// wrappers (hamba decodes a union value as {"branch": value}).
func storedValue(t *testing.T, fields map[string]any, path string) any {
	t.Helper()
	var v any = fields
	for _, part := range strings.Split(path, ".") {
		name := strings.TrimRight(part, "[]{}")
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = m[name]; !ok || v == nil {
			return nil
		}
		v = unwrapUnion(v)
		switch {
		case strings.HasSuffix(part, "[]"):
			items, ok := v.([]any)
			if !ok || len(items) != 1 {
				t.Fatalf("%s: %v is not one item", path, v)
			}
			v = items[0]
		case strings.HasSuffix(part, "{}"):
			vm, ok := v.(map[string]any)
			if !ok || len(vm) != 1 {
				t.Fatalf("%s: %v is not one map value", path, v)
			}
			for _, x := range vm {
				v = x
			}
		}
	}
	return unwrapUnion(v)
}

// unwrapUnion returns the value of hamba's {"type": value} union form; other values as
// they are.
func unwrapUnion(v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for k, x := range m {
			if k == "string" || k == "null" {
				return x
			}
		}
	}
	return v
}

func schemaHas(t *testing.T, wrapper avro.Schema, path string) bool {
	t.Helper()
	var data avro.Schema
	for _, f := range wrapper.(*avro.RecordSchema).Fields() {
		if f.Name() == "data" {
			data = f.Type()
		}
	}
	s := data
	for _, part := range strings.Split(path, ".") {
		name := strings.TrimRight(part, "[]{}")
		rec, ok := derefAvro(s).(*avro.RecordSchema)
		if !ok {
			return false
		}
		var found avro.Schema
		for _, f := range rec.Fields() {
			if f.Name() == name {
				found = f.Type()
			}
		}
		if found == nil {
			return false
		}
		s = derefAvro(found)
		switch {
		case strings.HasSuffix(part, "[]"):
			s = s.(*avro.ArraySchema).Items()
		case strings.HasSuffix(part, "{}"):
			s = s.(*avro.MapSchema).Values()
		}
	}
	return true
}

func derefAvro(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}
