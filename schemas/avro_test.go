package schemas

import (
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, text string, deps ...string) string {
	t.Helper()
	s, err := ParseAvro(text, deps...)
	if err != nil {
		t.Fatalf("parse %s: %v", text, err)
	}
	c, err := Canonical(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCanonicalIdentity(t *testing.T) {
	base := `{"type":"record","name":"Order","namespace":"shop","doc":"an order","fields":[
		{"name":"id","type":"string"},
		{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
		{"name":"email","type":"string","waybill.classification":"pii"},
		{"name":"n","type":"int","default":3}]}`
	tests := []struct {
		name  string
		other string
		same  bool
	}{
		{"whitespace and key order", `{"namespace":"shop","name":"Order","type":"record","doc":"an order","fields":[
			{"type":{"type":"string"},"name":"id"},
			{"name":"amount","type":{"logicalType":"decimal","type":"bytes","scale":2,"precision":9}},
			{"waybill.classification":"pii","name":"email","type":"string"},
			{"default":3,"name":"n","type":"int"}]}`, true},
		{"full name instead of namespace", `{"type":"record","name":"shop.Order","doc":"an order","fields":[
			{"name":"id","type":"string"},
			{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
			{"name":"email","type":"string","waybill.classification":"pii"},
			{"name":"n","type":"int","default":3}]}`, true},
		{"doc changed", strings.Replace(base, `"an order"`, `"one order"`, 1), false},
		{"default changed", strings.Replace(base, `"default":3`, `"default":4`, 1), false},
		{"classification removed", strings.Replace(base, `,"waybill.classification":"pii"`, ``, 1), false},
		{"decimal scale changed", strings.Replace(base, `"scale":2`, `"scale":3`, 1), false},
		{"logical type removed", strings.Replace(base, `"logicalType":"decimal",`, ``, 1), false},
	}
	want := mustParse(t, base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.other)
			if (got == want) != tt.same {
				t.Fatalf("same=%v, want %v\n base: %s\nother: %s", got == want, tt.same, want, got)
			}
			fpA, fpB := Fingerprint(SchemaTypeAvro, want, nil), Fingerprint(SchemaTypeAvro, got, nil)
			if (fpA == fpB) != tt.same {
				t.Fatalf("fingerprints equal=%v, want %v", fpA == fpB, tt.same)
			}
		})
	}
}

func TestFingerprintIncludesReferences(t *testing.T) {
	c := mustParse(t, `"string"`)
	a := Fingerprint(SchemaTypeAvro, c, nil)
	b := Fingerprint(SchemaTypeAvro, c, []Reference{{Name: "x", Subject: "s", Version: 1}})
	d := Fingerprint(SchemaTypeAvro, c, []Reference{{Name: "x", Subject: "s", Version: 2}})
	if a == b || b == d {
		t.Fatal("references do not change the fingerprint")
	}
}

func TestParseAvroSameNameDoesNotLeakBetweenCalls(t *testing.T) {
	// hamba's global cache would make the second parse see the first Order.
	mustParse(t, `{"type":"record","name":"Order","fields":[{"name":"a","type":"int"}]}`)
	c := mustParse(t, `{"type":"record","name":"Order","fields":[{"name":"b","type":"string"}]}`)
	if !strings.Contains(c, `"b"`) || strings.Contains(c, `"a"`) {
		t.Fatalf("second parse returned %s", c)
	}
	if _, err := ParseAvro(`{"type":"record","name":"X","fields":[{"name":"o","type":"Order"}]}`); err == nil {
		t.Fatal("a type from an earlier parse was visible to a later one")
	}
}

func TestParseAvroWithDependencies(t *testing.T) {
	dep := `{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"street","type":"string"}]}`
	main := `{"type":"record","name":"Customer","namespace":"shop","fields":[{"name":"home","type":"shop.Address"}]}`
	mustParse(t, main, dep)
	if _, err := ParseAvro(main); err == nil {
		t.Fatal("parsed a schema with an unresolved reference")
	}
}

func TestParseAvroRejects(t *testing.T) {
	tests := map[string]string{
		"empty":         "",
		"blank":         "   ",
		"not json":      "{",
		"unknown type":  `{"type":"recordx"}`,
		"no fields":     `{"type":"record","name":"R"}`,
		"bad default":   `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`,
		"dup field":     `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}`,
		"enum no syms":  `{"type":"enum","name":"E"}`,
		"fixed no size": `{"type":"fixed","name":"F"}`,
		"too large":     `"` + strings.Repeat("x", MaxSchemaBytes) + `"`,
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseAvro(text); err == nil {
				t.Fatalf("ParseAvro(%.60q) succeeded", text)
			}
		})
	}
}

func TestLookupField(t *testing.T) {
	s, err := ParseAvro(`{"type":"record","name":"R","fields":[
		{"name":"id","type":"string"},
		{"name":"customer","type":{"type":"record","name":"C","fields":[
			{"name":"address","type":["null",{"type":"record","name":"A","fields":[{"name":"zip","type":"string"}]}]}]}},
		{"name":"tags","type":{"type":"array","items":"string"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{"id", "customer", "customer.address", "customer.address.zip", "tags"} {
		if _, err := LookupField(s, ok); err != nil {
			t.Errorf("LookupField(%q): %v", ok, err)
		}
	}
	for path, wantErr := range map[string]string{
		"nope":                   `field "nope" not found`,
		"customer.zip":           `field "customer.zip" not found`,
		"id.x":                   `field "id" is a string, not a record`,
		"tags.x":                 `field "tags" is a array, not a record`,
		"customer.address.zip.y": `field "customer.address.zip" is a string`,
	} {
		_, err := LookupField(s, path)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("LookupField(%q) = %v, want error containing %q", path, err, wantErr)
		}
	}
}

// TestLookupPath resolves the paths of PII handling, which name fields inside arrays,
// maps and every union branch as Classification does.
func TestLookupPath(t *testing.T) {
	s, err := ParseAvro(`{"type":"record","name":"R","fields":[
		{"name":"id","type":"string"},
		{"name":"customer","type":{"type":"record","name":"C","fields":[
			{"name":"address","type":["null",{"type":"record","name":"A","fields":[{"name":"zip","type":"string"}]}]}]}},
		{"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"email","type":"string"}]}}},
		{"name":"attrs","type":["null",{"type":"map","values":{"type":"record","name":"V","fields":[{"name":"ip","type":"string"}]}}]},
		{"name":"grid","type":{"type":"array","items":{"type":"map","values":"I"}}},
		{"name":"either","type":[{"type":"record","name":"X","fields":[{"name":"a","type":"int"}]},
			{"type":"record","name":"Y","fields":[{"name":"a","type":"string"},{"name":"b","type":"int"}]}]},
		{"name":"tags","type":{"type":"array","items":"string"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	for path, branches := range map[string]int{"id": 1, "customer.address.zip": 1, "items": 1, "items[].email": 1,
		"attrs{}.ip": 1, "grid[]{}.email": 1, "either.a": 2, "either.b": 1, "tags": 1} {
		fs, err := LookupPath(s, path)
		if err != nil || len(fs) != branches {
			t.Errorf("LookupPath(%q) = %d fields, %v; want %d", path, len(fs), err, branches)
		}
	}
	for path, wantErr := range map[string]string{
		"":               "empty field path",
		"nope":           `field "nope" not found`,
		"items.email":    `field "items" is a array, not a record`,
		"items[].nope":   `field "items[].nope" not found`,
		"items{}.email":  `field "items" is not a map`,
		"tags[].x":       `field "tags[]" is a string, not a record`,
		"id[]":           `field "id" is not an array`,
		"items[]x.email": `only [] (array items) and {} (map values) may follow`,
		"[].email":       `has no field name`,
	} {
		_, err := LookupPath(s, path)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("LookupPath(%q) = %v, want error containing %q", path, err, wantErr)
		}
	}
}

func FuzzParseAvro(f *testing.F) {
	for _, seed := range []string{
		`"string"`, `{"type":"array","items":"int"}`, `{"type":"map","values":["null","long"]}`,
		`{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1}]}`,
		`{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`,
		`{"type":"fixed","name":"F","size":16,"logicalType":"decimal","precision":4}`,
		`{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`,
		`["null",{"type":"long","logicalType":"timestamp-micros"}]`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		// A hang is a bug (a hostile schema must not pin a registry core); report the
		// input instead of letting the fuzzer stall.
		done := make(chan struct{})
		go func() {
			defer close(done)
			checkParseAvro(t, text)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("parsing %q did not finish within 5s", text)
		}
	})
}

func checkParseAvro(t *testing.T, text string) {
	s, err := ParseAvro(text)
	if err != nil {
		return
	}
	// Whatever parses must canonicalise, and the canonical form must be a fixed point.
	c, err := Canonical(s)
	if err != nil {
		t.Errorf("canonical of parsed %q: %v", text, err)
		return
	}
	s2, err := ParseAvro(c)
	if err != nil {
		t.Errorf("canonical form %q of %q does not parse: %v", c, text, err)
		return
	}
	if c2, err := Canonical(s2); err != nil || c2 != c {
		t.Errorf("canonical form is not stable:\n%s\n%s", c, c2)
	}
	_ = Classification(s)
}
