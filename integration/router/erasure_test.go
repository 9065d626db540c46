package router_test

// POST /v1/erasure end to end: profiles in MongoDB (latest) and an Elasticsearch
// latest route, read back with the stores' own clients; the lake (immutable files)
// keeps the events and the request is recorded, in the registry's audit trail too; an
// event accepted before the erasure and stuck behind a MongoDB outage is stored and
// then erased, never resurrecting the key; router verify agrees afterwards.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"

	"github.com/waybill-data/waybill/integration/internal/testproc"
	"github.com/waybill-data/waybill/schemas/auth"
)

const erasureRoutes = `routes:
  lake:     {sink: lake, class: analytic, target: "{contract}/dt={date}", batch: {max_wait: 20ms}}
  profiles: {sink: mongodb, class: runtime, mode: latest, target: "profiles_{contract}", max_lag: 5m, batch: {max_wait: 20ms}, retry: {initial_backoff: 50ms, max_backoff: 200ms}}
  current:  {sink: search, class: runtime, mode: latest, target: "cur-{contract}", max_lag: 5m, batch: {max_wait: 20ms}}
`

type erasureReply struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Routes []struct {
		Route, Outcome string
	} `json:"routes"`
}

func (r erasureReply) outcomes() map[string]string {
	out := map[string]string{}
	for _, rt := range r.Routes {
		out[rt.Route] = rt.Outcome
	}
	return out
}

func (e *liveEnv) erase(t *testing.T, token, contract, key, query string, want int) erasureReply {
	t.Helper()
	b := mustCallWith(t, bearer(token), http.MethodPost, e.routerURL+"/v1/erasure"+query, map[string]any{"contract": contract, "key": key}, want)
	var r erasureReply
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("erasure answer %s: %v", b, err)
	}
	return r
}

func mustCallWith(t *testing.T, h http.Header, method, url string, body any, want int) []byte {
	t.Helper()
	status, b, err := testproc.CallWith(t.Context(), h, method, url, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if status != want {
		t.Fatalf("%s %s: HTTP %d %s, want %d", method, url, status, b, want)
	}
	return b
}

func TestErasureEndToEnd(t *testing.T) {
	e := startLiveEnv(t)
	st := startStores(t)
	mustCall(t, http.MethodPost, e.regURL+"/subjects/orders/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	mustCall(t, http.MethodPut, e.regURL+"/contracts/orders", contractBody([]string{"lake", "profiles", "current"}, []string{"lake"}, []string{"profiles", "current"}), http.StatusOK)
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	writeTokensFile(t, tokens, fmt.Sprintf("tokens:\n  - {name: team-ci, team: team, sha256: %s}\n  - {name: web-ci, team: team-web, sha256: %s}\n", auth.Digest(tokTeam), auth.Digest(tokWeb)))
	e.startRouterWith(t, "auth: {tokens_file: "+tokens+"}\n"+st.sinksYAML(t)+erasureRoutes)
	e.token = tokTeam

	ts := int64(1795300000000)
	send := func(user string, n int) string {
		t.Helper()
		status, a, problem, _ := sendAs(t, http.DefaultClient, e.routerURL, tokTeam, orderEvent("orders", nil, map[string]any{"user_id": user, "n": n, "ts": ts + int64(n)}))
		if !accepted(status, a) {
			t.Fatalf("HTTP %d %+v %s", status, a, problem)
		}
		return a.ID
	}
	send("u1", 1)
	send("u1", 2)
	kept := send("u2", 3)
	e.waitDelivered(t, []string{"lake", "profiles", "current"}, 3)

	e.erase(t, tokWeb, "orders", "u1", "", http.StatusForbidden) // not the owner
	r := e.erase(t, tokTeam, "orders", "u1", "", http.StatusOK)
	if got := r.outcomes(); r.Status != "erased" || got["profiles"] != "erased" || got["current"] != "erased" || got["lake"] != "recorded_only" {
		t.Fatalf("erasure answer %+v", r)
	}
	// MongoDB and Elasticsearch, read with their own clients: u1 gone, u2 kept.
	if got := st.latest(t, "orders"); len(got) != 1 || got["u2"].ID != kept {
		t.Fatalf("MongoDB holds %+v, want only u2", got)
	}
	esDocs := func() map[string]bool {
		client, err := es.NewClient(es.Config{Addresses: []string{st.addrs.Elasticsearch}})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, k := range []string{"u1", "u2", "u3"} {
			res, err := client.Get("cur-orders", k)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			out[k] = res.StatusCode == http.StatusOK
		}
		return out
	}
	if got := esDocs(); got["u1"] || !got["u2"] {
		t.Fatalf("Elasticsearch documents %v, want u2 only", got)
	}
	// The lake's files are immutable: both u1 events are still there.
	n := 0
	for _, ev := range st.lakeEvents(t, "orders") {
		if ev.Key == "u1" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("the lake holds %d events of u1, want both (analytic files are not rewritten)", n)
	}

	// The audit trail: the router's listing and the registry's own trail.
	var listed struct {
		Erasures []struct {
			Who                  struct{ Team, Name string } `json:"who"`
			Action, Subject, Key string
			RequestID            string   `json:"request_id"`
			RoutesErased         []string `json:"routes_erased"`
			RoutesRecordedOnly   []string `json:"routes_recorded_only"`
		} `json:"erasures"`
	}
	if err := json.Unmarshal(mustCallWith(t, bearer(tokTeam), http.MethodGet, e.routerURL+"/v1/erasure?contract=orders", nil, http.StatusOK), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed.Erasures) != 1 {
		t.Fatalf("audit records %+v", listed)
	}
	rec := listed.Erasures[0]
	if rec.Who.Team != "team" || rec.Who.Name != "team-ci" || rec.Action != "erasure" || rec.Key != "u1" || rec.RequestID != r.ID ||
		!slices.Equal(rec.RoutesErased, []string{"current", "profiles"}) || !slices.Equal(rec.RoutesRecordedOnly, []string{"lake"}) {
		t.Fatalf("audit record %+v", rec)
	}
	type registryRecord struct {
		Action, Subject string
		Who             struct{ Team string }
	}
	var trail struct {
		Records []registryRecord `json:"records"`
	}
	if err := json.Unmarshal(mustCall(t, http.MethodGet, e.regURL+"/audit?subject=orders", nil, http.StatusOK), &trail); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(trail.Records, func(r registryRecord) bool { return r.Action == "erasure" && r.Who.Team == "team" }) {
		t.Fatalf("the registry's audit trail does not show the erasure: %+v", trail)
	}

	// An event accepted before the erasure, stuck behind a MongoDB outage: it is stored
	// when MongoDB is back, then erased; it never stays.
	st.control(t, "mongodb", "down")
	send("u3", 4)
	r = e.erase(t, tokTeam, "orders", "u3", "?wait=2s", http.StatusAccepted)
	if got := r.outcomes(); r.Status != "pending" || got["profiles"] != "pending" || got["current"] != "erased" {
		t.Fatalf("erasure while MongoDB is down: %+v, want profiles pending, current erased", r)
	}
	probe := send("u4", 5) // accepted after the erasure: delivered after it on every route
	st.control(t, "mongodb", "up")
	if !testproc.Poll(60*time.Second, 100*time.Millisecond, nil, func() bool {
		_, ok := st.latest(t, "orders")["u4"]
		return ok
	}) {
		t.Fatal("the probe event did not reach MongoDB within 60s of its return")
	}
	got := st.latest(t, "orders")
	if _, ok := got["u3"]; ok || got["u4"].ID != probe {
		t.Fatalf("MongoDB holds %+v: u3 resurrected, or the probe missing", got)
	}
	if docs := esDocs(); docs["u3"] {
		t.Fatalf("Elasticsearch documents %v: u3 resurrected", docs)
	}

	// router verify: the erased keys are expected absent, the rest present.
	out, err := exec.Command(routerBin, "verify", "--config", e.routerConfig, "--wait", "60s").CombinedOutput()
	if err != nil {
		t.Fatalf("router verify: %v\n%s", err, out)
	}
	t.Logf("router verify:\n%s", out)
}
