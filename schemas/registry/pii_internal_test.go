package registry

import (
	"reflect"
	"testing"

	"github.com/waybill-data/waybill/schemas"
)

// TestPIILossesInContainers: the rules see fields inside arrays, maps and unions, and
// aliases at any depth.
func TestPIILossesInContainers(t *testing.T) {
	const prev = `{"type":"record","name":"R","fields":[
		{"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"email","type":"string","waybill.classification":"pii"}]}}},
		{"name":"attrs","type":{"type":"map","values":{"type":"record","name":"V","fields":[{"name":"ip","type":"string","waybill.classification":"pii"}]}}},
		{"name":"maybe","type":["null",{"type":"record","name":"M","fields":[{"name":"dob","type":"string","waybill.classification":"pii"}]}]}]}`
	cases := []struct {
		name, next string
		want       []piiLoss
	}{
		{"all kept", prev, nil},
		{"array item field renamed by alias, map value unclassified, union branch field replaced", `{"type":"record","name":"R","fields":[
			{"name":"lines","aliases":["items"],"type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"mail","aliases":["email"],"type":"string"}]}}},
			{"name":"attrs","type":{"type":"map","values":{"type":"record","name":"V","fields":[{"name":"ip","type":"string"}]}}},
			{"name":"maybe","type":["null",{"type":"record","name":"M","fields":[{"name":"born","type":["null","string"],"default":null}]}]}]}`,
			[]piiLoss{
				{Field: "items[].email", Now: "lines[].mail", Rule: lossRenamed},
				{Field: "attrs{}.ip", Now: "attrs{}.ip", Rule: lossKept},
				{Field: "maybe.dob", Now: "maybe.born", Rule: lossReplaced},
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := schemas.ParseAvro(prev)
			if err != nil {
				t.Fatal(err)
			}
			n, err := schemas.ParseAvro(c.next)
			if err != nil {
				t.Fatal(err)
			}
			if got := piiLosses(p, n); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}
