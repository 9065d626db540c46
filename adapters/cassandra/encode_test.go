package cassandra

import (
	"encoding/binary"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/hamba/avro/v2"
	"gopkg.in/inf.v0"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/routing"
)

// encodeField encodes value as field f of a one-field record, through Avro binary and
// avrovalue as the sink does, and returns what the sink binds for f.
func encodeField(t *testing.T, fieldType string, value any) (any, error) {
	t.Helper()
	schema := avro.MustParse(`{"type":"record","name":"T","namespace":"ns","fields":[{"name":"f","type":` + fieldType + `}]}`)
	data, err := avro.Marshal(schema, map[string]any{"f": value})
	if err != nil {
		t.Fatalf("avro.Marshal(%s, %v): %v", fieldType, value, err)
	}
	d, err := newTableDef("ks", "tbl", routing.Latest, schema)
	if err != nil {
		t.Fatal(err)
	}
	v, err := avrovalue.Decode(schema, data)
	if err != nil {
		t.Fatal(err)
	}
	ev := &routing.Event{ID: "e1", Key: "k1", Contract: "c", SchemaID: 3, Time: time.UnixMicro(1700000000123456), Received: time.UnixMicro(1700000001000000)}
	vals, err := d.rowValues(ev, v)
	if err != nil {
		return nil, err
	}
	if len(vals) != len(d.columns) {
		t.Fatalf("%d values for %d columns", len(vals), len(d.columns))
	}
	return vals[len(vals)-1], nil
}

func uuid(t *testing.T, s string) gocql.UUID {
	u, err := gocql.ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestEncodeTypes checks, per Avro type, the value the sink binds for its column (the
// package documentation's table); the wire encoding of these values is checked
// end to end by the conformance suite's types subtest.
func TestEncodeTypes(t *testing.T) {
	at := time.Date(2024, 3, 1, 9, 30, 15, 123456789, time.UTC)
	old := time.Date(1901, 6, 1, 0, 0, 0, 1000000, time.UTC)
	inner := `{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"},{"name":"s","type":["null","string"]}]}`
	tests := []struct {
		name   string
		schema string
		value  any
		want   any
	}{
		{"boolean", `"boolean"`, true, true},
		{"int", `"int"`, int32(math.MinInt32), int32(math.MinInt32)},
		{"long", `"long"`, int64(math.MaxInt64), int64(math.MaxInt64)},
		{"float", `"float"`, float32(-0.1), float32(-0.1)},
		{"double NaN", `"double"`, math.Inf(-1), math.Inf(-1)},
		{"string", `"string"`, "Grüße \x00", "Grüße \x00"},
		{"bytes", `"bytes"`, []byte{0, 255}, []byte{0, 255}},
		{"empty bytes", `"bytes"`, []byte{}, []byte{}},
		{"fixed", `{"type":"fixed","name":"H","size":2}`, [2]byte{1, 2}, []byte{1, 2}},
		{"enum", `{"type":"enum","name":"C","symbols":["RED","GREEN"]}`, "GREEN", "GREEN"},
		{"array", `{"type":"array","items":"int"}`, []int32{3, 1}, []any{int32(3), int32(1)}},
		{"empty array", `{"type":"array","items":"int"}`, []int32{}, []any{}},
		{"map", `{"type":"map","values":"long"}`, map[string]int64{"a.b": 1, "$c": 2}, map[string]any{"a.b": int64(1), "$c": int64(2)}},
		{"record", inner, map[string]any{"x": 7, "s": map[string]any{"string": "y"}}, map[string]any{"x": int32(7), "s": "y"}},
		{"record with a null field", inner, map[string]any{"x": 7, "s": nil}, map[string]any{"x": int32(7)}},
		{"nullable null", `["null","string"]`, nil, null},
		{"nullable value", `["null","string"]`, map[string]any{"string": "s"}, "s"},
		{"choice long", `["null","long","string"]`, map[string]any{"long": int64(-9)}, map[string]any{"long": int64(-9)}},
		{"choice string", `["null","long","string"]`, map[string]any{"string": "x"}, map[string]any{"string": "x"}},
		{"choice null", `["null","long","string"]`, nil, null},
		{"choice record", `["string",` + inner + `]`, map[string]any{"ns.Inner": map[string]any{"x": 1, "s": nil}},
			map[string]any{"ns.Inner": map[string]any{"x": int32(1)}}},
		{"nullable in a list", `{"type":"array","items":["null","long"]}`, []any{map[string]any{"long": int64(1)}, nil},
			[]any{map[string]any{"long": int64(1)}, map[string]any{}}},
		{"nullable in a map", `{"type":"map","values":["null","string"]}`, map[string]any{"a": nil}, map[string]any{"a": map[string]any{}}},
		{"decimal", `{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}`, big.NewRat(-1230, 100), inf.NewDec(-1230, 2)},
		{"decimal fixed", `{"type":"fixed","name":"A","size":8,"logicalType":"decimal","precision":18,"scale":4}`, big.NewRat(1, 10000), inf.NewDec(1, 4)},
		{"timestamp-millis", `{"type":"long","logicalType":"timestamp-millis"}`, at, at.UnixMilli()},
		{"timestamp-millis before 1970", `{"type":"long","logicalType":"timestamp-millis"}`, old, old.UnixMilli()},
		{"timestamp-micros", `{"type":"long","logicalType":"timestamp-micros"}`, at, at.UnixMicro()},
		{"timestamp-nanos", `{"type":"long","logicalType":"timestamp-nanos"}`, int64(at.UnixNano()), at.UnixNano()},
		{"local-timestamp-millis", `{"type":"long","logicalType":"local-timestamp-millis"}`, at, at.UnixMilli()},
		{"local-timestamp-micros", `{"type":"long","logicalType":"local-timestamp-micros"}`, at, at.UnixMicro()},
		{"date", `{"type":"int","logicalType":"date"}`, time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), cqlDate(-3653)},
		{"time-millis", `{"type":"int","logicalType":"time-millis"}`, 13*time.Hour + 5*time.Millisecond, 13*time.Hour + 5*time.Millisecond},
		{"time-micros", `{"type":"long","logicalType":"time-micros"}`, 24*time.Hour - time.Microsecond, 24*time.Hour - time.Microsecond},
		{"uuid", `{"type":"string","logicalType":"uuid"}`, "6BA7B810-9DAD-11D1-80B4-00C04FD430C8", uuid(t, "6ba7b810-9dad-11d1-80b4-00c04fd430c8")},
		{"unknown logical type", `{"type":"long","logicalType":"made-up"}`, int64(5), int64(5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeField(t, tt.schema, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if dec, ok := tt.want.(*inf.Dec); ok {
				g, ok := got.(*inf.Dec)
				if !ok || g.Cmp(dec) != 0 || g.Scale() != dec.Scale() {
					t.Fatalf("got %T %v, want decimal %v (scale %d)", got, got, dec, dec.Scale())
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %T %#v, want %T %#v", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	tests := []struct {
		name, schema string
		value        any
		want         string
	}{
		{"time past midnight", `{"type":"int","logicalType":"time-millis"}`, 25 * time.Hour, "outside 00:00 to 24:00"},
		{"negative time", `{"type":"long","logicalType":"time-micros"}`, -time.Microsecond, "outside 00:00 to 24:00"},
		{"not a uuid", `{"type":"string","logicalType":"uuid"}`, "not-a-uuid", `"not-a-uuid" is not a uuid`},
		{"null in a list", `{"type":"array","items":{"type":"array","items":"int"}}`, [][]int32{{1}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := encodeField(t, tt.schema, tt.value)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "field f: ") {
				t.Fatalf("err = %v, want one naming field f and containing %q", err, tt.want)
			}
		})
	}
	// A list element that is null in avrovalue's model but not in the schema cannot
	// come from a datum that decoded; toCQL still refuses it rather than send null.
	if _, err := toCQL(avro.MustParse(`{"type":"array","items":["null","string"]}`), []any{nil}, false); err != nil {
		t.Fatalf("nullable element: %v", err)
	}
	if _, err := toCQL(avro.MustParse(`{"type":"array","items":"string"}`), []any{nil}, false); err == nil {
		t.Fatal("a null list element was accepted")
	}
	if _, err := toCQL(avro.MustParse(`["long","string"]`), nil, false); err == nil || !strings.Contains(err.Error(), "null is not a branch") {
		t.Fatalf("null for a union without null: %v", err)
	}
}

func TestEnvelopeValues(t *testing.T) {
	schema := avro.MustParse(`{"type":"record","name":"T","fields":[{"name":"f","type":"int"}]}`)
	at := time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)
	ev := &routing.Event{ID: "e1", Key: "k1", Contract: "c.x", SchemaID: 3, Time: at, Received: at.Add(time.Second)}
	rec := &avrovalue.Record{Name: "T", Fields: []avrovalue.Field{{Name: "f", Value: int32(4)}}}
	tests := []struct {
		mode routing.Mode
		ev   routing.Event
		want []any
	}{
		{routing.Append, *ev, []any{"k1", cqlDate(-1), at.UnixMicro(), "e1", "k1", "c.x", at.UnixMicro() + 1e6, int32(3), int32(4)}},
		{routing.Append, routing.Event{ID: "e2", Contract: "c", Time: time.Unix(86400, 0)}, []any{"e2", cqlDate(1), int64(86400e6), "e2", "", "c", time.Time{}.UnixMicro(), int32(0), int32(4)}},
		{routing.Latest, *ev, []any{"k1", "e1", "c.x", at.UnixMicro(), at.UnixMicro() + 1e6, int32(3), int32(4)}},
	}
	for _, tt := range tests {
		d, err := newTableDef("ks", "t", tt.mode, schema)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.rowValues(&tt.ev, rec)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s %s: %#v, %v; want %#v", tt.mode, tt.ev.ID, got, err, tt.want)
		}
		if len(got) != len(d.columns) {
			t.Errorf("%s: %d values for %d columns", tt.mode, len(got), len(d.columns))
		}
	}
}

func TestDayOf(t *testing.T) {
	tests := []struct {
		at   time.Time
		want int32
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(86399, 999), 0},
		{time.Unix(-1, 0), -1},
		{time.Unix(-86400, 0), -1},
		{time.Unix(-86401, 0), -2},
		{time.Date(2024, 2, 29, 23, 59, 59, 0, time.FixedZone("x", 3600)), 19782},
	}
	for _, tt := range tests {
		if got := dayOf(tt.at); got != tt.want {
			t.Errorf("dayOf(%s) = %d, want %d", tt.at, got, tt.want)
		}
	}
}

// dateType is the TypeInfo of a CQL date column, for MarshalCQL.
type dateType struct{ gocql.TypeInfo }

func (dateType) Type() gocql.Type { return gocql.TypeDate }

func TestDateMarshal(t *testing.T) {
	for _, d := range []int32{0, -1, math.MinInt32, math.MaxInt32, 19782} {
		b, err := cqlDate(d).MarshalCQL(dateType{})
		if err != nil {
			t.Fatal(err)
		}
		if got := int64(binary.BigEndian.Uint32(b)) - 1<<31; got != int64(d) || len(b) != 4 {
			t.Errorf("date %d encodes as % x (%d)", d, b, got)
		}
	}
}

// TestUnionBranchChoice checks the branch a value is stored under when avrovalue
// decodes several branches alike: the first that fits.
func TestUnionBranchChoice(t *testing.T) {
	tests := []struct {
		schema string
		value  any
		branch string
	}{
		{`["string",{"type":"enum","name":"C","symbols":["RED"]}]`, map[string]any{"ns.C": "RED"}, "string"},
		{`[{"type":"enum","name":"C","symbols":["RED"]},"string"]`, map[string]any{"string": "BLUE"}, "string"},
		{`["bytes",{"type":"fixed","name":"F2","size":2}]`, map[string]any{"ns.F2": [2]byte{1, 2}}, "bytes"},
		{`[{"type":"enum","name":"C","symbols":["RED"]},{"type":"enum","name":"D","symbols":["RED","BLUE"]}]`, map[string]any{"ns.D": "BLUE"}, "ns.D"},
		{`["float","double"]`, map[string]any{"double": 1.5}, "double"},
		{`[{"type":"fixed","name":"F2","size":2},{"type":"fixed","name":"F3","size":3}]`, map[string]any{"ns.F3": [3]byte{1, 2, 3}}, "ns.F3"},
	}
	for _, tt := range tests {
		got, err := encodeField(t, tt.schema, tt.value)
		if err != nil {
			t.Errorf("%s: %v", tt.schema, err)
			continue
		}
		m, ok := got.(map[string]any)
		if _, set := m[tt.branch]; !ok || !set || len(m) != 1 {
			t.Errorf("%s: bound %#v, want the %s branch set", tt.schema, got, tt.branch)
		}
	}
}
