package registry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// auditPage and auditRecord are GET /audit's answer as a client reads it.
type auditPage struct {
	Records []auditRecord `json:"records"`
	More    bool          `json:"more"`
}

type auditRecord struct {
	Revision int64     `json:"revision"`
	Time     time.Time `json:"time"`
	Who      struct {
		Team string `json:"team"`
		Name string `json:"name"`
	} `json:"who"`
	Action       string            `json:"action"`
	Subject      string            `json:"subject"`
	Version      int               `json:"version"`
	ID           int               `json:"id"`
	Permanent    bool              `json:"permanent"`
	Before       json.RawMessage   `json:"before"`
	After        json.RawMessage   `json:"after"`
	Declassified []json.RawMessage `json:"declassified"`
}

func (r auditRecord) String() string {
	return fmt.Sprintf("%s %s v%d by %s/%s before=%s after=%s", r.Action, r.Subject, r.Version, r.Who.Team, r.Who.Name, r.Before, r.After)
}

// TestAuditTrail makes every kind of change and reads it back: who, what, before and
// after, in commit order, kept after the subject is hard-deleted.
func TestAuditTrail(t *testing.T) {
	e := newAuthEnv(t)
	start := time.Now().Add(-time.Second)
	contract := ownedBy("team-a")
	changed := ownedBy("team-a")
	changed["description"] = "now described"
	steps := []struct {
		token, method, path string
		body                any
	}{
		{tokOwner, "POST", "/subjects/orders/versions", schemaBody{Schema: orderSchema}},
		{tokOwner, "PUT", "/contracts/orders", contract},
		{tokOwner, "PUT", "/contracts/orders", changed},
		{tokOwner, "POST", "/subjects/orders/versions", schemaBody{Schema: withField(orderSchema, `{"name":"phone","type":"string","default":"","waybill.classification":"pii"}`)}},
		{tokOwner, "PUT", "/config/orders", map[string]string{"compatibility": "FULL"}},
		{tokOwner, "DELETE", "/config/orders", nil},
		{tokOwner, "PUT", "/mode/orders", map[string]string{"mode": "READONLY"}},
		{tokOwner, "DELETE", "/mode/orders", nil},
		{tokAdmin, "PUT", "/config", map[string]string{"compatibility": "NONE"}},
		{tokOwner, "DELETE", "/subjects/orders/versions/2", nil},
		{tokOwner, "DELETE", "/subjects/orders/versions/2?permanent=true", nil},
		{tokOwner, "PUT", "/config/orders", map[string]string{"compatibility": "FORWARD"}},
		{tokOwner, "DELETE", "/subjects/orders", nil},
		{tokAdmin, "DELETE", "/subjects/orders?permanent=true", nil},
	}
	for _, s := range steps {
		e.asOK(s.token, s.method, s.path, s.body, nil)
	}
	// The subject is gone; its trail is not.
	e.fail("GET", "/subjects/orders/versions", nil, 404, 40401)
	var page auditPage
	e.asOK(tokOther, "GET", "/audit?subject=orders", nil, &page)
	type want struct {
		action, team  string
		version       int
		before, after string // JSON, "" = not checked
		permanent     bool
	}
	wants := []want{
		{action: "register", team: "team-a", version: 1, before: `null`,
			after: `{"version":1,"id":1,"classification":{"address.street":"pii","email":"pii"}}`},
		{action: "put_contract", team: "team-a", before: `null`, after: `{"owner":"team-a","routes":{"allowed":["lake"]}}`},
		{action: "put_contract", team: "team-a", before: `{"owner":"team-a","routes":{"allowed":["lake"]}}`,
			after: `{"owner":"team-a","description":"now described","routes":{"allowed":["lake"]}}`},
		{action: "register", team: "team-a", version: 2,
			before: `{"version":1,"id":1,"classification":{"address.street":"pii","email":"pii"}}`,
			after:  `{"version":2,"id":2,"classification":{"address.street":"pii","email":"pii","phone":"pii"}}`},
		{action: "put_config", team: "team-a", before: `null`, after: `{"compatibilityLevel":"FULL"}`},
		{action: "delete_config", team: "team-a", before: `{"compatibilityLevel":"FULL"}`, after: `null`},
		{action: "put_mode", team: "team-a", before: `null`, after: `{"mode":"READONLY"}`},
		{action: "delete_mode", team: "team-a", before: `{"mode":"READONLY"}`, after: `null`},
		{action: "delete_version", team: "team-a", version: 2},
		{action: "delete_version", team: "team-a", version: 2, after: `null`, permanent: true},
		{action: "put_config", team: "team-a", before: `null`, after: `{"compatibilityLevel":"FORWARD"}`},
		{action: "delete_subject", team: "team-a"},
		{action: "delete_subject", team: "platform", after: `null`, permanent: true},
	}
	if len(page.Records) != len(wants) {
		t.Fatalf("%d records, want %d: %v", len(page.Records), len(wants), page.Records)
	}
	var last int64
	for i, w := range wants {
		got := page.Records[i]
		if got.Action != w.action || got.Who.Team != w.team || got.Subject != "orders" || got.Version != w.version || got.Permanent != w.permanent {
			t.Errorf("record %d: %v; want %s v%d by %s (permanent %v)", i, got, w.action, w.version, w.team, w.permanent)
		}
		if w.before != "" && !sameJSON(t, string(got.Before), w.before) {
			t.Errorf("record %d (%s): before %s, want %s", i, got.Action, got.Before, w.before)
		}
		if w.after != "" && !sameJSON(t, string(got.After), w.after) {
			t.Errorf("record %d (%s): after %s, want %s", i, got.Action, got.After, w.after)
		}
		if got.Revision <= last {
			t.Errorf("record %d: revision %d after %d: not in commit order", i, got.Revision, last)
		}
		last = got.Revision
		if got.Time.Before(start) || got.Time.After(time.Now()) {
			t.Errorf("record %d: time %v", i, got.Time)
		}
		if got.Who.Name == "" {
			t.Errorf("record %d names no credential", i)
		}
	}
	// The soft delete of version 2 shows the flag flipping; the hard delete of the
	// subject keeps what it removed: versions, contract and config.
	var soft struct{ Deleted bool }
	_ = json.Unmarshal(page.Records[8].After, &soft)
	if !soft.Deleted || string(page.Records[8].Before) == string(page.Records[8].After) {
		t.Errorf("soft delete: before %s after %s", page.Records[8].Before, page.Records[8].After)
	}
	var removed struct {
		Versions []struct{ Version int }
		Contract map[string]any
		Config   map[string]any
	}
	if err := json.Unmarshal(page.Records[12].Before, &removed); err != nil {
		t.Fatal(err)
	}
	if len(removed.Versions) != 1 || removed.Contract["description"] != "now described" || removed.Config["compatibilityLevel"] != "FORWARD" {
		t.Errorf("hard delete before: %s", page.Records[12].Before)
	}

	// The change and its record are one transaction: same etcd revision.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.asOK(tokOwner, "POST", "/subjects/orders/versions", schemaBody{Schema: orderSchema}, nil)
	kv, err := etcdCli.Get(ctx, e.prefix+"subjects/orders/versions/0000000001")
	if err != nil || len(kv.Kvs) != 1 {
		t.Fatalf("reading the version key: %v %v", kv, err)
	}
	e.asOK(tokOwner, "GET", fmt.Sprintf("/audit?subject=orders&after=%d", last), nil, &page)
	if len(page.Records) != 1 || page.Records[0].Revision != kv.Kvs[0].CreateRevision {
		t.Errorf("the registration's record %v; want one at the version's revision %d", page.Records, kv.Kvs[0].CreateRevision)
	}

	// Everything: the global config change is there too, in order.
	var all auditPage
	e.asOK(tokOwner, "GET", "/audit", nil, &all)
	if len(all.Records) != len(wants)+2 || all.More {
		t.Fatalf("GET /audit: %d records (more %v), want %d", len(all.Records), all.More, len(wants)+2)
	}
	if g := all.Records[8]; g.Action != "put_config" || g.Subject != "" || g.Who.Team != "platform" || !sameJSON(t, string(g.After), `{"compatibilityLevel":"NONE"}`) {
		t.Errorf("the global config record: %v", g)
	}

	// Paging forwards with after= and backwards with before=, newest last.
	var forward []auditRecord
	var after int64
	for {
		var p auditPage
		e.asOK(tokOwner, "GET", fmt.Sprintf("/audit?limit=4&after=%d", after), nil, &p)
		forward = append(forward, p.Records...)
		if !p.More {
			break
		}
		after = p.Records[len(p.Records)-1].Revision
	}
	if !reflect.DeepEqual(forward, all.Records) {
		t.Errorf("paging forwards gave %v\nwant %v", forward, all.Records)
	}
	var backward []auditRecord
	before := all.Records[len(all.Records)-1].Revision + 1
	for {
		var p auditPage
		e.asOK(tokOwner, "GET", fmt.Sprintf("/audit?limit=5&before=%d", before), nil, &p)
		backward = append(p.Records, backward...)
		if !p.More {
			break
		}
		before = p.Records[0].Revision
	}
	if !reflect.DeepEqual(backward, all.Records) {
		t.Errorf("paging backwards gave %v\nwant %v", backward, all.Records)
	}

	// Reading the trail needs a credential when authentication is on; bad paging is 400.
	e.asFail("", "GET", "/audit", nil, 401, 40101)
	e.asFail(tokOwner, "GET", "/audit?limit=0", nil, 400, 400)
	e.asFail(tokOwner, "GET", "/audit?after=x", nil, 400, 400)
	e.asFail(tokOwner, "GET", "/audit?subject=", nil, 422, 42208)
}

// TestAuditWithoutAuthentication: an open registry records its changes as anonymous.
func TestAuditWithoutAuthentication(t *testing.T) {
	e := newEnv(t)
	e.register("s", userV1)
	var page auditPage
	e.ok("GET", "/audit", nil, &page)
	if len(page.Records) != 1 || page.Records[0].Who.Name != "anonymous" || page.Records[0].Who.Team != "" || page.Records[0].Action != "register" {
		t.Fatalf("records %v, want one registration by anonymous", page.Records)
	}
}

// withField adds a field (JSON) at the end of a record schema's fields.
func withField(schema, field string) string {
	return schema[:len(schema)-2] + "," + field + "]}"
}
