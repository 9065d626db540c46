package schemas

import (
	"fmt"
	"maps"
	"testing"
)

func TestClassification(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		want   map[string]string
	}{
		{"waybill property and confluent tags", `{"type":"record","name":"R","fields":[
			{"name":"email","type":"string","waybill.classification":"PII"},
			{"name":"phone","type":"string","confluent:tags":["PII","contact"]},
			{"name":"city","type":"string","confluent:tags":["geo"]},
			{"name":"plain","type":"string"}]}`,
			map[string]string{"email": "pii", "phone": "pii"}},
		{"nested, arrays, maps, unions", `{"type":"record","name":"R","fields":[
			{"name":"customer","type":{"type":"record","name":"C","fields":[{"name":"ssn","type":"string","waybill.classification":"pii"}]}},
			{"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"email","type":"string","waybill.classification":"pii"}]}}},
			{"name":"attrs","type":{"type":"map","values":{"type":"record","name":"V","fields":[{"name":"ip","type":"string","waybill.classification":"pii"}]}}},
			{"name":"maybe","type":["null",{"type":"record","name":"M","fields":[{"name":"dob","type":"string","waybill.classification":"pii"}]}]}]}`,
			map[string]string{"customer.ssn": "pii", "items[].email": "pii", "attrs{}.ip": "pii", "maybe.dob": "pii"}},
		{"named type reused at two paths", `{"type":"record","name":"R","fields":[
			{"name":"home","type":{"type":"record","name":"A","fields":[{"name":"street","type":"string","waybill.classification":"pii"}]}},
			{"name":"work","type":"A"}]}`,
			map[string]string{"home.street": "pii", "work.street": "pii"}},
		{"recursive type", `{"type":"record","name":"Node","fields":[
			{"name":"secret","type":"string","waybill.classification":"pii"},
			{"name":"left","type":["null","Node"]},{"name":"right","type":["null","Node"]}]}`,
			map[string]string{"secret": "pii"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseAvro(tt.schema)
			if err != nil {
				t.Fatal(err)
			}
			if got := Classification(s); !maps.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// A schema that reuses a type twice at each of many levels must not expand exponentially.
func TestClassificationIsBounded(t *testing.T) {
	schema := `{"type":"record","name":"T0","fields":[{"name":"x","type":"string","waybill.classification":"pii"}]}`
	for i := 1; i <= 40; i++ {
		schema = fmt.Sprintf(`{"type":"record","name":"T%d","fields":[{"name":"a","type":%s},{"name":"b","type":"T%d"}]}`, i, schema, i-1)
	}
	s, err := ParseAvro(schema)
	if err != nil {
		t.Fatal(err)
	}
	got := Classification(s)
	if len(got) == 0 || len(got) > maxClassifyVisits {
		t.Fatalf("found %d classified paths, want between 1 and %d", len(got), maxClassifyVisits)
	}
	if got["a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.x"] != ClassPII {
		t.Fatal("the first path to the classified field was not found")
	}
}
