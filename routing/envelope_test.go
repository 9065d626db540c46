package routing

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hamba/avro/v2"
)

func TestParseEnvelope(t *testing.T) {
	seven := 7
	key := "k\u00e9"
	tests := []struct {
		name   string
		raw    string
		want   envelope
		reason string
		field  string
	}{
		{name: "every member", raw: ` { "contract" : "orders", "schema_id": 7, "id":"e1", "key":"k\u00e9", "time":"2026-11-22T10:00:00Z", "routes":["a", "b"], "data": {"x":[1,{"y":"}"}]} } `,
			want: envelope{Contract: "orders", SchemaID: &seven, ID: "e1", Key: &key, Time: "2026-11-22T10:00:00Z", Routes: []string{"a", "b"}, Data: json.RawMessage(`{"x":[1,{"y":"}"}]}`)}},
		{name: "nulls are absent", raw: `{"contract":null,"schema_id":null,"key":null,"routes":null,"data":null}`, want: envelope{}},
		{name: "escaped strings", raw: `{"contract":"a\"b\\c"}`, want: envelope{Contract: `a"b\c`}},
		{name: "empty object", raw: `{}`, want: envelope{}},
		{name: "later duplicate wins", raw: `{"contract":"a","contract":"b"}`, want: envelope{Contract: "b"}},
		{name: "unknown member", raw: `{"contract":"a","dat":{}}`, reason: ReasonMalformed, field: "dat"},
		{name: "keys are exact", raw: `{"Contract":"a"}`, reason: ReasonMalformed, field: "Contract"},
		{name: "schema id as string", raw: `{"schema_id":"7"}`, reason: ReasonMalformed, field: "schema_id"},
		{name: "fractional schema id", raw: `{"schema_id":7.5}`, reason: ReasonMalformed, field: "schema_id"},
		{name: "routes not an array", raw: `{"routes":"lake"}`, reason: ReasonMalformed, field: "routes"},
		{name: "route not a string", raw: `{"routes":["lake",3]}`, reason: ReasonMalformed, field: "routes"},
		{name: "contract not a string", raw: `{"contract":5}`, reason: ReasonMalformed, field: "contract"},
		{name: "not an object", raw: `[1]`, reason: ReasonMalformed, field: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !json.Valid([]byte(tt.raw)) {
				t.Fatalf("test input is not valid JSON")
			}
			got, rej := parseEnvelope([]byte(tt.raw))
			if tt.reason != "" {
				if rej == nil || rej.Reason != tt.reason || rej.Field != tt.field {
					t.Fatalf("got rejection %+v, want %s on %q", rej, tt.reason, tt.field)
				}
				return
			}
			if rej != nil {
				t.Fatalf("rejected: %+v", rej)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSplitEventsArrayKeepsEveryElement(t *testing.T) {
	body := `[ {"a":"],["}, {"b":[1,2,{"c":"\"}"}]} ,{} ]`
	got, err := splitEvents([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"a":"],["}`, `{"b":[1,2,{"c":"\"}"}]}`, `{}`}
	if len(got) != len(want) {
		t.Fatalf("got %d events %v", len(got), got)
	}
	for i := range want {
		if string(got[i].Text) != want[i] {
			t.Errorf("event %d: got %s want %s", i, got[i].Text, want[i])
		}
	}
}

func TestSplitEventsRefusesBrokenArrays(t *testing.T) {
	for _, body := range []string{
		`[{"a":1},`, `[{"a":1}`, `[{"a":1}}]`, `[{"a":[1}]`, `[{"a":"x}]`, `[{"a":1} {"b":2}]`,
		`[{"a":1}] x`, `[,{"a":1}]`, `[{"a":1},]`, `["unterminated]`,
	} {
		if events, err := splitEvents([]byte(body)); err == nil {
			t.Errorf("%s: split into %d events, want an error for the whole body", body, len(events))
		}
	}
}

func TestFieldAtReadsFromAvroBinary(t *testing.T) {
	schema := avro.MustParse(`{"type":"record","name":"R","fields":[
		{"name":"tags","type":{"type":"array","items":"string"}},
		{"name":"attrs","type":{"type":"map","values":["null","long"]}},
		{"name":"nothing","type":{"type":"array","items":"null"}},
		{"name":"f","type":"float"},{"name":"d","type":"double"},{"name":"b","type":"boolean"},
		{"name":"fx","type":{"type":"fixed","name":"F2","size":2}},
		{"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},
		{"name":"customer","type":["null",{"type":"record","name":"C","fields":[
			{"name":"skip","type":"bytes"},{"name":"id","type":"int"}]}]},
		{"name":"opt","type":["null","string"]},
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}`)
	value := map[string]any{
		"tags": []string{"x", "y"}, "attrs": map[string]any{"a": map[string]any{"long": int64(3)}, "n": nil},
		"nothing": []any{nil, nil, nil}, "f": float32(1.5), "d": 2.5, "b": true, "fx": [2]byte{1, 2}, "color": "GREEN",
		"customer": map[string]any{"C": map[string]any{"skip": []byte{9, 9}, "id": int32(42)}},
		"opt":      nil, "ts": int64(1795300000000),
	}
	data, err := avro.Marshal(schema, value)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"customer.id", int32(42), true},
		{"ts", int64(1795300000000), true},
		{"color", "GREEN", true},
		{"fx", []byte{1, 2}, true},
		{"b", true, true},
		{"d", 2.5, true},
		{"f", float32(1.5), true},
		{"opt", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok, err := fieldAt(schema, data, tt.path)
			if err != nil || ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v ok=%v err=%v, want %#v ok=%v", got, ok, err, tt.want, tt.ok)
			}
		})
	}
	if _, _, err := fieldAt(schema, data, "tags"); err == nil {
		t.Error("an array was read as a key")
	}
	if _, _, err := fieldAt(schema, data, "customer.nope"); err == nil {
		t.Error("a missing field was found")
	}
	if _, _, err := fieldAt(schema, data[:5], "ts"); err == nil {
		t.Error("a truncated datum was read")
	}
}
