package registry_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// piiV1 is the version the carry-across cases evolve: a top-level PII field, a nested
// one, and unclassified fields of the same types.
var piiV1 = rec("com.acme.Customer",
	fld("id", `"long"`),
	`{"name":"email","type":"string","waybill.classification":"pii"}`,
	fld("name", `"string"`),
	fld("address", `{"type":"record","name":"Address","fields":[{"name":"street","type":"string","confluent:tags":["PII"]},{"name":"city","type":"string"}]}`))

// piiFields builds a version from piiV1's fields with some replaced.
func piiVersion(email, address string, extra ...string) string {
	fields := []string{fld("id", `"long"`)}
	if email != "" {
		fields = append(fields, email)
	}
	fields = append(fields, fld("name", `"string"`))
	if address != "" {
		fields = append(fields, address)
	}
	return rec("com.acme.Customer", append(fields, extra...)...)
}

const (
	emailPII     = `{"name":"email","type":"string","waybill.classification":"pii"}`
	addressPII   = `{"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"street","type":"string","confluent:tags":["PII"]},{"name":"city","type":"string"}]}}`
	addressPlain = `{"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"street","type":"string"},{"name":"city","type":"string"}]}}`
)

// TestPIICarryAcross: a new version keeps every PII classification of the latest one,
// unless the field is gone, and a classified field cannot leave under another name.
func TestPIICarryAcross(t *testing.T) {
	cases := []struct {
		name       string
		next       string
		declassify string
		ok         bool
		msgHas     []string
	}{
		{name: "unchanged classification, other mechanism", ok: true,
			next: piiVersion(`{"name":"email","type":"string","confluent:tags":["PII"]}`, addressPII)},
		{name: "a new PII field", ok: true,
			next: piiVersion(emailPII, addressPII, `{"name":"phone","type":"string","default":"","waybill.classification":"pii"}`)},
		{name: "keeps its name, loses its classification",
			next:   piiVersion(fld("email", `"string"`), addressPII),
			msgHas: []string{"field 'email' is no longer classified pii", "?declassify="}},
		{name: "nested field loses its classification",
			next:   piiVersion(emailPII, addressPlain),
			msgHas: []string{"'address.street'"}},
		{name: "classification changed to another class",
			next:   piiVersion(`{"name":"email","type":"string","waybill.classification":"internal"}`, addressPII),
			msgHas: []string{"'email'"}},
		{name: "renamed by alias without the classification",
			next:   piiVersion(`{"name":"contact","type":"string","aliases":["email"]}`, addressPII),
			msgHas: []string{"field 'email' (pii) is renamed to 'contact'"}},
		{name: "renamed by alias with the classification", ok: true,
			next: piiVersion(`{"name":"contact","type":"string","aliases":["email"],"waybill.classification":"pii"}`, addressPII)},
		{name: "enclosing field renamed by alias, nested field unclassified",
			next:   piiVersion(emailPII, `{"name":"addr","aliases":["address"],"type":{"type":"record","name":"Address","fields":[{"name":"street","type":"string"},{"name":"city","type":"string"}]}}`),
			msgHas: []string{"'address.street' (pii) is renamed to 'addr.street'"}},
		{name: "removed, and a new field of the same type is unclassified",
			next:   piiVersion("", addressPII, fldDef("contact", `"string"`, `""`)),
			msgHas: []string{"field 'email' (pii) is removed and 'contact', a new field of the same type, is not classified"}},
		{name: "removed, and the new field of the same type is nullable",
			next:   piiVersion("", addressPII, fldDef("contact", `["null","string"]`, `null`)),
			msgHas: []string{"'email'", "'contact'"}},
		{name: "removed, and the new field of the same type is in a new record",
			next:   piiVersion("", addressPII, fldDef("contact", `{"type":"record","name":"Contact","fields":[{"name":"mail","type":"string"}]}`, `{"mail":""}`)),
			msgHas: []string{"'email'", "'contact.mail'"}},
		{name: "removed, and the new field of the same type is classified", ok: true,
			next: piiVersion("", addressPII, `{"name":"contact","type":"string","default":"","waybill.classification":"pii"}`)},
		{name: "removed, and the new field has another type", ok: true,
			next: piiVersion("", addressPII, fldDef("visits", `"int"`, `0`))},
		{name: "removed", ok: true, next: piiVersion("", addressPII)},
		{name: "removed with a replacement, acknowledged by the owner", ok: true, declassify: "email",
			next: piiVersion("", addressPII, fldDef("contact", `"string"`, `""`))},
		{name: "two losses, only one acknowledged", declassify: "email",
			next:   piiVersion(fld("email", `"string"`), addressPlain),
			msgHas: []string{"'address.street'"}},
		{name: "acknowledging a field that is not declassified", declassify: "name",
			next:   piiVersion(emailPII, addressPII, fldDef("visits", `"int"`, `0`)),
			msgHas: []string{"?declassify names name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newAuthEnv(t)
			e.asOK(tokOwner, "POST", "/subjects/customers/versions", schemaBody{Schema: piiV1}, nil)
			e.asOK(tokOwner, "PUT", "/contracts/customers", ownedBy("team-a"), nil)
			e.asOK(tokOwner, "PUT", "/config/customers", map[string]string{"compatibility": "NONE"}, nil)
			path := "/subjects/customers/versions"
			if c.declassify != "" {
				path += "?declassify=" + c.declassify
			}
			if !c.ok {
				msg := e.asFail(tokOwner, "POST", path, schemaBody{Schema: c.next}, 422, 42290)
				for _, want := range c.msgHas {
					if !strings.Contains(msg, want) {
						t.Errorf("message %q lacks %q", msg, want)
					}
				}
				return
			}
			var got regResp
			e.asOK(tokOwner, "POST", path, schemaBody{Schema: c.next}, &got)
			if got.Version != 2 {
				t.Fatalf("registered as %+v, want version 2", got)
			}
			if c.declassify == "" {
				return
			}
			// The acknowledgement is in the audit trail, with who made it.
			var page auditPage
			e.asOK(tokOwner, "GET", "/audit?subject=customers&limit=1&before=999999999", nil, &page)
			if len(page.Records) != 1 || page.Records[0].Action != "register" || len(page.Records[0].Declassified) != 1 || page.Records[0].Who.Team != "team-a" {
				t.Fatalf("last audit record %+v, want the registration with its declassification", page.Records)
			}
			var d struct{ Field, Now, Reason string }
			_ = json.Unmarshal(page.Records[0].Declassified[0], &d)
			if d.Field != "email" || d.Now != "contact" || d.Reason == "" {
				t.Errorf("declassified %s", page.Records[0].Declassified[0])
			}
		})
	}
}

// TestDeclassifyNeedsTheOwner: another team cannot acknowledge a loss (it may not
// register in the subject at all).
func TestDeclassifyNeedsTheOwner(t *testing.T) {
	e := newAuthEnv(t)
	e.asOK(tokOwner, "POST", "/subjects/customers/versions", schemaBody{Schema: piiV1}, nil)
	e.asOK(tokOwner, "PUT", "/contracts/customers", ownedBy("team-a"), nil)
	next := piiVersion("", addressPII, fldDef("contact", `"string"`, `""`))
	e.asFail(tokOther, "POST", "/subjects/customers/versions?declassify=email", schemaBody{Schema: next}, 403, 40301)
	e.asOK(tokAdmin, "POST", "/subjects/customers/versions?declassify=email", schemaBody{Schema: next}, nil)
}
