package avrovalue

import (
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

func TestDecode(t *testing.T) {
	ts := time.Date(2024, 3, 1, 9, 30, 15, 123456000, time.UTC)
	cases := []struct {
		name   string
		schema string
		in     any // what hamba encodes
		want   any
	}{
		{"null", `"null"`, nil, nil},
		{"boolean", `"boolean"`, true, true},
		{"int", `"int"`, int32(-7), int32(-7)},
		{"long", `"long"`, int64(1) << 60, int64(1) << 60},
		{"float", `"float"`, float32(1.5), float32(1.5)},
		{"double", `"double"`, -2.25, -2.25},
		{"string", `"string"`, "héllo", "héllo"},
		{"bytes", `"bytes"`, []byte{0, 255}, []byte{0, 255}},
		{"fixed", `{"type":"fixed","name":"F","size":3}`, [3]byte{1, 2, 3}, []byte{1, 2, 3}},
		{"enum", `{"type":"enum","name":"E","symbols":["A","B"]}`, "B", "B"},
		{"array", `{"type":"array","items":"int"}`, []int32{1, 2}, []any{int32(1), int32(2)}},
		{"empty array", `{"type":"array","items":"int"}`, []int32{}, []any{}},
		{"map", `{"type":"map","values":"long"}`, map[string]int64{"a": 1}, map[string]any{"a": int64(1)}},
		{"nullable null", `["null","string"]`, nil, nil},
		{"nullable value", `["null","string"]`, map[string]any{"string": "x"}, "x"},
		{"union long", `["null","long","string"]`, map[string]any{"long": int64(5)}, int64(5)},
		{"decimal bytes", `{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}`, big.NewRat(-1230, 100),
			Decimal{Unscaled: big.NewInt(-1230), Scale: 2, Precision: 9}},
		{"decimal fixed", `{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":18,"scale":3}`, big.NewRat(12345, 1000),
			Decimal{Unscaled: big.NewInt(12345), Scale: 3, Precision: 18}},
		{"timestamp-micros", `{"type":"long","logicalType":"timestamp-micros"}`, ts, ts},
		{"timestamp-millis", `{"type":"long","logicalType":"timestamp-millis"}`, ts, ts.Truncate(time.Millisecond)},
		{"before epoch", `{"type":"long","logicalType":"timestamp-micros"}`, time.Date(1901, 1, 1, 0, 0, 0, 1000, time.UTC),
			time.Date(1901, 1, 1, 0, 0, 0, 1000, time.UTC)},
		{"local-timestamp-micros", `{"type":"long","logicalType":"local-timestamp-micros"}`, ts, LocalTimestamp{ts}},
		{"date", `{"type":"int","logicalType":"date"}`, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), Date{Days: 19783}},
		{"time-millis", `{"type":"int","logicalType":"time-millis"}`, 90 * time.Second, 90 * time.Second},
		{"time-micros", `{"type":"long","logicalType":"time-micros"}`, 1500 * time.Microsecond, 1500 * time.Microsecond},
		{"uuid", `{"type":"string","logicalType":"uuid"}`, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
		{"record", `{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int"},{"name":"in","type":{"type":"record","name":"I","fields":[{"name":"s","type":"string"}]}}]}`,
			map[string]any{"a": int32(1), "in": map[string]any{"s": "z"}},
			&Record{Name: "n.R", Fields: []Field{{"a", int32(1)}, {"in", &Record{Name: "n.I", Fields: []Field{{"s", "z"}}}}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := avro.MustParse(c.schema)
			data, err := avro.Marshal(s, c.in)
			if err != nil {
				t.Fatalf("hamba marshal: %v", err)
			}
			got, err := Decode(s, data)
			if err != nil {
				t.Fatal(err)
			}
			if d := Diff(c.want, got); d != "" {
				t.Fatal(d)
			}
		})
	}
}

func TestDecodeRejectsBadData(t *testing.T) {
	cases := []struct {
		name, schema string
		data         []byte
		want         string
	}{
		{"truncated string", `"string"`, []byte{10, 'a'}, "truncated"},
		{"trailing bytes", `"int"`, []byte{2, 0}, "trailing"},
		{"enum index", `{"type":"enum","name":"E","symbols":["A"]}`, []byte{4}, "out of range"},
		{"union branch", `["null","int"]`, []byte{6}, "out of range"},
		{"boolean byte", `"boolean"`, []byte{2}, "boolean byte"},
		{"int range", `"int"`, []byte{0x80, 0x80, 0x80, 0x80, 0x20}, "out of range"},
		{"huge array", `{"type":"array","items":"null"}`, []byte{0xfe, 0xff, 0xff, 0xff, 0x0f}, "truncated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(avro.MustParse(c.schema), c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestDecimalText(t *testing.T) {
	cases := []struct {
		unscaled int64
		scale    int
		text     string
	}{
		{-1230, 2, "-12.30"}, {5, 2, "0.05"}, {7, 0, "7"}, {0, 3, "0.000"}, {-5, 3, "-0.005"},
	}
	for _, c := range cases {
		d := Decimal{Unscaled: big.NewInt(c.unscaled), Scale: c.scale}
		if got := d.String(); got != c.text {
			t.Errorf("%d scale %d: %q, want %q", c.unscaled, c.scale, got, c.text)
		}
		back, ok := ParseDecimal(c.text, c.scale, 0)
		if !ok || back.Unscaled.Cmp(d.Unscaled) != 0 {
			t.Errorf("ParseDecimal(%q) = %v, %v", c.text, back, ok)
		}
	}
	for _, bad := range []string{"1.234", "1e3", "abc", "1/2"} {
		if _, ok := ParseDecimal(bad, 2, 0); ok {
			t.Errorf("ParseDecimal(%q) accepted", bad)
		}
	}
}

func TestDiffNamesThePath(t *testing.T) {
	a := &Record{Name: "R", Fields: []Field{{"items", []any{map[string]any{"k": int64(1)}}}}}
	b := &Record{Name: "R", Fields: []Field{{"items", []any{map[string]any{"k": int64(2)}}}}}
	if d := Diff(a, b); !strings.HasPrefix(d, "items[0]{k}:") {
		t.Fatalf("Diff = %q", d)
	}
	if !Equal(Decimal{Unscaled: big.NewInt(150), Scale: 2}, Decimal{Unscaled: big.NewInt(15), Scale: 1}) {
		t.Fatal("equal decimals of different scales differ")
	}
	if Equal(float64(0), math.Copysign(0, -1)) {
		t.Fatal("0 and -0 compare equal")
	}
	if !Equal(math.NaN(), math.NaN()) {
		t.Fatal("NaN differs from itself")
	}
}
