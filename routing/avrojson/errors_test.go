package avrojson

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// orderWith returns orderJSON changed by mod (applied to the decoded document).
func orderWith(t testing.TB, mod func(m map[string]any)) string {
	t.Helper()
	m := decodeUseNumber(t, orderJSON).(map[string]any)
	mod(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func obj(v any) map[string]any { return v.(map[string]any) }

// TestEncodeErrors checks the exact path and the reason of every kind of error, for
// EncodeJSON and (unless the case is about raw text) for Encode on the decoded value.
func TestEncodeErrors(t *testing.T) {
	small := func(fields string) string {
		return `{"type":"record","name":"S","namespace":"com.acme","fields":[` + fields + `]}`
	}
	cases := []struct {
		name    string
		schema  string
		json    string
		path    string
		reason  []string // substrings of the reason
		rawOnly bool     // encoding/json cannot produce this value (syntax, duplicates)
	}{
		{"wrong type at depth 3", orderSchema,
			orderWith(t, func(m map[string]any) { obj(obj(m["customer"])["address"])["zip"] = json.Number("2139") }),
			"customer.address.zip", []string{"expected string, got number"}, false},
		{"wrong type in array item", orderSchema,
			orderWith(t, func(m map[string]any) { obj(m["items"].([]any)[1])["price"] = "cheap" }),
			"items[1].price", []string{"expected double, got string \"cheap\""}, false},
		{"wrong type in nested array", orderSchema,
			orderWith(t, func(m map[string]any) { obj(m["items"].([]any)[0])["tags"] = []any{"a", true} }),
			"items[0].tags[1]", []string{"expected string, got boolean"}, false},
		{"wrong type in map", orderSchema,
			orderWith(t, func(m map[string]any) { obj(m["attrs"])["color"] = json.Number("1") }),
			"attrs{color}", []string{"expected string, got number"}, false},
		{"record given array", orderSchema,
			orderWith(t, func(m map[string]any) { m["items"] = []any{[]any{}} }),
			"items[0]", []string{"expected com.acme.Item, got array"}, false},
		{"missing required field", orderSchema,
			orderWith(t, func(m map[string]any) { delete(m, "id") }),
			"id", []string{"required field is missing"}, false},
		{"missing nested required field", orderSchema,
			orderWith(t, func(m map[string]any) { delete(obj(obj(m["customer"])["address"]), "street") }),
			"customer.address.street", []string{"required field is missing"}, false},
		{"unknown field", orderSchema,
			orderWith(t, func(m map[string]any) { m["colour"] = "red" }),
			"colour", []string{"unknown field"}, false},
		{"unknown nested field", orderSchema,
			orderWith(t, func(m map[string]any) { obj(m["items"].([]any)[1])["discount"] = json.Number("1") }),
			"items[1].discount", []string{"unknown field"}, false},
		{"int overflow", orderSchema,
			orderWith(t, func(m map[string]any) { m["qty"] = json.Number("2147483648") }),
			"qty", []string{"2147483648 is out of range for int [-2147483648, 2147483647]"}, false},
		{"int underflow", orderSchema,
			orderWith(t, func(m map[string]any) { m["qty"] = json.Number("-2147483649") }),
			"qty", []string{"out of range for int [-2147483648, 2147483647]"}, false},
		{"int overflow by exponent", orderSchema,
			orderWith(t, func(m map[string]any) { m["qty"] = json.Number("1e10") }),
			"qty", []string{"1e10 is out of range for int"}, false},
		{"long overflow", orderSchema,
			orderWith(t, func(m map[string]any) { m["seq"] = json.Number("9223372036854775808") }),
			"seq", []string{"out of range for long [-9223372036854775808, 9223372036854775807]"}, false},
		{"long huge exponent", orderSchema,
			orderWith(t, func(m map[string]any) { m["seq"] = json.Number("1e999999999999") }),
			"seq", []string{"out of range for long"}, false},
		{"fraction for int", orderSchema,
			orderWith(t, func(m map[string]any) { m["qty"] = json.Number("1.5") }),
			"qty", []string{"expected an integer for int, got 1.5"}, false},
		{"tiny fraction for long", orderSchema,
			orderWith(t, func(m map[string]any) { m["seq"] = json.Number("1e-400") }),
			"seq", []string{"expected an integer for long"}, false},
		{"string for int", orderSchema,
			orderWith(t, func(m map[string]any) { m["qty"] = "3" }),
			"qty", []string{"expected int, got string"}, false},
		{"bad enum symbol", orderSchema,
			orderWith(t, func(m map[string]any) { m["status"] = "LOST" }),
			"status", []string{`unknown symbol "LOST" for enum com.acme.Status`, "allowed: NEW, PAID, SHIPPED"}, false},
		{"bad enum symbol with enum default", small(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}}`),
			`{"e":"C"}`, "e", []string{`unknown symbol "C"`, "allowed: A, B"}, false},
		{"union no matching branch", orderSchema,
			orderWith(t, func(m map[string]any) { m["note"] = true }),
			"note", []string{"no branch of union [null, string, long, com.acme.Status] accepts the boolean value",
				"null: expected null, got boolean", "string: expected string, got boolean", "long: expected long, got boolean"}, false},
		{"union several branches tried", small(`{"name":"u","type":["null","int","long","string"]}`),
			`{"u":1.5}`, "u", []string{"no branch of union [null, int, long, string]",
				"int: expected an integer for int, got 1.5", "long: expected an integer for long, got 1.5"}, false},
		{"union record branch reasons are relative", small(`{"name":"u","type":["null",{"type":"record","name":"P","fields":[{"name":"a","type":"int"}]},{"type":"map","values":"string"}]}`),
			`{"u":{"a":true}}`, "u", []string{"com.acme.P: a: expected int, got boolean", "map: {a}: expected string, got boolean"}, false},
		{"union single candidate gives precise path", orderSchema,
			orderWith(t, func(m map[string]any) { obj(m["customer"])["address"] = "nowhere" }),
			"customer.address", []string{"expected com.acme.Address, got string"}, false},
		{"union only non-null branch", orderSchema,
			orderWith(t, func(m map[string]any) { m["note"] = json.Number("1.5") }),
			"note", []string{"expected an integer for long, got 1.5"}, false},
		{"union explicit branch error", orderSchema,
			orderWith(t, func(m map[string]any) { m["note"] = map[string]any{"long": "x"} }),
			"note", []string{"expected long, got string"}, false},
		{"null without null branch", small(`{"name":"u","type":["string","int"]}`),
			`{"u":null}`, "u", []string{"null is not allowed: union [string, int] has no null branch"}, false},
		{"decimal too many fractional digits", orderSchema,
			orderWith(t, func(m map[string]any) { m["amount"] = "1.234" }),
			"amount", []string{"1.234 has 3 digits after the point, decimal(9,2) allows 2", "never rounded"}, false},
		{"decimal number too many fractional digits", orderSchema,
			orderWith(t, func(m map[string]any) { m["amount"] = json.Number("0.001") }),
			"amount", []string{"has 3 digits after the point"}, false},
		{"decimal precision overflow", orderSchema,
			orderWith(t, func(m map[string]any) { m["amount"] = "12345678.9" }),
			"amount", []string{"12345678.9 has 8 digits before the point, decimal(9,2) allows 7"}, false},
		{"decimal precision overflow by exponent", orderSchema,
			orderWith(t, func(m map[string]any) { m["amount"] = json.Number("1e7") }),
			"amount", []string{"has 8 digits before the point"}, false},
		{"decimal not a number", orderSchema,
			orderWith(t, func(m map[string]any) { m["amount"] = "12,50" }),
			"amount", []string{`expected a decimal number for bytes (decimal(9,2)), got "12,50"`}, false},
		{"decimal fixed does not fit", small(`{"name":"d","type":{"type":"fixed","name":"D","size":5,"logicalType":"decimal","precision":12,"scale":0}}`),
			`{"d":999999999999}`, "d", []string{"does not fit in 5 bytes"}, false},
		{"decimal wrong type", orderSchema,
			orderWith(t, func(m map[string]any) { m["amount"] = true }),
			"amount", []string{"expected bytes (decimal(9,2)), got boolean"}, false},
		{"bad timestamp string", orderSchema,
			orderWith(t, func(m map[string]any) { m["at"] = "2024-05-06 07:08:09" }),
			"at", []string{"RFC 3339", `got "2024-05-06 07:08:09"`}, false},
		{"bad timestamp date", orderSchema,
			orderWith(t, func(m map[string]any) { m["at"] = "2024-02-30T00:00:00Z" }),
			"at", []string{"RFC 3339"}, false},
		{"local timestamp with offset", small(`{"name":"t","type":{"type":"long","logicalType":"local-timestamp-millis"}}`),
			`{"t":"2024-01-01T00:00:00Z"}`, "t", []string{"local timestamp"}, false},
		{"bad date", small(`{"name":"d","type":{"type":"int","logicalType":"date"}}`),
			`{"d":"2024-13-01"}`, "d", []string{`a date "YYYY-MM-DD"`}, false},
		{"bad time of day", small(`{"name":"t","type":{"type":"int","logicalType":"time-millis"}}`),
			`{"t":"24:00:00"}`, "t", []string{`a time "HH:MM:SS[.fraction]"`}, false},
		{"bad time fraction", small(`{"name":"t","type":{"type":"long","logicalType":"time-micros"}}`),
			`{"t":"12:00:00."}`, "t", []string{"HH:MM:SS"}, false},
		{"bad uuid", orderSchema,
			orderWith(t, func(m map[string]any) { m["ref"] = "123e4567-e89b-12d3-a456-42661417400g" }),
			"ref", []string{"expected a UUID", "42661417400g"}, false},
		{"fixed of wrong length", orderSchema,
			orderWith(t, func(m map[string]any) { m["hash"] = "abc" }),
			"hash", []string{"expected 4 bytes for com.acme.Hash, got 3"}, false},
		{"bytes with code point over 255", orderSchema,
			orderWith(t, func(m map[string]any) { m["blob"] = "ab\u0100" }),
			"blob", []string{"code point U+0100 at character 2 is not a byte"}, false},
		{"fixed with code point over 255", orderSchema,
			orderWith(t, func(m map[string]any) { m["hash"] = "ab€d" }),
			"hash", []string{"code point U+20AC"}, false},
		{"double out of range", orderSchema,
			orderWith(t, func(m map[string]any) { m["price"] = json.Number("1e400") }),
			"price", []string{"1e400 is out of range for double"}, false},
		{"float out of range", orderSchema,
			orderWith(t, func(m map[string]any) { m["ratio"] = json.Number("1e39") }),
			"ratio", []string{"1e39 is out of range for float"}, false},
		{"double from other string", orderSchema,
			orderWith(t, func(m map[string]any) { m["price"] = "nan" }),
			"price", []string{`"NaN", "Infinity" or "-Infinity"`}, false},
		{"boolean from string", orderSchema,
			orderWith(t, func(m map[string]any) { m["paid"] = "true" }),
			"paid", []string{"expected boolean, got string"}, false},
		{"array given object", orderSchema,
			orderWith(t, func(m map[string]any) { m["items"] = map[string]any{} }),
			"items", []string{"expected array, got object"}, false},
		{"top level wrong type", `"int"`, `"7"`, "", []string{"expected int, got string"}, false},
		{"record given null", orderSchema, `null`, "", []string{"expected com.acme.Order, got null"}, false},

		{"duplicate field", small(`{"name":"a","type":"int"}`), `{"a":1,"a":2}`, "a", []string{"duplicate field"}, true},
		{"duplicate map key", orderSchema, strings.Replace(orderJSON, `"size": "L"`, `"color": "blue"`, 1),
			"attrs{color}", []string{"duplicate key"}, true},
		{"invalid JSON", orderSchema, `{"id": }`, "", []string{"invalid JSON", "offset 7"}, true},
		{"truncated JSON", orderSchema, `{"id": "x"`, "", []string{"invalid JSON", "unexpected end of input"}, true},
		{"trailing JSON", `"int"`, `1 2`, "", []string{"invalid JSON: unexpected data after the top-level value at offset 2"}, true},
		{"empty JSON", `"int"`, ``, "", []string{"invalid JSON"}, true},
		{"leading zero", `"int"`, `01`, "", []string{"invalid JSON"}, true},
		{"bad literal", `"boolean"`, `tru`, "", []string{"invalid JSON", "expecting true"}, true},
		{"bad escape", `"string"`, `"\x"`, "", []string{"invalid JSON", "invalid escape"}, true},
		{"control character", `"string"`, "\"a\tb\"", "", []string{"invalid JSON", "control character"}, true},
		{"invalid UTF-8", `"string"`, "\"a\xffb\"", "", []string{"invalid JSON", "invalid UTF-8"}, true},
		{"invalid UTF-8 with escapes", `"string"`, "\"\\n\xff\"", "", []string{"invalid JSON", "invalid UTF-8"}, true},
		{"missing colon", orderSchema, `{"id" "x"}`, "", []string{"invalid JSON", "expecting ':'"}, true},
		{"trailing comma", `{"type":"array","items":"int"}`, `[1,]`, "", []string{"invalid JSON"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			schema := parseSchema(t, tc.schema)
			check := func(what string, out []byte, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s accepted %s: %x", what, tc.json, out)
				}
				fe := asFieldError(t, err)
				if fe.Path != tc.path {
					t.Errorf("%s: path %q, want %q (%v)", what, fe.Path, tc.path, err)
				}
				for _, want := range tc.reason {
					if !strings.Contains(fe.Reason, want) {
						t.Errorf("%s: reason %q lacks %q", what, fe.Reason, want)
					}
				}
				wantMsg := fe.Reason
				if fe.Path != "" {
					wantMsg = fe.Path + ": " + fe.Reason
				}
				if err.Error() != wantMsg {
					t.Errorf("Error() = %q", err.Error())
				}
			}
			out, err := EncodeJSON(nil, schema, []byte(tc.json))
			check("EncodeJSON", out, err)
			if !tc.rawOnly {
				out, err := Encode(nil, schema, decodeUseNumber(t, tc.json))
				check("Encode", out, err)
			}
		})
	}
}

// TestOrderSampleIsValid guards the fixture the error cases start from: without it
// every error case above could pass for the wrong reason.
func TestOrderSampleIsValid(t *testing.T) {
	schema := parseSchema(t, orderSchema)
	out, err := EncodeJSON(nil, schema, []byte(orderJSON))
	if err != nil {
		t.Fatal(err)
	}
	out2, err := Encode(nil, schema, decodeUseNumber(t, orderWith(t, func(map[string]any) {})))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, out2) {
		t.Fatalf("EncodeJSON %x != Encode %x", out, out2)
	}
	got := hambaDecode(t, schema, out).(map[string]any)
	if got["seq"] != int64(9007199254740993) || got["hash"] != [4]byte{0, 0xff, 0x10, 'A'} || !sameValue(got["note"], map[string]any{"long": int64(42)}) {
		t.Fatalf("decoded %#v", got)
	}
}
