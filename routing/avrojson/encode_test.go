package avrojson

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestEncodeRoundTrip encodes JSON with EncodeJSON and with Encode (on the value
// decoded with UseNumber), decodes both with hamba/avro and compares with the expected
// Go value; the output must also pass Validate.
func TestEncodeRoundTrip(t *testing.T) {
	const rec = `{"type":"record","name":"R","namespace":"com.acme","fields":[
		{"name":"a","type":"int"},
		{"name":"b","type":{"type":"record","name":"B","fields":[
			{"name":"c","type":{"type":"array","items":{"type":"map","values":"long"}}}]}}]}`
	const unionRec = `["null",{"type":"record","name":"A","namespace":"com.acme","fields":[{"name":"x","type":"int"}]},"string"]`
	const mapUnion = `["null",{"type":"map","values":"int"}]`
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	cases := []struct {
		name   string
		schema string
		json   string
		want   any
	}{
		{"int", `"int"`, `42`, 42},
		{"int min", `"int"`, `-2147483648`, -2147483648},
		{"int max", `"int"`, `2147483647`, 2147483647},
		{"int exponent", `"int"`, `1e3`, 1000},
		{"int integral fraction", `"int"`, `10.0`, 10},
		{"int negative exponent", `"int"`, `120e-1`, 12},
		{"int negative zero", `"int"`, `-0`, 0},
		{"long max", `"long"`, `9223372036854775807`, int64(math.MaxInt64)},
		{"long min", `"long"`, `-9223372036854775808`, int64(math.MinInt64)},
		{"long beyond float precision", `"long"`, `9007199254740993`, int64(9007199254740993)},
		{"long exponent", `"long"`, `1.5E2`, int64(150)},
		{"double", `"double"`, `19.99`, 19.99},
		{"double from integer", `"double"`, `3`, 3.0},
		{"double large", `"double"`, `1e308`, 1e308},
		{"double NaN", `"double"`, `"NaN"`, math.NaN()},
		{"double Infinity", `"double"`, `"Infinity"`, math.Inf(1)},
		{"double -Infinity", `"double"`, `"-Infinity"`, math.Inf(-1)},
		{"float", `"float"`, `0.1`, float32(0.1)},
		{"float NaN", `"float"`, `"NaN"`, float32(math.NaN())},
		{"boolean true", `"boolean"`, `true`, true},
		{"boolean false", `"boolean"`, ` false `, false},
		{"null", `"null"`, `null`, nil},
		{"string escapes", `"string"`, `"h\u00e9llo \ud83d\ude00 \"q\" \\ \/ \n"`, "héllo 😀 \"q\" \\ / \n"},
		{"string utf8", `"string"`, `"日本"`, "日本"},
		{"string lone surrogate", `"string"`, `"a\ud800b"`, "a\uFFFDb"},
		{"bytes", `"bytes"`, `"\u0000\u00ffA"`, []byte{0, 255, 'A'}},
		{"bytes empty", `"bytes"`, `""`, []byte{}},
		{"fixed", `{"type":"fixed","name":"F","size":3}`, `"a\u00e9\u0000"`, [3]byte{'a', 0xe9, 0}},
		{"enum", `{"type":"enum","name":"E","symbols":["A","B","C"]}`, `"C"`, "C"},
		{"enum many symbols", `{"type":"enum","name":"E","symbols":["A","B","C","D","E","F","G","H","I","J"]}`, `"J"`, "J"},
		{"array", `{"type":"array","items":"int"}`, `[1,2,3]`, []any{1, 2, 3}},
		{"array empty", `{"type":"array","items":"int"}`, `[]`, []any{}},
		{"map", `{"type":"map","values":"int"}`, `{"a":1,"b":2}`, map[string]any{"a": 1, "b": 2}},
		{"map empty", `{"type":"map","values":"int"}`, `{}`, map[string]any{}},
		{"nested record", rec, `{"b":{"c":[{"x":1},{}]},"a":7}`,
			map[string]any{"a": 7, "b": map[string]any{"c": []any{map[string]any{"x": int64(1)}, map[string]any{}}}}},
		{"null union null", `["null","string"]`, `null`, nil},
		{"null union value", `["null","string"]`, `"x"`, "x"},
		{"union first accepting branch", `["int","string"]`, `"5"`, "5"},
		{"union first accepting branch number", `["string","int"]`, `5`, 5},
		{"union long before double", `["long","double"]`, `2`, int64(2)},
		{"union double when fractional", `["long","double"]`, `2.5`, 2.5},
		{"union bytes before string", `["bytes","string"]`, `"ab"`, []byte("ab")},
		{"union string when not bytes", `["bytes","string"]`, `"\u0100"`, "\u0100"},
		{"union explicit primitive", `["string","int"]`, `{"int":5}`, 5},
		{"union explicit full name", unionRec, `{"com.acme.A":{"x":1}}`, map[string]any{"com.acme.A": map[string]any{"x": 1}}},
		{"union explicit short name", unionRec, `{"A":{"x":1}}`, map[string]any{"com.acme.A": map[string]any{"x": 1}}},
		{"union plain record", unionRec, `{"x":1}`, map[string]any{"com.acme.A": map[string]any{"x": 1}}},
		{"union explicit map", mapUnion, `{"map":{"a":1}}`, map[string]any{"map": map[string]any{"a": 1}}},
		{"union plain map", mapUnion, `{"a":1}`, map[string]any{"map": map[string]any{"a": 1}}},
		{"union wrapper-looking plain map", mapUnion, `{"map":3}`, map[string]any{"map": map[string]any{"map": 3}}},
		{"union explicit logical", `["null",{"type":"long","logicalType":"timestamp-millis"}]`, `{"long":1000}`,
			ts("1970-01-01T00:00:01Z")},
		{"timestamp-millis integer", `{"type":"long","logicalType":"timestamp-millis"}`, `1714979289123`, ts("2024-05-06T07:08:09.123Z")},
		{"timestamp-millis string", `{"type":"long","logicalType":"timestamp-millis"}`, `"2024-05-06T07:08:09.123Z"`, ts("2024-05-06T07:08:09.123Z")},
		{"timestamp-millis offset", `{"type":"long","logicalType":"timestamp-millis"}`, `"2024-05-06T09:08:09.123+02:00"`, ts("2024-05-06T07:08:09.123Z")},
		{"timestamp-millis truncates", `{"type":"long","logicalType":"timestamp-millis"}`, `"2024-05-06T07:08:09.123999Z"`, ts("2024-05-06T07:08:09.123Z")},
		{"timestamp-millis before epoch", `{"type":"long","logicalType":"timestamp-millis"}`, `"1969-12-31T23:59:59.5Z"`, ts("1969-12-31T23:59:59.5Z")},
		{"timestamp-micros string", `{"type":"long","logicalType":"timestamp-micros"}`, `"2024-05-06T07:08:09.123456Z"`, ts("2024-05-06T07:08:09.123456Z")},
		{"local-timestamp-millis", `{"type":"long","logicalType":"local-timestamp-millis"}`, `"1970-01-01T00:00:01.5"`, time.UnixMilli(1500).UTC()},
		{"local-timestamp-micros", `{"type":"long","logicalType":"local-timestamp-micros"}`, `"1970-01-01T00:00:00.000002"`, time.UnixMicro(2).UTC()},
		{"date string", `{"type":"int","logicalType":"date"}`, `"1970-01-03"`, ts("1970-01-03T00:00:00Z")},
		{"date before epoch", `{"type":"int","logicalType":"date"}`, `"1969-12-31"`, ts("1969-12-31T00:00:00Z")},
		{"date integer", `{"type":"int","logicalType":"date"}`, `19000`, ts("2022-01-08T00:00:00Z")},
		{"time-millis", `{"type":"int","logicalType":"time-millis"}`, `"01:00:00.5"`, time.Hour + 500*time.Millisecond},
		{"time-millis integer", `{"type":"int","logicalType":"time-millis"}`, `1500`, 1500 * time.Millisecond},
		{"time-micros", `{"type":"long","logicalType":"time-micros"}`, `"23:59:59.999999"`, 24*time.Hour - time.Microsecond},
		{"decimal bytes string", `{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}`, `"-12.5"`, big.NewRat(-25, 2)},
		{"decimal bytes number", `{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}`, `1234567.89`, big.NewRat(123456789, 100)},
		{"decimal bytes exponent", `{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}`, `1.5e3`, big.NewRat(1500, 1)},
		{"decimal bytes zero", `{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}`, `"0.00"`, big.NewRat(0, 1)},
		{"decimal trailing zeros beyond scale", `{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}`, `"1.2500"`, big.NewRat(5, 4)},
		{"decimal big", `{"type":"bytes","logicalType":"decimal","precision":38,"scale":3}`, `"-12345678901234567890123456789012345.678"`,
			mustRat(t, "-12345678901234567890123456789012345678/1000")},
		{"decimal fixed", `{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":18,"scale":2}`, `-1.01`, big.NewRat(-101, 100)},
		{"uuid", `{"type":"string","logicalType":"uuid"}`, `"123E4567-e89b-12d3-a456-426614174000"`, "123E4567-e89b-12d3-a456-426614174000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			schema := parseSchema(t, tc.schema)
			prefix := []byte("prefix")
			out, err := EncodeJSON(bytes.Clone(prefix), schema, []byte(tc.json))
			if err != nil {
				t.Fatalf("EncodeJSON: %v", err)
			}
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("EncodeJSON did not append: %x", out)
			}
			out = out[len(prefix):]
			if err := Validate(schema, out); err != nil {
				t.Fatalf("Validate(%x): %v", out, err)
			}
			if got := hambaDecode(t, schema, out); !sameValue(got, tc.want) {
				t.Fatalf("decoded %#v, want %#v (bytes %x)", got, tc.want, out)
			}
			out2, err := Encode(nil, schema, decodeUseNumber(t, tc.json))
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if got := hambaDecode(t, schema, out2); !sameValue(got, tc.want) {
				t.Fatalf("Encode decoded %#v, want %#v", got, tc.want)
			}
		})
	}
}

func mustRat(t *testing.T, s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("bad rat %s", s)
	}
	return r
}

// TestEncodeMatchesHamba compares bytes with hamba/avro's own Marshal of the same
// values given as Go natives.
func TestEncodeMatchesHamba(t *testing.T) {
	const prims = `{"type":"record","name":"P","fields":[
		{"name":"b","type":"boolean"},{"name":"i","type":"int"},{"name":"l","type":"long"},
		{"name":"f","type":"float"},{"name":"d","type":"double"},{"name":"s","type":"string"},
		{"name":"y","type":"bytes"},{"name":"n","type":"null"}]}`
	cases := []struct {
		name   string
		schema string
		json   string
		native any
	}{
		{"record of primitives", prims,
			`{"b":true,"i":-17,"l":123456789012,"f":1.25,"d":-0.1,"s":"héllo","y":"\u0001\u0002","n":null}`,
			map[string]any{"b": true, "i": -17, "l": int64(123456789012), "f": float32(1.25), "d": -0.1, "s": "héllo", "y": []byte{1, 2}, "n": nil}},
		{"zero values", prims, `{"b":false,"i":0,"l":0,"f":0,"d":0,"s":"","y":"","n":null}`,
			map[string]any{"b": false, "i": 0, "l": int64(0), "f": float32(0), "d": 0.0, "s": "", "y": []byte{}, "n": nil}},
		{"int extremes", `{"type":"array","items":"int"}`, `[-2147483648,2147483647,-1,63,64,-64,-65]`,
			[]int{math.MinInt32, math.MaxInt32, -1, 63, 64, -64, -65}},
		{"long extremes", `{"type":"array","items":"long"}`, `[-9223372036854775808,9223372036854775807]`,
			[]int64{math.MinInt64, math.MaxInt64}},
		{"array of strings", `{"type":"array","items":"string"}`, `["a","bc",""]`, []string{"a", "bc", ""}},
		{"empty array", `{"type":"array","items":"string"}`, `[]`, []string{}},
		{"nested arrays", `{"type":"array","items":{"type":"array","items":"double"}}`, `[[1.5],[],[2,3]]`, [][]float64{{1.5}, {}, {2, 3}}},
		{"map one key", `{"type":"map","values":"long"}`, `{"k":5}`, map[string]int64{"k": 5}},
		{"map of arrays", `{"type":"map","values":{"type":"array","items":"int"}}`, `{"k":[1,2]}`, map[string][]int{"k": {1, 2}}},
		{"null union null", `{"type":"record","name":"U","fields":[{"name":"u","type":["null","string"]}]}`, `{"u":null}`,
			map[string]any{"u": nil}},
		{"null union value", `{"type":"record","name":"U","fields":[{"name":"u","type":["null","long"]}]}`, `{"u":7}`,
			map[string]any{"u": int64(7)}},
		{"union second of three", `["null","string","int"]`, `3`, map[string]any{"int": 3}},
		{"enum", `{"type":"enum","name":"E","symbols":["A","B"]}`, `"B"`, "B"},
		{"fixed", `{"type":"fixed","name":"F","size":2}`, `"\u0001\u00ff"`, [2]byte{1, 255}},
		{"decimal bytes", `{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}`, `-1.27`, big.NewRat(-127, 100)},
		{"decimal bytes positive sign byte", `{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}`, `1.28`, big.NewRat(128, 100)},
		{"decimal fixed", `{"type":"fixed","name":"D","size":6,"logicalType":"decimal","precision":12,"scale":3}`, `-4.5`, big.NewRat(-9, 2)},
		{"timestamp-micros", `{"type":"long","logicalType":"timestamp-micros"}`, `"2024-05-06T07:08:09.123456Z"`,
			time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)},
		{"date", `{"type":"int","logicalType":"date"}`, `"2024-02-29"`, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			schema := parseSchema(t, tc.schema)
			want, err := hambaPlain.Marshal(schema, tc.native)
			if err != nil {
				t.Fatalf("hamba Marshal: %v", err)
			}
			got, err := EncodeJSON(nil, schema, []byte(tc.json))
			if err != nil {
				t.Fatalf("EncodeJSON: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("EncodeJSON = %x, hamba = %x", got, want)
			}
			got, err = Encode(nil, schema, decodeUseNumber(t, tc.json))
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Encode = %x, hamba = %x", got, want)
			}
		})
	}
}

// TestEncodeBytes pins exact encodings the spec defines.
func TestEncodeBytes(t *testing.T) {
	dec := `{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}`
	fix := `{"type":"fixed","name":"D","size":4,"logicalType":"decimal","precision":9,"scale":2}`
	cases := []struct {
		schema, json, hex string
	}{
		{`"int"`, `0`, "00"},
		{`"int"`, `-1`, "01"},
		{`"int"`, `1`, "02"},
		{`"int"`, `-64`, "7f"},
		{`"int"`, `64`, "8001"},
		{`"long"`, `-9223372036854775808`, "ffffffffffffffffff01"},
		{`"float"`, `1`, "0000803f"},
		{`"double"`, `-2`, "00000000000000c0"},
		{`"string"`, `"foo"`, "06666f6f"},
		{`"bytes"`, `"\u00ff"`, "02ff"},
		{`{"type":"array","items":"long"}`, `[3, 27]`, "04063600"},
		{`{"type":"map","values":"boolean"}`, `{"a":true}`, "0202610100"},
		{`["null","string"]`, `"a"`, "020261"},
		{`["null","string"]`, `null`, "00"},
		{dec, `"1.00"`, "0264"},
		{dec, `"-1.00"`, "029c"},
		{dec, `"1.28"`, "040080"},
		{dec, `"-1.28"`, "0280"},
		{dec, `"0"`, "0200"},
		{dec, `"-0.01"`, "02ff"},
		{fix, `"-0.01"`, "ffffffff"},
		{fix, `"1.00"`, "00000064"},
		{`{"type":"long","logicalType":"timestamp-millis"}`, `"1970-01-01T00:00:01Z"`, "d00f"},
		{`{"type":"int","logicalType":"date"}`, `"1970-01-02"`, "02"},
		{`{"type":"int","logicalType":"time-millis"}`, `"00:00:00.001"`, "02"},
	}
	for _, tc := range cases {
		schema := parseSchema(t, tc.schema)
		got, err := EncodeJSON(nil, schema, []byte(tc.json))
		if err != nil {
			t.Errorf("%s %s: %v", tc.schema, tc.json, err)
			continue
		}
		if hex.EncodeToString(got) != tc.hex {
			t.Errorf("%s %s = %x, want %s", tc.schema, tc.json, got, tc.hex)
		}
	}
}

// TestUnionBranchSelection checks which branch index is written: null goes to the
// null branch, the wrapper form names a branch, otherwise the first branch that
// accepts the value wins.
func TestUnionBranchSelection(t *testing.T) {
	const rec = `{"type":"record","name":"A","namespace":"com.acme","fields":[{"name":"x","type":"int"}]}`
	cases := []struct {
		union, json string
		branch      int64
	}{
		{`["null","string"]`, `null`, 0},
		{`["string","null"]`, `null`, 1},
		{`["null","string"]`, `"a"`, 1},
		{`["int","string"]`, `"5"`, 1},
		{`["string","int"]`, `5`, 1},
		{`["long","double"]`, `2`, 0},
		{`["long","double"]`, `2.5`, 1},
		{`["int","long"]`, `3000000000`, 1},
		{`["double","long"]`, `2`, 0},
		{`["bytes","string"]`, `"ab"`, 0},
		{`["bytes","string"]`, `"\u0100"`, 1},
		{`["string","int"]`, `{"int":5}`, 1},
		{`["null","double",{"type":"long","logicalType":"timestamp-millis"}]`, `"2024-01-01T00:00:00Z"`, 2},
		{`["null","double",{"type":"long","logicalType":"timestamp-millis"}]`, `{"long.timestamp-millis":5}`, 2},
		{`["null","double",{"type":"long","logicalType":"timestamp-millis"}]`, `{"long":5}`, 2},
		{`["null","double",{"type":"long","logicalType":"timestamp-millis"}]`, `"NaN"`, 1},
		{`["null",{"type":"enum","name":"E","symbols":["A"]},"string"]`, `"A"`, 1},
		{`["null",{"type":"enum","name":"E","symbols":["A"]},"string"]`, `"B"`, 2},
		{`["null",{"type":"enum","name":"E","namespace":"n","symbols":["A"]},"string"]`, `{"n.E":"A"}`, 1},
		{`["null",` + rec + `,{"type":"map","values":"int"}]`, `{"x":1}`, 1},
		{`["null",` + rec + `,{"type":"map","values":"int"}]`, `{"y":1}`, 2},
		{`["null",` + rec + `,{"type":"map","values":"int"}]`, `{"map":{"x":1}}`, 2},
		{`["null",` + rec + `,{"type":"map","values":"int"}]`, `{"A":{"x":1}}`, 1},
		{`["null",{"type":"array","items":"int"},"string"]`, `[1]`, 1},
	}
	for _, tc := range cases {
		schema := parseSchema(t, tc.union)
		out, err := EncodeJSON(nil, schema, []byte(tc.json))
		if err != nil {
			t.Errorf("%s %s: %v", tc.union, tc.json, err)
			continue
		}
		if len(out) == 0 || int64(out[0]>>1) != tc.branch || out[0]&1 != 0 {
			t.Errorf("%s %s: wrote %x, want branch %d", tc.union, tc.json, out, tc.branch)
		}
		if err := Validate(schema, out); err != nil {
			t.Errorf("%s %s: Validate: %v", tc.union, tc.json, err)
		}
	}
}

// TestEncodeDefaults: missing fields take their defaults, nested and in unions.
func TestEncodeDefaults(t *testing.T) {
	schema := parseSchema(t, `{"type":"record","name":"D","namespace":"com.acme","fields":[
		{"name":"id","type":"string"},
		{"name":"i","type":"int","default":7},
		{"name":"l","type":"long","default":-3},
		{"name":"f","type":"float","default":1.5},
		{"name":"d","type":"double","default":2.25},
		{"name":"b","type":"boolean","default":true},
		{"name":"s","type":"string","default":"dflt"},
		{"name":"y","type":"bytes","default":"\u00ff\u0000"},
		{"name":"x","type":{"type":"fixed","name":"X","size":2},"default":"ab"},
		{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]},"default":"B"},
		{"name":"a","type":{"type":"array","items":"int"},"default":[1,2]},
		{"name":"m","type":{"type":"map","values":"string"},"default":{"k":"v"}},
		{"name":"n","type":["null","string"],"default":null},
		{"name":"u","type":["string","null"],"default":"first"},
		{"name":"r","type":{"type":"record","name":"Inner","fields":[
			{"name":"p","type":"int"},
			{"name":"q","type":"string","default":"qq"}]},"default":{"p":5}},
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"},"default":0}
	]}`)
	out, err := EncodeJSON(nil, schema, []byte(`{"id":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(schema, out); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := map[string]any{
		"id": "x", "i": 7, "l": int64(-3), "f": float32(1.5), "d": 2.25, "b": true, "s": "dflt",
		"y": []byte{0xff, 0}, "x": [2]byte{'a', 'b'}, "e": "B", "a": []any{1, 2},
		"m": map[string]any{"k": "v"}, "n": nil, "u": "first",
		"r": map[string]any{"p": 5, "q": "qq"}, "ts": time.Unix(0, 0).UTC(),
	}
	if got := hambaDecode(t, schema, out); !sameValue(got, want) {
		t.Fatalf("decoded %#v\nwant %#v", got, want)
	}
	// The defaults are the same bytes hamba writes for them.
	hb, err := hambaPlain.Marshal(schema, map[string]any{
		"id": "x", "i": 7, "l": int64(-3), "f": float32(1.5), "d": 2.25, "b": true, "s": "dflt",
		"y": []byte{0xff, 0}, "x": [2]byte{'a', 'b'}, "e": "B", "a": []int{1, 2},
		"m": map[string]string{"k": "v"}, "n": nil, "u": "first",
		"r": map[string]any{"p": 5, "q": "qq"}, "ts": time.Unix(0, 0).UTC(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, hb) {
		t.Fatalf("defaults %x, hamba %x", out, hb)
	}
	// A present field overrides its default; null is a value, not "missing".
	out, err = EncodeJSON(nil, schema, []byte(`{"id":"x","i":1,"n":"set","r":{"p":1,"q":"z"}}`))
	if err != nil {
		t.Fatal(err)
	}
	got := hambaDecode(t, schema, out).(map[string]any)
	if got["i"] != 1 || got["n"] != "set" || !sameValue(got["r"], map[string]any{"p": 1, "q": "z"}) {
		t.Fatalf("overrides lost: %#v", got)
	}
	if _, err := EncodeJSON(nil, schema, []byte(`{"id":"x","i":null}`)); err == nil {
		t.Fatal("null for an int field with a default was accepted")
	}
}

// TestEncodeRecursive: a recursive schema (linked list) encodes and decodes.
func TestEncodeRecursive(t *testing.T) {
	schema := parseSchema(t, `{"type":"record","name":"Node","fields":[
		{"name":"v","type":"int"},
		{"name":"next","type":["null","Node"],"default":null},
		{"name":"kids","type":{"type":"array","items":"Node"},"default":[]}]}`)
	out, err := EncodeJSON(nil, schema, []byte(`{"v":1,"next":{"v":2,"next":{"v":3}},"kids":[{"v":4}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(schema, out); err != nil {
		t.Fatal(err)
	}
	got := hambaDecode(t, schema, out)
	want := map[string]any{"v": 1, "kids": []any{map[string]any{"v": 4, "next": nil, "kids": []any{}}},
		"next": map[string]any{"Node": map[string]any{"v": 2, "kids": []any{},
			"next": map[string]any{"Node": map[string]any{"v": 3, "next": nil, "kids": []any{}}}}}}
	if !sameValue(got, want) {
		t.Fatalf("decoded %#v", got)
	}
	_, err = EncodeJSON(nil, schema, []byte(`{"v":1,"next":{"v":2,"next":{"v":"x"}}}`))
	if fe := asFieldError(t, err); fe.Path != "next.next.v" {
		t.Fatalf("path %q (%v)", fe.Path, err)
	}
}

// TestEncodeAppendsAndKeepsDstOnError: Encode appends to dst and leaves it as it was on
// error.
func TestEncodeAppendsAndKeepsDstOnError(t *testing.T) {
	schema := parseSchema(t, `"int"`)
	dst := []byte{9, 9}
	out, err := EncodeJSON(dst, schema, []byte(`"x"`))
	if err == nil || !bytes.Equal(out, []byte{9, 9}) {
		t.Fatalf("out %x err %v", out, err)
	}
	out, err = Encode(dst, schema, int64(1))
	if err != nil || !bytes.Equal(out, []byte{9, 9, 2}) {
		t.Fatalf("out %x err %v", out, err)
	}
}

// TestEncodeGoValues: Encode takes encoding/json's float64 and Go integers too, and
// reports values that are not JSON with a path.
func TestEncodeGoValues(t *testing.T) {
	schema := parseSchema(t, `{"type":"record","name":"G","fields":[
		{"name":"i","type":"int"},{"name":"l","type":"long"},{"name":"d","type":"double"},{"name":"f","type":"float"},
		{"name":"m","type":{"type":"map","values":"int"}}]}`)
	out, err := Encode(nil, schema, map[string]any{"i": float64(3), "l": uint32(9), "d": 2, "f": float32(1.5), "m": map[string]any{"a": int8(1)}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"i": 3, "l": int64(9), "d": 2.0, "f": float32(1.5), "m": map[string]any{"a": 1}}
	if got := hambaDecode(t, schema, out); !sameValue(got, want) {
		t.Fatalf("decoded %#v", got)
	}
	// Raw JSON text is EncodeJSON.
	for _, raw := range []any{json.RawMessage(`{"i":3,"l":9,"d":2,"f":1.5,"m":{"a":1}}`), []byte(`{"i":3,"l":9,"d":2,"f":1.5,"m":{"a":1}}`)} {
		out2, err := Encode(nil, schema, raw)
		if err != nil || !bytes.Equal(out2, out) {
			t.Fatalf("raw %T: %x %v, want %x", raw, out2, err, out)
		}
	}
	for _, tc := range []struct {
		value any
		path  string
	}{
		{map[string]any{"i": 1, "l": 1, "d": 1, "f": 1, "m": map[string]any{"a": struct{}{}}}, "m{a}"},
		{map[string]any{"i": 1, "l": 1, "d": math.NaN(), "f": 1, "m": map[string]any{}}, "d"},
		{map[string]any{"i": 1, "l": 1, "d": 1, "f": 1, "m": map[string]any{"a": json.Number("1x")}}, "m{a}"},
		{map[string]any{"i": 1, "l": "\xff", "d": 1, "f": 1, "m": map[string]any{}}, "l"},
		{map[string]any{"i": 1.5, "l": 1, "d": 1, "f": 1, "m": map[string]any{}}, "i"},
		{map[string]any{"i": 1, "l": 1, "d": 1, "f": 1, "m": map[string]any{"\xff": 1}}, "m"},
		{map[string]any{"i": 1, "l": 1, "d": 1, "f": 1, "m": map[string]any{}, "\xff": 1}, ""},
		{map[string]any{"i": 1, "l": 1, "d": 1, "f": 1, "m": []byte(`{}`)}, "m"},
	} {
		_, err := Encode(nil, schema, tc.value)
		if fe := asFieldError(t, err); fe.Path != tc.path {
			t.Errorf("%v: path %q, want %q (%v)", tc.value, fe.Path, tc.path, err)
		}
	}
}

// TestCodec: a compiled Codec gives the same results as the package functions, and
// the package cache survives being cleared.
func TestCodec(t *testing.T) {
	schema := parseSchema(t, orderSchema)
	c, err := NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.EncodeJSON(nil, []byte(orderJSON))
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeJSON(nil, schema, []byte(orderJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("codec %x, package %x", a, b)
	}
	if err := c.Validate(a); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCodec(nil); err == nil {
		t.Fatal("nil schema accepted")
	}
	if _, err := EncodeJSON(nil, nil, []byte(`1`)); err == nil {
		t.Fatal("nil schema accepted")
	}
	// Fill the cache past its limit: it is dropped and refilled, results unchanged.
	for range cacheLimit + 10 {
		if _, err := codecFor(parseSchema(t, `"int"`)); err != nil {
			t.Fatal(err)
		}
	}
	if n := cacheSize.Load(); n > cacheLimit {
		t.Fatalf("cache size %d over limit", n)
	}
	b2, err := EncodeJSON(nil, schema, []byte(orderJSON))
	if err != nil || !bytes.Equal(b2, a) {
		t.Fatalf("after cache reset: %x %v", b2, err)
	}
}

// TestUnionWorkLimit: a union whose branches both recurse would make a naive "try each
// branch" exponential in the nesting depth; the work limit stops that, and valid values
// are not affected.
func TestUnionWorkLimit(t *testing.T) {
	schema := parseSchema(t, `{"type":"record","name":"W","fields":[{"name":"v","type":["null",
		{"type":"record","name":"A","fields":[{"name":"c","type":"W"}]},
		{"type":"record","name":"B","fields":[{"name":"c","type":"W"},{"name":"b","type":"int","default":0}]}]}]}`)
	nest := func(depth int, inner string) string {
		var b bytes.Buffer
		for range depth {
			b.WriteString(`{"v":{"c":`)
		}
		b.WriteString(`{"v":` + inner + `}`)
		for range depth {
			b.WriteString(`}}`)
		}
		return b.String()
	}
	if _, err := EncodeJSON(nil, schema, []byte(nest(60, "null"))); err != nil {
		t.Fatalf("valid deep value: %v", err)
	}
	start := time.Now()
	_, err := EncodeJSON(nil, schema, []byte(nest(60, "5")))
	if fe := asFieldError(t, err); fe.Reason != errTooComplex {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	// Shallow failures still get the precise error.
	_, err = EncodeJSON(nil, schema, []byte(nest(2, "5")))
	if fe := asFieldError(t, err); fe.Reason == errTooComplex || !strings.Contains(fe.Reason, "no branch of union") {
		t.Fatalf("got %v", err)
	}
}
