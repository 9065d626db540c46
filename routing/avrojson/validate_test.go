package avrojson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomOrder builds a random valid document for orderSchema.
func randomOrder(r *rand.Rand) string {
	str := func() string {
		const alphabet = "abcXYZ 09-_é日\"\\\n"
		n := r.IntN(12)
		var b strings.Builder
		runes := []rune(alphabet)
		for range n {
			b.WriteRune(runes[r.IntN(len(runes))])
		}
		return b.String()
	}
	codePoints := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteRune(rune(r.IntN(256)))
		}
		return b.String()
	}
	m := map[string]any{
		"id":     str(),
		"seq":    r.Int64() - r.Int64(),
		"qty":    int32(r.Uint32()),
		"price":  r.NormFloat64() * 1e6,
		"paid":   r.IntN(2) == 1,
		"status": []string{"NEW", "PAID", "SHIPPED"}[r.IntN(3)],
		"hash":   codePoints(4),
		"at":     r.Int64N(1 << 50),
		"amount": fmt.Sprintf("%d.%02d", r.IntN(10_000_000)-5_000_000, r.IntN(100)),
	}
	if r.IntN(2) == 0 {
		m["ratio"] = float32(r.Float64())
	}
	if r.IntN(2) == 0 {
		m["blob"] = codePoints(r.IntN(20))
	}
	if r.IntN(3) > 0 {
		m["customer"] = map[string]any{"name": str(), "address": map[string]any{"street": str(), "zip": str()}}
	}
	items := []any{}
	for range r.IntN(4) {
		it := map[string]any{"sku": str(), "price": r.Float64() * 100}
		if r.IntN(2) == 0 {
			it["qty"] = r.IntN(1000) - 500
		}
		if r.IntN(2) == 0 {
			tags := []any{}
			for range r.IntN(3) {
				tags = append(tags, str())
			}
			it["tags"] = tags
		}
		items = append(items, it)
	}
	m["items"] = items
	if r.IntN(2) == 0 {
		attrs := map[string]any{}
		for range r.IntN(4) {
			attrs[str()] = str()
		}
		m["attrs"] = attrs
	}
	switch r.IntN(5) {
	case 1:
		m["note"] = str()
	case 2:
		m["note"] = r.Int64()
	case 3:
		m["note"] = map[string]any{"com.acme.Status": "NEW"}
	case 4:
		m["note"] = nil
	}
	if r.IntN(2) == 0 {
		m["ref"] = fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<16), r.IntN(1<<16), r.Int64N(1<<48))
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestValidateAcceptsValidData: encodings of random documents pass Validate, as does
// hamba's own encoding of them (which uses blocks with byte sizes).
func TestValidateAcceptsValidData(t *testing.T) {
	schema := parseSchema(t, orderSchema)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		doc := randomOrder(r)
		data, err := EncodeJSON(nil, schema, []byte(doc))
		if err != nil {
			t.Fatalf("doc %d %s: %v", i, doc, err)
		}
		if err := Validate(schema, data); err != nil {
			t.Fatalf("doc %d: Validate(%x): %v\n%s", i, data, err, doc)
		}
		decoded := hambaDecode(t, schema, data)
		hb, err := avroMarshalDefault(schema, decoded)
		if err != nil {
			t.Fatalf("hamba Marshal: %v", err)
		}
		if err := Validate(schema, hb); err != nil {
			t.Fatalf("doc %d: Validate(hamba %x): %v", i, hb, err)
		}
		if !sameValue(hambaDecode(t, schema, hb), decoded) {
			t.Fatalf("doc %d: hamba round trip differs", i)
		}
	}
}

// TestValidateTruncated: every proper prefix of a valid datum fails, with a path;
// Avro encodings are prefix-free, so none may pass.
func TestValidateTruncated(t *testing.T) {
	schema := parseSchema(t, orderSchema)
	r := rand.New(rand.NewPCG(3, 4))
	docs := []string{orderJSON}
	for range 20 {
		docs = append(docs, randomOrder(r))
	}
	for _, doc := range docs {
		data, err := EncodeJSON(nil, schema, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		for k := range len(data) {
			err := Validate(schema, data[:k])
			if err == nil {
				t.Fatalf("prefix %d of %d bytes accepted: %x", k, len(data), data[:k])
			}
			fe := asFieldError(t, err)
			if fe.Path == "" {
				t.Fatalf("prefix %d: no path: %v", k, err)
			}
		}
	}
}

// TestValidateTruncatedPaths pins the path of a few truncation points.
func TestValidateTruncatedPaths(t *testing.T) {
	schema := parseSchema(t, `{"type":"record","name":"T","fields":[
		{"name":"a","type":"string"},
		{"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[
			{"name":"sku","type":"string"},{"name":"price","type":"double"}]}}},
		{"name":"m","type":{"type":"map","values":"long"}}]}`)
	data, err := EncodeJSON(nil, schema, []byte(`{"a":"x","items":[{"sku":"s","price":1},{"sku":"long sku","price":2}],"m":{"k":300}}`))
	if err != nil {
		t.Fatal(err)
	}
	// a: 02 78 | items: 04 | 02 73 <8 bytes> | 10 "long sku" <8 bytes> | 00 | m: 02 02 6b ac04 00
	cases := []struct {
		cut  int
		path string
	}{
		{0, "a"},
		{1, "a"},
		{2, "items"},
		{3, "items[0].sku"},
		{5, "items[0].price"},
		{12, "items[0].price"},
		{13, "items[1].sku"},
		{20, "items[1].sku"},
		{len(data) - 9, "items[1].price"},
		{len(data) - 7, "items"},
		{len(data) - 6, "m"},
		{len(data) - 4, "m"},
		{len(data) - 2, "m{k}"},
		{len(data) - 1, "m"},
	}
	for _, tc := range cases {
		err := Validate(schema, data[:tc.cut])
		if err == nil {
			t.Errorf("cut %d accepted", tc.cut)
			continue
		}
		if fe := asFieldError(t, err); fe.Path != tc.path {
			t.Errorf("cut %d: path %q, want %q (%v)", tc.cut, fe.Path, tc.path, err)
		}
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func long(v int64) []byte { return appendLong(nil, v) }

func str(s string) []byte { return append(long(int64(len(s))), s...) }

// TestValidateErrors: malformed data fails with the path and reason.
func TestValidateErrors(t *testing.T) {
	const schemaText = `{"type":"record","name":"V","namespace":"com.acme","fields":[
		{"name":"b","type":"boolean"},
		{"name":"i","type":"int"},
		{"name":"l","type":"long"},
		{"name":"s","type":"string"},
		{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
		{"name":"u","type":["null","string"]},
		{"name":"f","type":{"type":"fixed","name":"F","size":2}},
		{"name":"a","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"x","type":"int"}]}}},
		{"name":"m","type":{"type":"map","values":"string"}},
		{"name":"id","type":{"type":"string","logicalType":"uuid"}},
		{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":3,"scale":1}},
		{"name":"n","type":{"type":"array","items":"null"}}
	]}`
	schema := parseSchema(t, schemaText)
	const uuid = "123e4567-e89b-12d3-a456-426614174000"
	valid := func(b, i, l, s, e, u, f, a, m, id, d, n []byte) []byte {
		return cat(b, i, l, s, e, u, f, a, m, id, d, n)
	}
	B, I, L, S, E, U, F := []byte{1}, long(-5), long(1<<40), str("héllo"), long(2), cat(long(1), str("x")), []byte("ab")
	A := cat(long(2), long(7), long(8), long(0))
	M := cat(long(1), str("k"), str("v"), long(0))
	ID := str(uuid)
	D := cat(long(2), []byte{0x03, 0xe7}) // 999 = 99.9
	N := cat(long(3), long(0))
	good := valid(B, I, L, S, E, U, F, A, M, ID, D, N)
	if err := Validate(schema, good); err != nil {
		t.Fatalf("valid datum rejected: %v", err)
	}
	cases := []struct {
		name   string
		data   []byte
		path   string
		reason string
	}{
		{"trailing bytes", cat(good, []byte{0}), "", "1 trailing byte(s) after the datum"},
		{"empty", nil, "b", "unexpected end of data reading boolean"},
		{"bad boolean", valid([]byte{2}, I, L, S, E, U, F, A, M, ID, D, N), "b", "invalid boolean byte 0x02"},
		{"unterminated varint", []byte{1, 0x80, 0x80}, "i", "unexpected end of data reading int"},
		{"int varint overflow", valid(B, []byte{0xff, 0xff, 0xff, 0xff, 0x1f}, L, S, E, U, F, A, M, ID, D, N), "i", "varint overflows an int"},
		{"int varint too long", valid(B, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, L, S, E, U, F, A, M, ID, D, N), "i", "varint overflows an int"},
		{"long varint overflow", valid(B, I, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, S, E, U, F, A, M, ID, D, N), "l", "varint overflows a long"},
		{"negative string length", valid(B, I, L, long(-1), E, U, F, A, M, ID, D, N), "s", "negative string length -1"},
		{"string length beyond data", valid(B, I, L, long(1000), E, U, F, A, M, ID, D, N), "s", "string length 1000 exceeds the"},
		{"invalid UTF-8 string", valid(B, I, L, cat(long(2), []byte{0xc3, 0x28}), E, U, F, A, M, ID, D, N), "s", "string is not valid UTF-8"},
		{"enum index out of range", valid(B, I, L, S, long(3), U, F, A, M, ID, D, N), "e", "enum index 3 out of range for com.acme.E (3 symbols)"},
		{"negative enum index", valid(B, I, L, S, long(-1), U, F, A, M, ID, D, N), "e", "enum index -1 out of range"},
		{"union index out of range", valid(B, I, L, S, E, long(2), F, A, M, ID, D, N), "u", "union branch index 2 out of range for [null, string]"},
		{"negative union index", valid(B, I, L, S, E, long(-1), F, A, M, ID, D, N), "u", "union branch index -1 out of range"},
		{"invalid UTF-8 in union string", valid(B, I, L, S, E, cat(long(1), long(1), []byte{0xff}), F, A, M, ID, D, N), "u", "not valid UTF-8"},
		{"fixed truncated", cat(B, I, L, S, E, U, []byte("a")), "f", "unexpected end of data reading com.acme.F (fixed 2)"},
		{"array item error", cat(B, I, L, S, E, U, F, long(2), long(7), []byte{0x80}), "a[1].x", "unexpected end of data reading int"},
		{"array second block item", valid(B, I, L, S, E, U, F, cat(long(1), long(7), long(1), []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, long(0)), M, ID, D, N), "a[1].x", "varint overflows an int"},
		{"array count beyond data", cat(B, I, L, S, E, U, F, long(1000), long(1), long(2)), "a[2].x", "unexpected end of data reading int"},
		{"array negative count, bad size", valid(B, I, L, S, E, U, F, cat(long(-2), long(3), long(7), long(8), long(0)), M, ID, D, N), "a", "array block byte size 3 does not match its items (2 bytes)"},
		{"array negative size", valid(B, I, L, S, E, U, F, cat(long(-1), long(-1), long(7), long(0)), M, ID, D, N), "a", "array block byte size -1 is invalid"},
		{"array min int64 count", valid(B, I, L, S, E, U, F, cat(long(-1<<63), long(0)), M, ID, D, N), "a", "array block count out of range"},
		{"map value error", valid(B, I, L, S, E, U, F, A, cat(long(1), str("k"), cat(long(1), []byte{0xff}), long(0)), ID, D, N), "m{k}", "string is not valid UTF-8"},
		{"map key invalid UTF-8", valid(B, I, L, S, E, U, F, A, cat(long(1), cat(long(1), []byte{0xff}), str("v"), long(0)), ID, D, N), "m", "entry 0: map key is not valid UTF-8"},
		{"map negative key length", valid(B, I, L, S, E, U, F, A, cat(long(1), long(-3)), ID, D, N), "m", "entry 0: negative map key length -3"},
		{"map unterminated", cat(B, I, L, S, E, U, F, A, long(1), str("k"), str("v")), "m", "unexpected end of data reading map block count"},
		{"bad uuid", valid(B, I, L, S, E, U, F, A, M, str("not-a-uuid"), D, N), "id", "expected a UUID"},
		{"decimal over precision", valid(B, I, L, S, E, U, F, A, M, ID, cat(long(2), []byte{0x03, 0xe8}), N), "d", "decimal unscaled value has 4 digits, more than the precision"},
		{"negative decimal over precision", valid(B, I, L, S, E, U, F, A, M, ID, cat(long(2), []byte{0xfc, 0x18}), N), "d", "has 4 digits"},
		{"too many zero-width items", valid(B, I, L, S, E, U, F, A, M, ID, D, cat(long(1<<40), long(0))), "n", "more than 1048576 items"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(schema, tc.data)
			if err == nil {
				t.Fatalf("accepted %x", tc.data)
			}
			fe := asFieldError(t, err)
			if fe.Path != tc.path || !strings.Contains(fe.Reason, tc.reason) {
				t.Fatalf("got %q / %q, want %q / %q", fe.Path, fe.Reason, tc.path, tc.reason)
			}
		})
	}
	// Negative decimal within precision, and non-minimal varints, are fine.
	ok := valid(B, []byte{0x8a, 0x80, 0x80, 0x00}, L, S, E, U, F, A, M, ID, cat(long(2), []byte{0xfc, 0x19}), N)
	if err := Validate(schema, ok); err != nil {
		t.Fatalf("rejected %x: %v", ok, err)
	}
}

// TestValidateTopLevel: schemas that are not records.
func TestValidateTopLevel(t *testing.T) {
	cases := []struct {
		schema string
		data   []byte
		ok     bool
	}{
		{`"null"`, nil, true},
		{`"null"`, []byte{0}, false},
		{`"int"`, long(-7), true},
		{`"double"`, make([]byte, 8), true},
		{`"double"`, make([]byte, 7), false},
		{`"float"`, make([]byte, 4), true},
		{`["null","int"]`, cat(long(1), long(3)), true},
		{`["null","int"]`, long(1), false},
		{`{"type":"array","items":"int"}`, cat(long(-2), long(2), long(1), long(2), long(0)), true},
		{`{"type":"array","items":"null"}`, cat(long(5), long(0)), true},
		{`{"type":"fixed","name":"Z","size":0}`, nil, true},
	}
	for _, tc := range cases {
		err := Validate(parseSchema(t, tc.schema), tc.data)
		if (err == nil) != tc.ok {
			t.Errorf("%s %x: err %v, want ok=%v", tc.schema, tc.data, err, tc.ok)
		}
	}
}
