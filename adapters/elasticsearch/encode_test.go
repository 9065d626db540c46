package elasticsearch

import (
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/adapters/avrovalue"
)

func TestAppendValue(t *testing.T) {
	tests := []struct {
		name, schema string
		value        any
		want         string // JSON, or "error: <substring>"
	}{
		{"boolean", `"boolean"`, true, `true`},
		{"int", `"int"`, int32(-7), `-7`},
		{"long max", `"long"`, int64(math.MaxInt64), `9223372036854775807`},
		{"float shortest", `"float"`, float32(0.1), `0.1`},
		{"double tiny", `"double"`, 5e-324, `5e-324`},
		{"double negative zero", `"double"`, math.Copysign(0, -1), `-0`},
		{"double NaN", `"double"`, math.NaN(), "error: not finite"},
		{"float Inf", `"float"`, float32(math.Inf(1)), "error: not finite"},
		{"string escapes", `"string"`, "a\"b\\c\n\x01é", `"a\"b\\c\n\u0001é"`},
		{"string bad utf8", `"string"`, "\xff", "error: UTF-8"},
		{"bytes", `"bytes"`, []byte{0, 1, 254, 255}, `"AAH+/w=="`},
		{"fixed", `{"type":"fixed","name":"F","size":2}`, []byte{1, 2}, `"AQI="`},
		{"enum", `{"type":"enum","name":"E","symbols":["A","B"]}`, "B", `"B"`},
		{"decimal", `{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}`,
			avrovalue.Decimal{Unscaled: big.NewInt(-1230), Scale: 2, Precision: 9}, `"-12.30"`},
		{"timestamp-micros", `{"type":"long","logicalType":"timestamp-micros"}`,
			time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), `"1969-12-31T23:59:59.999999Z"`},
		{"timestamp-millis", `{"type":"long","logicalType":"timestamp-millis"}`,
			time.Date(2024, 3, 1, 9, 0, 0, 5e6, time.UTC), `"2024-03-01T09:00:00.005Z"`},
		{"timestamp year 10000", `{"type":"long","logicalType":"timestamp-micros"}`,
			time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "error: outside the years"},
		{"local-timestamp-micros", `{"type":"long","logicalType":"local-timestamp-micros"}`,
			avrovalue.LocalTimestamp{Time: time.Date(2024, 3, 1, 9, 0, 0, 1000, time.UTC)}, `"2024-03-01T09:00:00.000001"`},
		{"date", `{"type":"int","logicalType":"date"}`, avrovalue.Date{Days: -3653}, `"1960-01-01"`},
		{"time-micros", `{"type":"long","logicalType":"time-micros"}`, 13*time.Hour + 7*time.Microsecond, `"13:00:00.000007"`},
		{"time-millis", `{"type":"int","logicalType":"time-millis"}`, 25 * time.Millisecond, `"00:00:00.025"`},
		{"time out of range", `{"type":"long","logicalType":"time-micros"}`, 24 * time.Hour, "error: outside 00:00"},
		{"nullable null", `["null","string"]`, nil, `null`},
		{"nullable value", `["null","string"]`, "x", `"x"`},
		{"union long", `["null","long","string"]`, int64(3), `{"long":3}`},
		{"union string", `["null","long","string"]`, "s", `{"string":"s"}`},
		{"union record", `["null","string",{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int"}]}]`,
			&avrovalue.Record{Name: "n.R", Fields: []avrovalue.Field{{Name: "a", Value: int32(1)}}}, `{"n.R":{"a":1}}`},
		{"union no branch", `["long","string"]`, true, "error: matches no branch"},
		{"array", `{"type":"array","items":"int"}`, []any{int32(1), int32(2)}, `[1,2]`},
		{"map sorted", `{"type":"map","values":"long"}`, map[string]any{"b": int64(2), "a.x": int64(1)}, `{"a.x":1,"b":2}`},
		{"type mismatch", `"long"`, "nope", "error: does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := avro.MustParse(tt.schema)
			got, err := appendValue(nil, s, tt.value)
			if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want one containing %q (output %s)", err, want, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestIndexName(t *testing.T) {
	tests := []struct{ rendered, want, err string }{
		{"wb_Orders", "wb_orders", ""},
		{"events-checkout.order_placed-2024.03", "events-checkout.order_placed-2024.03", ""},
		{"a/b", "", "must not contain"},
		{"_x", "", "must not start"},
		{"-x", "", "must not start"},
		{"..", "", "must not be"},
		{strings.Repeat("a", 256), "", "255"},
		{"", "", "empty"},
	}
	for _, tt := range tests {
		got, err := IndexName(tt.rendered)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("IndexName(%q) error = %v, want %q", tt.rendered, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("IndexName(%q) = %q, %v; want %q", tt.rendered, got, err, tt.want)
		}
	}
}

func TestLatestVersion(t *testing.T) {
	v, err := latestVersion(time.Date(2024, 3, 1, 9, 0, 0, 1500, time.UTC))
	if err != nil || v != 1709283600000001 {
		t.Fatalf("latestVersion = %d, %v", v, err)
	}
	if _, err := latestVersion(time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Fatal("a time before 1970 got a version")
	}
}

func TestFieldMapping(t *testing.T) {
	tests := []struct{ schema, want string }{
		{`"int"`, "long"}, {`"float"`, "double"}, {`"string"`, "text"}, {`"bytes"`, "binary"},
		{`{"type":"map","values":"string"}`, "flattened"},
		{`{"type":"long","logicalType":"timestamp-micros"}`, "date"},
		{`{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}`, "keyword"},
		{`{"type":"long","logicalType":"time-micros"}`, "keyword"},
		{`["null","long"]`, "long"},
		{`{"type":"array","items":"boolean"}`, "boolean"},
	}
	for _, tt := range tests {
		m := fieldMapping(avro.MustParse(tt.schema), map[string]bool{})
		if m["type"] != tt.want {
			t.Errorf("fieldMapping(%s) = %v, want type %s", tt.schema, m, tt.want)
		}
	}
	m := fieldMapping(avro.MustParse(`["null","long","string"]`), map[string]bool{})
	props, _ := m["properties"].(map[string]any)
	if len(props) != 2 || props["long"] == nil || props["string"] == nil {
		t.Errorf("multi-branch union mapping = %v, want properties long and string", m)
	}
}
