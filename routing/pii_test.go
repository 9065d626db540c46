package routing

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"gopkg.in/yaml.v3"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/routing/avrojson"
	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/cache"
)

// piiSchema has classified fields at the top level (a string, a nullable string, an
// int), in a nested record used at two paths (home, and work inside a union), in an
// array of records and in a map of records, beside fields that are not classified.
const piiSchema = `{"type":"record","name":"Customer","namespace":"t","fields":[
	{"name":"id","type":"string"},
	{"name":"email","type":"string","waybill.classification":"pii"},
	{"name":"nick","type":["null","string"],"default":null,"confluent:tags":["PII"]},
	{"name":"age","type":"int","waybill.classification":"pii"},
	{"name":"home","type":{"type":"record","name":"Address","fields":[
		{"name":"street","type":"string","waybill.classification":"pii"},
		{"name":"city","type":"string"}]}},
	{"name":"work","type":["null","Address"],"default":null},
	{"name":"orders","type":{"type":"array","items":{"type":"record","name":"Order","fields":[
		{"name":"sku","type":"string"},
		{"name":"email","type":"string","waybill.classification":"pii"}]}}},
	{"name":"devices","type":{"type":"map","values":{"type":"record","name":"Device","fields":[
		{"name":"ip","type":"string","waybill.classification":"pii"},
		{"name":"os","type":"string"}]}}},
	{"name":"n","type":"long"}]}`

const piiDatum = `{"id":"c-1","email":"alice@example.com","nick":"ally","age":41,
	"home":{"street":"1 Secret Lane","city":"Paris"},
	"work":{"t.Address":{"street":"9 Hidden Road","city":"Lyon"}},
	"orders":[{"sku":"A","email":"alice+1@example.com"},{"sku":"B","email":"alice+2@example.com"}],
	"devices":{"phone":{"ip":"10.1.2.3","os":"ios"},"laptop":{"ip":"10.9.8.7","os":"linux"}},
	"n":7}`

// piiRaw are the datum's classified values, by path, as they must never appear where
// they are not allowed.
var piiRaw = map[string][]string{
	"email":          {"alice@example.com"},
	"nick":           {"ally"},
	"home.street":    {"1 Secret Lane"},
	"work.street":    {"9 Hidden Road"},
	"orders[].email": {"alice+1@example.com", "alice+2@example.com"},
	"devices{}.ip":   {"10.1.2.3", "10.9.8.7"},
}

const testPIIKey = "0123456789abcdef-test-key"

func parseSchema(t testing.TB, text string) avro.Schema {
	t.Helper()
	s, err := schemas.ParseAvro(text)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func encodeDatum(t testing.TB, s avro.Schema, jsonText string) []byte {
	t.Helper()
	b, err := avrojson.EncodeJSON(nil, s, []byte(jsonText))
	if err != nil {
		t.Fatalf("encoding %s: %v", jsonText, err)
	}
	return b
}

func testStage(key string) *piiStage {
	st := &piiStage{keyID: "k1", log: slog.New(slog.DiscardHandler), plans: map[planKey]*piiPlan{}}
	if key != "" {
		st.key = []byte(key)
	}
	return st
}

func hmacHex(key string, data []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

// rewriteDatum applies a plan and checks that the result is one well-formed datum of
// the derived schema, then decodes it.
func rewriteDatum(t *testing.T, st *piiStage, s avro.Schema, p *piiPlan, data []byte) ([]byte, *avrovalue.Record) {
	t.Helper()
	if p.err != nil {
		t.Fatalf("plan: %v", p.err)
	}
	if p.root == nil {
		t.Fatal("plan changes nothing")
	}
	out, err := newPIIWriter(st.key).apply(s, p.root, data)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := avrojson.Validate(p.schema, out); err != nil {
		t.Fatalf("rewritten datum is not a datum of the derived schema: %v\n%s", err, schemaText(p.schema))
	}
	var generic any
	if err := avro.Unmarshal(p.schema, out, &generic); err != nil {
		t.Fatalf("hamba cannot read the rewritten datum: %v", err)
	}
	v, err := avrovalue.Decode(p.schema, out)
	if err != nil {
		t.Fatal(err)
	}
	return out, v.(*avrovalue.Record)
}

func schemaText(s avro.Schema) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// at reads a decoded value by path: fields, [i] items and {k} map values.
func at(t *testing.T, v any, path string) (any, bool) {
	t.Helper()
	for _, part := range strings.Split(path, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name, rest = name[:i], name[i:]
		} else if rest != "" {
			rest = "[" + rest
		}
		rec, ok := v.(*avrovalue.Record)
		if !ok {
			t.Fatalf("%s: %T is not a record", path, v)
		}
		if v, ok = rec.Get(name); !ok {
			return nil, false
		}
		for rest != "" {
			switch rest[0] {
			case '[':
				end := strings.IndexByte(rest, ']')
				i, _ := strconv.Atoi(rest[1:end])
				v, rest = v.([]any)[i], rest[end+1:]
			case '{':
				end := strings.IndexByte(rest, '}')
				v, rest = v.(map[string]any)[rest[1:end]], rest[end+1:]
			}
		}
	}
	return v, true
}

func TestPIIHandlingPerMode(t *testing.T) {
	s := parseSchema(t, piiSchema)
	data := encodeDatum(t, s, piiDatum)
	st := testStage(testPIIKey)
	h := func(v string) string { return hmacHex(testPIIKey, []byte(v)) }
	kept := map[string]any{"id": "c-1", "home.city": "Paris", "work.city": "Lyon", "orders[0].sku": "A",
		"orders[1].sku": "B", "devices{phone}.os": "ios", "devices{laptop}.os": "linux", "n": int64(7)}
	tests := []struct {
		name     string
		handling map[string]string
		def      string
		want     map[string]any // path -> value; nil value: the field is absent
		allowed  []string       // paths of piiRaw whose raw values may remain
	}{
		{name: "drop by default", def: "drop", want: map[string]any{
			"email": nil, "nick": nil, "age": nil, "home.street": nil, "work.street": nil,
			"orders[0].email": nil, "orders[1].email": nil, "devices{phone}.ip": nil, "devices{laptop}.ip": nil}},
		{name: "hash by default", def: "hash", want: map[string]any{
			"email": h("alice@example.com"), "nick": h("ally"),
			"age":         hmacHex(testPIIKey, binary.AppendVarint(nil, 41)),
			"home.street": h("1 Secret Lane"), "work.street": h("9 Hidden Road"),
			"orders[0].email": h("alice+1@example.com"), "orders[1].email": h("alice+2@example.com"),
			"devices{phone}.ip": h("10.1.2.3"), "devices{laptop}.ip": h("10.9.8.7")}},
		{name: "redact by default", def: "redact", want: map[string]any{
			"email": "", "nick": "", "age": int32(0), "home.street": "", "work.street": "",
			"orders[0].email": "", "orders[1].email": "", "devices{phone}.ip": "", "devices{laptop}.ip": ""}},
		{name: "declared handling mixes modes and overrides the default", def: "drop",
			handling: map[string]string{"email": "hash", "home": "drop", "orders[].email": "redact",
				"devices{}.ip": "allow", "work.street": "hash", "nick": "allow"},
			want: map[string]any{"email": h("alice@example.com"), "nick": "ally", "age": nil, "home": nil,
				"home.city": nil, "work.street": h("9 Hidden Road"), "orders[0].email": "", "orders[1].email": "",
				"devices{phone}.ip": "10.1.2.3", "devices{laptop}.ip": "10.9.8.7"},
			allowed: []string{"nick", "devices{}.ip"}},
		{name: "an unclassified field can be handled too", def: "allow",
			handling: map[string]string{"id": "hash", "orders[].sku": "drop"},
			want:     map[string]any{"id": h("c-1"), "orders[0].sku": nil, "email": "alice@example.com"},
			allowed:  []string{"email", "nick", "home.street", "work.street", "orders[].email", "devices{}.ip"}},
		{name: "an unknown mode drops", def: "allow", handling: map[string]string{"email": "encrypt"},
			want:    map[string]any{"email": nil},
			allowed: []string{"nick", "home.street", "work.street", "orders[].email", "devices{}.ip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := st.plan("r", 1, s, newPIIPolicy(tt.handling, tt.def, ""))
			out, rec := rewriteDatum(t, st, s, p, data)
			for path, want := range tt.want {
				got, ok := at(t, rec, path)
				switch {
				case want == nil && ok:
					t.Errorf("%s = %#v, want it dropped", path, got)
				case want != nil && (!ok || !avrovalue.Equal(got, want)):
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
				if want == nil {
					if _, err := schemas.LookupPath(p.schema, schemaPath(path)); err == nil {
						t.Errorf("derived schema still has %s:\n%s", path, schemaText(p.schema))
					}
				}
			}
			for path, want := range kept {
				if _, dropped := tt.want[path]; dropped {
					continue
				}
				if _, declared := tt.handling[schemaPath(path)]; declared {
					continue
				}
				if got, ok := at(t, rec, path); !ok || !avrovalue.Equal(got, want) {
					t.Errorf("unclassified %s = %#v, want it intact (%#v)", path, got, want)
				}
			}
			for path, raws := range piiRaw {
				if contains(tt.allowed, path) {
					continue
				}
				for _, raw := range raws {
					if bytes.Contains(out, []byte(raw)) {
						t.Errorf("raw %s value %q is in the rewritten datum", path, raw)
					}
				}
			}
		})
	}
}

// schemaPath turns a datum path into the schema path it is at: "orders[1].sku" is
// "orders[].sku", "devices{phone}.ip" is "devices{}.ip".
func schemaPath(path string) string {
	return regexp.MustCompile(`\[[0-9]+\]`).ReplaceAllString(regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(path, "{}"), "[]")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPIIDerivedSchemas checks the derived schema's types and annotations, and that
// a record changed alike at two paths is defined once, differently at two paths twice.
func TestPIIDerivedSchemas(t *testing.T) {
	s := parseSchema(t, piiSchema)
	st := testStage(testPIIKey)
	p := st.plan("r", 1, s, newPIIPolicy(map[string]string{"nick": "hash"}, "hash", ""))
	rec := p.schema.(*avro.RecordSchema)
	byName := map[string]*avro.Field{}
	for _, f := range rec.Fields() {
		byName[f.Name()] = f
	}
	if got := byName["age"].Type().Type(); got != avro.String {
		t.Errorf("hashed int field is a %s, want string", got)
	}
	if u, ok := byName["nick"].Type().(*avro.UnionSchema); !ok || len(u.Types()) != 2 || u.Types()[0].Type() != avro.Null || u.Types()[1].Type() != avro.String {
		t.Errorf("hashed nullable field is %s, want [null, string]", schemaText(byName["nick"].Type()))
	}
	if !byName["nick"].HasDefault() || byName["nick"].Default() != nil {
		t.Error("hashed nullable field lost its null default")
	}
	for prop, want := range map[string]string{PropPII: "hash", PropHash: "hmac-sha256", PropHashKeyID: "k1"} {
		if got := byName["email"].Prop(prop); got != want {
			t.Errorf("hashed field's %s = %v, want %q", prop, got, want)
		}
	}
	text := schemaText(p.schema)
	if strings.Count(text, `"t.Address"`) != 2 || strings.Contains(text, "Address_pii") {
		t.Errorf("Address changed alike at home and work should be defined once and referred to once:\n%s", text)
	}

	p2 := st.plan("r", 1, s, newPIIPolicy(map[string]string{"home.street": "hash", "work.street": "redact"}, "allow", ""))
	text = schemaText(p2.schema)
	if !strings.Contains(text, `"t.Address_pii2"`) {
		t.Fatalf("Address changed differently at home and work needs a second name:\n%s", text)
	}
	_, v := rewriteDatum(t, st, s, p2, encodeDatum(t, s, piiDatum))
	if got, _ := at(t, v, "home.street"); got != hmacHex(testPIIKey, []byte("1 Secret Lane")) {
		t.Errorf("home.street = %v", got)
	}
	if got, _ := at(t, v, "work.street"); got != "" {
		t.Errorf("work.street = %v, want redacted", got)
	}
	if f := p2.schema.(*avro.RecordSchema).Fields()[5]; f.Name() != "work" || f.Type().(*avro.UnionSchema).Types()[1].(avro.NamedSchema).FullName() != "t.Address_pii2" {
		t.Errorf("work's derived type: %s", schemaText(f.Type()))
	}

	// Cached per (route, schema id, policy); a new policy is a new plan.
	if again := st.plan("r", 1, s, newPIIPolicy(map[string]string{"nick": "hash"}, "hash", "")); again != p {
		t.Error("the same route, schema and policy compiled a second plan")
	}
	if other := st.plan("other", 1, s, newPIIPolicy(map[string]string{"nick": "hash"}, "hash", "")); other == p {
		t.Error("another route shares the plan object")
	}
}

// TestPIIRedactPlaceholders redacts and hashes a field of every Avro type and checks
// that the placeholders are values of the field's type and hashes strings.
func TestPIIRedactPlaceholders(t *testing.T) {
	const typed = `{"type":"record","name":"All","fields":[
		{"name":"b","type":"boolean"},
		{"name":"i","type":"int"},
		{"name":"l","type":"long"},
		{"name":"f","type":"float"},
		{"name":"d","type":"double"},
		{"name":"s","type":"string"},
		{"name":"y","type":"bytes"},
		{"name":"x","type":{"type":"fixed","name":"F4","size":4}},
		{"name":"e","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}},
		{"name":"u","type":{"type":"string","logicalType":"uuid"}},
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"day","type":{"type":"int","logicalType":"date"}},
		{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
		{"name":"fprice","type":{"type":"fixed","name":"D8","size":8,"logicalType":"decimal","precision":12,"scale":2}},
		{"name":"tags","type":{"type":"array","items":"string"}},
		{"name":"counts","type":{"type":"map","values":"long"}},
		{"name":"rec","type":{"type":"record","name":"Inner","fields":[{"name":"a","type":"string"},{"name":"o","type":["null","long"]}]}},
		{"name":"maybe","type":["null","long"]},
		{"name":"absent","type":["null","long"]},
		{"name":"either","type":["string","long"]}]}`
	s := parseSchema(t, typed)
	datum := `{"b":true,"i":-5,"l":1234567890123,"f":1.5,"d":-2.25,"s":"secret","y":"\u00ff\u0001",
		"x":"\u0001\u0002\u0003\u0004","e":"BLUE","u":"7c9e6679-7425-40de-944b-e07fc1f90ae7",
		"ts":"2026-11-22T10:00:00Z","day":"2026-11-22","price":"1234.56","fprice":"-99.99",
		"tags":["a","b"],"counts":{"k":3},"rec":{"a":"inner secret","o":{"long":4}},
		"maybe":{"long":42},"absent":null,"either":{"long":9}}`
	data := encodeDatum(t, s, datum)
	st := testStage(testPIIKey)
	all := map[string]string{}
	for _, f := range s.(*avro.RecordSchema).Fields() {
		all[f.Name()] = "redact"
	}

	p := st.plan("r", 1, s, newPIIPolicy(all, "allow", ""))
	_, rec := rewriteDatum(t, st, s, p, data)
	want := map[string]any{
		"b": false, "i": int32(0), "l": int64(0), "f": float32(0), "d": float64(0), "s": "", "y": []byte{},
		"x": []byte{0, 0, 0, 0}, "e": "RED", "u": "00000000-0000-0000-0000-000000000000",
		"ts": time.UnixMilli(0).UTC(), "day": avrovalue.Date{Days: 0},
		"price":  avrovalue.Decimal{Unscaled: big.NewInt(0), Scale: 2, Precision: 9},
		"fprice": avrovalue.Decimal{Unscaled: big.NewInt(0), Scale: 2, Precision: 12},
		"tags":   []any{}, "counts": map[string]any{},
		"maybe": int64(0), "absent": nil, "either": int64(0),
	}
	for name, w := range want {
		if got, _ := rec.Get(name); !avrovalue.Equal(got, w) {
			t.Errorf("redacted %s = %#v, want %#v", name, got, w)
		}
	}
	if got, _ := rec.Get("rec"); !avrovalue.Equal(got, &avrovalue.Record{Name: "Inner", Fields: []avrovalue.Field{{Name: "a", Value: ""}, {Name: "o", Value: nil}}}) {
		t.Errorf("redacted record = %#v, want placeholders (null where the union allows)", got)
	}
	for i, f := range p.schema.(*avro.RecordSchema).Fields() {
		orig := s.(*avro.RecordSchema).Fields()[i]
		if f.Type().Fingerprint() != orig.Type().Fingerprint() || f.Prop(PropPII) != "redact" {
			t.Errorf("redacted %s: type %s, want the original %s marked redact", f.Name(), schemaText(f.Type()), schemaText(orig.Type()))
		}
	}

	for name := range all {
		all[name] = "hash"
	}
	p = st.plan("r", 1, s, newPIIPolicy(all, "allow", ""))
	_, rec = rewriteDatum(t, st, s, p, data)
	h := func(b []byte) string { return hmacHex(testPIIKey, b) }
	varint := func(v int64) []byte { return binary.AppendVarint(nil, v) }
	wantHash := map[string]any{
		"s": h([]byte("secret")), "y": h([]byte{0xff, 1}), "x": h([]byte{1, 2, 3, 4}), "e": h([]byte("BLUE")),
		"u": h([]byte("7c9e6679-7425-40de-944b-e07fc1f90ae7")), "i": h(varint(-5)), "l": h(varint(1234567890123)),
		"b": h([]byte{1}), "maybe": h(varint(42)), "absent": nil, "either": h(varint(9)),
		"tags": h([]byte{4, 2, 'a', 2, 'b', 0}), "counts": h([]byte{2, 2, 'k', 6, 0}),
		"rec": h(append(append([]byte{24}, "inner secret"...), 2, 8)),
	}
	for name, w := range wantHash {
		if got, _ := rec.Get(name); !avrovalue.Equal(got, w) {
			t.Errorf("hashed %s = %#v, want %#v", name, got, w)
		}
	}
	for _, f := range p.schema.(*avro.RecordSchema).Fields() {
		switch f.Name() {
		case "maybe", "absent":
			if schemaText(f.Type()) != `["null","string"]` {
				t.Errorf("hashed %s is %s, want [null, string]", f.Name(), schemaText(f.Type()))
			}
		default:
			if f.Type().Type() != avro.String {
				t.Errorf("hashed %s is %s, want string", f.Name(), schemaText(f.Type()))
			}
		}
	}
}

// TestPIIHashesAreStable: the same value and key give the same hash wherever the
// value is (a string field, a nullable one, another contract's schema) and however an
// array was blocked; another key gives another hash.
func TestPIIHashesAreStable(t *testing.T) {
	a := parseSchema(t, `{"type":"record","name":"A","fields":[{"name":"email","type":"string","waybill.classification":"pii"},
		{"name":"tags","type":{"type":"array","items":"long"},"waybill.classification":"pii"}]}`)
	b := parseSchema(t, `{"type":"record","name":"B","fields":[{"name":"other","type":"long"},
		{"name":"mail","type":["null","string"],"waybill.classification":"pii"}]}`)
	hashOf := func(key string, s avro.Schema, data []byte, field string) any {
		st := testStage(key)
		_, rec := rewriteDatum(t, st, s, st.plan("r", 1, s, newPIIPolicy(nil, "hash", "")), data)
		v, _ := rec.Get(field)
		return v
	}
	oneBlock := encodeDatum(t, a, `{"email":"bob@example.com","tags":[1,2,3]}`)
	// The same array in two blocks, the second with a negative count and a byte size,
	// as Avro allows: [1] then [2, 3].
	twoBlocks := append(append([]byte{}, oneBlock[:len("bob@example.com")+1]...), 2, 2, 3, 4, 4, 6, 0)
	if err := avrojson.Validate(a, twoBlocks); err != nil {
		t.Fatal(err)
	}
	k1, k2 := testPIIKey, "another-key-of-enough-bytes"
	first := hashOf(k1, a, oneBlock, "email")
	if again := hashOf(k1, a, oneBlock, "email"); again != first {
		t.Errorf("same value and key hashed to %v and %v", first, again)
	}
	if other := hashOf(k1, b, encodeDatum(t, b, `{"other":1,"mail":"bob@example.com"}`), "mail"); other != first {
		t.Errorf("the same email in a nullable field of another schema hashed to %v, want %v", other, first)
	}
	if first != hmacHex(k1, []byte("bob@example.com")) {
		t.Errorf("hash %v is not HMAC-SHA256(key, the string's bytes)", first)
	}
	if rotated := hashOf(k2, a, oneBlock, "email"); rotated == first {
		t.Error("another key gave the same hash")
	}
	if x, y := hashOf(k1, a, oneBlock, "tags"), hashOf(k1, a, twoBlocks, "tags"); x != y {
		t.Errorf("one array blocked two ways hashed to %v and %v", x, y)
	}
}

// TestPIIRecursiveTypes: a recursive record is handled alike at every depth.
func TestPIIRecursiveTypes(t *testing.T) {
	s := parseSchema(t, `{"type":"record","name":"Node","fields":[
		{"name":"email","type":"string","waybill.classification":"pii"},
		{"name":"label","type":"string"},
		{"name":"next","type":["null","Node"],"default":null}]}`)
	data := encodeDatum(t, s, `{"email":"a@x.io","label":"1","next":{"Node":{"email":"b@x.io","label":"2","next":{"Node":{"email":"c@x.io","label":"3","next":null}}}}}`)
	st := testStage(testPIIKey)
	out, rec := rewriteDatum(t, st, s, st.plan("r", 1, s, newPIIPolicy(nil, "hash", "")), data)
	for _, raw := range []string{"a@x.io", "b@x.io", "c@x.io"} {
		if bytes.Contains(out, []byte(raw)) {
			t.Errorf("%s left raw in a recursive record", raw)
		}
	}
	for path, raw := range map[string]string{"email": "a@x.io", "next.email": "b@x.io", "next.next.email": "c@x.io"} {
		if got, _ := at(t, rec, path); got != hmacHex(testPIIKey, []byte(raw)) {
			t.Errorf("%s = %v, want its hash", path, got)
		}
	}
	if got, _ := at(t, rec, "next.next.label"); got != "3" {
		t.Errorf("next.next.label = %v", got)
	}
	// Without classified fields, the recursion alone changes nothing.
	plain := parseSchema(t, `{"type":"record","name":"List","fields":[{"name":"v","type":"string"},{"name":"next","type":["null","List"]}]}`)
	if p := st.plan("r", 2, plain, newPIIPolicy(nil, "drop", "")); p.root != nil || p.err != nil {
		t.Errorf("a recursive schema without PII got a plan (%v)", p.err)
	}
}

// --- Delivery ------------------------------------------------------------------------

// piiContracts serves schemas by id and contracts by subject.
type piiContracts struct {
	mu        sync.Mutex
	schemas   map[int]*cache.Schema
	contracts map[string]*schemas.Contract
	latest    map[string]int // subject -> latest schema id; 3 when unset
}

func (c *piiContracts) Latest(subject string) (*cache.Version, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.latest[subject]
	if id == 0 {
		id = 3
	}
	if _, ok := c.contracts[subject]; !ok {
		return nil, false
	}
	return &cache.Version{Subject: subject, Version: 1, ID: id, Schema: c.schemas[id]}, true
}
func (c *piiContracts) SchemaByID(id int) (*cache.Schema, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.schemas[id]
	return s, ok
}
func (c *piiContracts) Contract(subject string) (*schemas.Contract, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, ok := c.contracts[subject]
	if !ok {
		return nil, false
	}
	cp := *ct
	return &cp, true
}
func (c *piiContracts) SubjectHasSchema(subject string, id int) bool {
	_, ok := c.SchemaByID(id)
	return ok
}

func (c *piiContracts) setPII(subject string, pii map[string]map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.contracts[subject].PII = pii
}

// piiRoute is a route of a router that is not started: protect and deliver run
// directly, with dead letters in a temporary directory.
func piiRoute(t testing.TB, contracts Contracts, key string, class Class, sink Sink) *route {
	t.Helper()
	dead, err := OpenDeadLetters(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Close() })
	cfg := &Config{PII: PIIConfig{HashKey: PIIKey(key)}}
	rt := &Router{cfg: cfg, contracts: contracts, dead: dead, metrics: NewMetrics(nil), log: slog.New(slog.DiscardHandler), now: time.Now,
		pii: testStage(key)}
	rc := RouteConfig{Class: class, Mode: Append, Retry: RetryConfig{InitialBackoff: Duration(time.Millisecond), MaxBackoff: Duration(time.Millisecond)}}
	return &route{rt: rt, name: "search", cfg: rc, sink: sink, state: routeState{Delivered: map[string]int64{}}}
}

func newPIIContracts(t *testing.T) *piiContracts {
	s := parseSchema(t, piiSchema)
	return &piiContracts{
		schemas: map[int]*cache.Schema{3: {Record: schemas.SchemaRecord{ID: 3}, Avro: s}},
		contracts: map[string]*schemas.Contract{
			"customers": {Owner: "t", KeyField: "email", Routes: schemas.RoutePolicy{Allowed: []string{"search"}}},
			"twins":     {Owner: "t", KeyField: "id", Routes: schemas.RoutePolicy{Allowed: []string{"search"}}},
		},
	}
}

func piiEvents(t *testing.T, c *piiContracts, contracts ...string) []Event {
	s := c.schemas[3].Avro
	data := encodeDatum(t, s, piiDatum)
	var out []Event
	for i, ct := range contracts {
		key := "alice@example.com"
		if ct == "twins" {
			key = "c-1"
		}
		out = append(out, Event{Seq: uint64(i + 1), ID: fmt.Sprintf("e%d", i+1), Contract: ct, SchemaID: 3, Key: key,
			Time: time.Unix(1795300000, 0).UTC(), Received: time.Now(), Data: data})
	}
	return out
}

// TestPIIPassThrough: when nothing applies, the batch goes to the sink as it is —
// the same slice, the registry's schemas.
func TestPIIPassThrough(t *testing.T) {
	c := newPIIContracts(t)
	r := piiRoute(t, c, testPIIKey, Analytic, nil) // analytic: classified fields default to allow
	events := piiEvents(t, c, "customers", "customers", "twins")
	runs := r.protect(events)
	if len(runs) != 1 || &runs[0].sent[0] != &events[0] || len(runs[0].sent) != 3 {
		t.Fatalf("protect made %d runs; want the batch itself", len(runs))
	}
	if _, ok := runs[0].schemas.(schemaSource); !ok {
		t.Fatalf("schemas %T, want the registry's", runs[0].schemas)
	}
	// The cost is per batch (reading each contract's policy once), never per event.
	many := piiEvents(t, c, slices.Repeat([]string{"customers", "customers", "twins"}, 100)...)
	few, lots := testing.AllocsPerRun(50, func() { r.protect(events) }), testing.AllocsPerRun(50, func() { r.protect(many) })
	if lots != few || few > 12 {
		t.Errorf("pass-through allocates %.0f times for 3 events and %.0f for 300; want a few per batch", few, lots)
	}
}

// capturingSink keeps every batch it is given and decodes each event with the
// batch's schemas, as a sink does.
type capturingSink struct {
	batches []*Batch
	decoded []*avrovalue.Record
	err     error
}

func (s *capturingSink) Write(_ context.Context, b *Batch) error {
	s.batches = append(s.batches, b)
	for _, ev := range b.Events {
		sch, err := b.Schemas.Avro(ev.SchemaID)
		if err != nil {
			return err
		}
		v, err := avrovalue.Decode(sch, ev.Data)
		if err != nil {
			s.err = err
			return Permanent(err)
		}
		s.decoded = append(s.decoded, v.(*avrovalue.Record))
	}
	return nil
}
func (s *capturingSink) Close() error { return nil }

// TestPIIDeliveryUsesDerivedSchemas delivers through a runtime route: classified
// fields are dropped by default, the key field hashed as declared (so the entity key
// is the hash), the sink reads every event with the batch's schemas, and two contracts
// sharing a schema id with different handling are written as two runs in WAL order.
func TestPIIDeliveryUsesDerivedSchemas(t *testing.T) {
	c := newPIIContracts(t)
	c.setPII("customers", map[string]map[string]string{"search": {"email": "hash"}})
	sink := &capturingSink{}
	r := piiRoute(t, c, testPIIKey, Runtime, sink)
	events := piiEvents(t, c, "customers", "customers", "twins", "customers")
	if err := r.deliver(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	if sink.err != nil || len(sink.decoded) != 4 {
		t.Fatalf("sink decoded %d events (%v)", len(sink.decoded), sink.err)
	}
	if len(sink.batches) != 3 {
		t.Fatalf("%d writes, want 3 runs: customers×2, twins, customers", len(sink.batches))
	}
	var seqs []uint64
	for _, b := range sink.batches {
		for _, ev := range b.Events {
			seqs = append(seqs, ev.Seq)
			if ev.SchemaID != 3 {
				t.Errorf("event %s carries schema id %d, want the registry's 3", ev.ID, ev.SchemaID)
			}
			for _, raws := range piiRaw {
				for _, raw := range raws {
					if bytes.Contains(ev.Data, []byte(raw)) || ev.Key == raw {
						t.Errorf("event %s of %s holds raw %q", ev.ID, ev.Contract, raw)
					}
				}
			}
		}
	}
	if fmt.Sprint(seqs) != "[1 2 3 4]" {
		t.Errorf("runs delivered seqs %v, want WAL order", seqs)
	}
	hashed := hmacHex(testPIIKey, []byte("alice@example.com"))
	if k := sink.batches[0].Events[0].Key; k != hashed {
		t.Errorf("key = %q, want the hash of the key field", k)
	}
	if v, _ := sink.decoded[0].Get("email"); v != hashed {
		t.Errorf("email = %v, want its hash", v)
	}
	if _, ok := sink.decoded[2].Get("email"); ok {
		t.Error("twins' email (classified, no handling, runtime route) was not dropped")
	}
	if k := sink.batches[1].Events[0].Key; k != "c-1" {
		t.Errorf("twins' key %q changed; its key field is not handled", k)
	}
	if got := r.state.Delivered; len(got) != 2 {
		t.Errorf("delivered counts %v", got)
	}
	if n := r.backlogEvents.Load(); n != -4 {
		t.Errorf("backlog moved by %d, want -4 (the events settled once each)", n)
	}

	// A policy change applies from the next batch on, under another derived schema.
	c.setPII("customers", map[string]map[string]string{"search": {"email": "redact"}})
	sink.batches, sink.decoded = nil, nil
	if err := r.deliver(context.Background(), piiEvents(t, c, "customers")); err != nil {
		t.Fatal(err)
	}
	if v, _ := sink.decoded[0].Get("email"); v != "" {
		t.Errorf("after the policy change email = %v, want redacted", v)
	}
	if k := sink.batches[0].Events[0].Key; k != "" {
		t.Errorf("a redacted key field leaves the key %q, want none", k)
	}
}

// TestPIIHashWithoutKeyDeadLetters: an event whose handling hashes, on a router
// without a key, is dead-lettered with a reason that says so; the rest is delivered.
func TestPIIHashWithoutKeyDeadLetters(t *testing.T) {
	c := newPIIContracts(t)
	c.setPII("customers", map[string]map[string]string{"search": {"email": "hash"}})
	sink := &capturingSink{}
	r := piiRoute(t, c, "", Runtime, sink)
	if err := r.deliver(context.Background(), piiEvents(t, c, "customers", "twins")); err != nil {
		t.Fatal(err)
	}
	dls := r.rt.dead.List("search", 0)
	if len(dls) != 1 || dls[0].ID != "e1" || !strings.Contains(dls[0].Reason, "no hash key") || !strings.Contains(dls[0].Reason, "email") {
		t.Fatalf("dead letters %+v, want e1 for want of a hash key", dls)
	}
	r.rt.dead.mu.Lock()
	full := r.rt.dead.letters["search"][dls[0].Seq]
	r.rt.dead.mu.Unlock()
	if full == nil || !bytes.Equal(full.Data, piiEvents(t, c, "customers")[0].Data) {
		t.Error("the dead letter does not keep the event as accepted (a replay would not be the event)")
	}
	if len(sink.decoded) != 1 {
		t.Fatalf("sink got %d events, want twins' only", len(sink.decoded))
	}
}

// TestPIIConfig: the pii section's defaults, its validation, the key file, and that
// the key never shows in formatted or logged configuration.
func TestPIIConfig(t *testing.T) {
	kinds := map[string]SinkKind{"fake": {Validate: func(string, *yaml.Node) []error { return nil }}}
	base := "state_dir: /tmp/s\netcd_endpoints: [127.0.0.1:2379]\nsinks: {s: {kind: fake}}\n"
	parse := func(t *testing.T, text string) (*Config, error) {
		t.Helper()
		cfg, err := ParseConfig([]byte(base + text))
		if err != nil {
			t.Fatal(err)
		}
		return cfg, cfg.Validate(kinds)
	}
	cfg, err := parse(t, `routes:
  a: {sink: s, class: analytic, target: t}
  r: {sink: s, class: runtime, target: t}
  x: {sink: s, class: runtime, target: t, pii_default: redact}
`)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Router{cfg: cfg}
	for name, want := range map[string]string{"a": "allow", "r": "drop", "x": "redact"} {
		if got := (&route{rt: rt, cfg: cfg.Routes[name]}).piiDefault(); got != want {
			t.Errorf("route %s defaults to %s, want %s", name, got, want)
		}
	}
	cfg, err = parse(t, `pii: {defaults: {analytic: redact, runtime: allow}}
routes:
  a: {sink: s, class: analytic, target: t}
  r: {sink: s, class: runtime, target: t}
`)
	if err != nil {
		t.Fatal(err)
	}
	rt = &Router{cfg: cfg}
	for name, want := range map[string]string{"a": "redact", "r": "allow"} {
		if got := (&route{rt: rt, cfg: cfg.Routes[name]}).piiDefault(); got != want {
			t.Errorf("with pii.defaults, route %s defaults to %s, want %s", name, got, want)
		}
	}

	_, err = parse(t, `pii: {hash_key: short, hash_key_file: /k, key_id: "bad id", defaults: {analytic: hash, runtime: encrypt}}
routes:
  r: {sink: s, class: runtime, target: t, pii_default: scramble}
`)
	for _, want := range []string{"pii: hash_key_file and hash_key are exclusive", "pii.hash_key: is 5 bytes; at least 16",
		`pii.key_id: "bad id"`, `pii.defaults.runtime: unknown handling "encrypt"`, `routes.r.pii_default: unknown handling "scramble"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation %v; want %q", err, want)
		}
	}
	_, err = parse(t, "pii: {defaults: {runtime: hash}}\nroutes: {r: {sink: s, class: runtime, target: t, pii_default: hash}}\n")
	for _, want := range []string{"pii.defaults.runtime: hash needs pii.hash_key_file or pii.hash_key", "routes.r.pii_default: hash needs"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation %v; want %q", err, want)
		}
	}

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "pii.key")
	if err := os.WriteFile(keyFile, []byte(testPIIKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := newPIIStage(PIIConfig{HashKeyFile: keyFile, KeyID: "k1"}, slog.New(slog.DiscardHandler))
	if err != nil || string(st.key) != testPIIKey {
		t.Fatalf("key from file = %q, %v; want the file's bytes without the newline", st.key, err)
	}
	if err := os.WriteFile(keyFile, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newPIIStage(PIIConfig{HashKeyFile: keyFile}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("a short key file: %v", err)
	}
	if _, err := newPIIStage(PIIConfig{HashKeyFile: filepath.Join(dir, "missing")}, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a missing key file was accepted: the router must not start")
	}

	secret := PIIConfig{HashKey: "the-secret-key-material", KeyID: "k1"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "pii", secret, "key", secret.HashKey, "cfg", Config{PII: secret})
	y, _ := yaml.Marshal(Config{PII: secret})
	j, _ := json.Marshal(Config{PII: secret})
	for what, text := range map[string]string{
		"%v": fmt.Sprintf("%v", secret), "%+v": fmt.Sprintf("%+v", Config{PII: secret}), "%#v": fmt.Sprintf("%#v", secret),
		"%s key": fmt.Sprintf("%s", secret.HashKey), "slog": logged.String(), "yaml": string(y), "json": string(j),
	} {
		if strings.Contains(text, "the-secret-key-material") {
			t.Errorf("%s shows the key: %s", what, text)
		}
	}
}

// BenchmarkPIIProtect measures the PII stage per batch of 1000 events: passing a
// batch through when nothing applies (the common case), and rewriting it (hashes,
// drops and redactions at every level of piiSchema).
//
//	go test -run '^$' -bench PIIProtect ./routing/
func BenchmarkPIIProtect(b *testing.B) {
	c := &piiContracts{
		schemas:   map[int]*cache.Schema{3: {Record: schemas.SchemaRecord{ID: 3}, Avro: parseSchema(b, piiSchema)}},
		contracts: map[string]*schemas.Contract{"customers": {Owner: "t", Routes: schemas.RoutePolicy{Allowed: []string{"search"}}}},
	}
	data := encodeDatum(b, c.schemas[3].Avro, piiDatum)
	events := make([]Event, 1000)
	for i := range events {
		events[i] = Event{Seq: uint64(i + 1), ID: strconv.Itoa(i), Contract: "customers", SchemaID: 3, Data: data}
	}
	for _, bc := range []struct {
		name  string
		class Class
		pii   map[string]string
	}{
		{"pass-through", Analytic, nil},
		{"rewrite", Runtime, map[string]string{"email": "hash", "orders[].email": "hash", "home.street": "redact"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c.setPII("customers", map[string]map[string]string{"search": bc.pii})
			r := piiRoute(b, c, testPIIKey, bc.class, nil)
			b.ReportAllocs()
			for b.Loop() {
				r.protect(events)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
		})
	}
}

// TestPIIStoredKey: the key a route stores for an entity, which a lookup by the
// producer's key (an erasure) must use, follows the route's handling of the key field.
func TestPIIStoredKey(t *testing.T) {
	c := newPIIContracts(t)
	r := piiRoute(t, c, testPIIKey, Runtime, nil)
	for _, tc := range []struct {
		handling string
		want     string
	}{
		{"hash", hmacHex(testPIIKey, []byte("alice@example.com"))},
		{"allow", "alice@example.com"},
		{"drop", ""},
	} {
		c.setPII("customers", map[string]map[string]string{"search": {"email": tc.handling}})
		got, err := r.storedKey("customers", "alice@example.com")
		if err != nil || got != tc.want {
			t.Errorf("email %s: stored key %q, %v; want %q", tc.handling, got, err, tc.want)
		}
		// It is the key delivery gives the sink.
		sink := &capturingSink{}
		r.sink = sink
		if err := r.deliver(context.Background(), piiEvents(t, c, "customers")); err != nil {
			t.Fatal(err)
		}
		if k := sink.batches[0].Events[0].Key; k != tc.want {
			t.Errorf("email %s: delivered key %q, stored key %q", tc.handling, k, tc.want)
		}
	}
	// An integer key field hashes as its value does in the data.
	s := parseSchema(t, `{"type":"record","name":"Acct","fields":[{"name":"acct","type":"long","waybill.classification":"pii"}]}`)
	c.schemas[4] = &cache.Schema{Record: schemas.SchemaRecord{ID: 4}, Avro: s}
	c.contracts = map[string]*schemas.Contract{"accts": {Owner: "t", KeyField: "acct", PII: map[string]map[string]string{"search": {"acct": "hash"}}}}
	c.latest = map[string]int{"accts": 4}
	got, err := r.storedKey("accts", "-42")
	if want := hmacHex(testPIIKey, binary.AppendVarint(nil, -42)); err != nil || got != want {
		t.Errorf("integer key: %q, %v; want %q", got, err, want)
	}
}

// TestPIIErasureErasesTheStoredKey: on a route that hashes the key field, the store
// is keyed by the hash, so an erasure by the producer's key erases the hashed key —
// and the key itself, which events delivered before the route hashed it left.
func TestPIIErasureErasesTheStoredKey(t *testing.T) {
	c := newPIIContracts(t)
	c.setPII("customers", map[string]map[string]string{"search": {"email": "hash"}})
	sink := &erasingSink{fakeSink: newFakeSink()} // auth_test.go
	r := piiRoute(t, c, testPIIKey, Runtime, sink)
	r.cfg.Mode = Latest
	rec := &Record{Event: Event{Seq: 9, ID: "erasure-1", Contract: "customers", Key: "alice@example.com", Received: time.Now()}, Erasure: true}
	if err := r.erase(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	want := []string{"erase customers|" + hmacHex(testPIIKey, []byte("alice@example.com")), "erase customers|alice@example.com"}
	if got := sink.log(); !slices.Equal(got, want) {
		t.Errorf("erased %q, want %q", got, want)
	}
	c.setPII("customers", nil) // email classified, runtime default drop: no key stored
	if err := r.erase(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if got, want := sink.log()[2:], []string{"erase customers|alice@example.com"}; !slices.Equal(got, want) {
		t.Errorf("erased %q, want %q", got, want)
	}
}
