package router_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

// badCase is one bad request of the corpus and what its answer must say.
type badCase struct {
	name        string
	path        string // /v1/events or /v1/events/{subject}
	contentType string
	header      map[string]string
	body        []byte
	status      int    // the HTTP status
	reason      string // every event's reason when the request is answered per event
	field       string // the field the first rejection must name ("" for any)
}

// TestBadInputAtScale sends a generated corpus of bad requests — malformed JSON and
// envelopes, wrong types, unknown contracts, schemas and routes, data that does not
// fit the schema, oversize bodies, truncated and corrupt Avro — interleaved with good
// events. Every bad one is refused with a precise reason (and field, where there is
// one), the router never crashes, and the lake ends up holding exactly the good events.
func TestBadInputAtScale(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	e := startLiveEnv(t)
	st := startStores(t)
	reg := mustCall(t, http.MethodPost, e.regURL+"/subjects/orders/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	var ordersID struct {
		ID int `json:"id"`
	}
	json.Unmarshal(reg, &ordersID)
	mustCall(t, http.MethodPut, e.regURL+"/contracts/orders", contractBody([]string{"lake", "hdfs", "warehouse"}, []string{"lake"}, []string{"lake"}), http.StatusOK)
	// A second subject: its schema id is not a version of orders; an ungoverned one.
	reg = mustCall(t, http.MethodPost, e.regURL+"/subjects/other/versions", map[string]any{"schema": ordersV2Schema}, http.StatusOK)
	var otherID struct {
		ID int `json:"id"`
	}
	json.Unmarshal(reg, &otherID)
	mustCall(t, http.MethodPost, e.regURL+"/subjects/loose/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	e.startRouterWith(t, st.sinksYAML(t)+`max_body_bytes: 64KiB
routes:
  lake: {sink: lake, class: analytic, target: "{contract}/dt={date}", batch: {max_wait: 20ms}}
  hdfs: {sink: hdfs, class: analytic, target: "{contract}/dt={date}", batch: {max_wait: 20ms}}
  audit: {sink: lake, class: analytic, target: "audit/{contract}", batch: {max_wait: 20ms}}
`)

	schema := avro.MustParse(ordersSchema)
	wire := func(id int, v map[string]any) []byte {
		b, err := avro.Marshal(schema, v)
		if err != nil {
			t.Fatal(err)
		}
		out := []byte{0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(out[1:], uint32(id))
		return append(out, b...)
	}
	goodAvro := wire(ordersID.ID, map[string]any{"user_id": "u-avro", "n": int64(1), "ts": time.UnixMilli(1795300000000)})
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	data := func() map[string]any { return map[string]any{"user_id": "u1", "n": 5, "ts": 1795300000000} }
	with := func(k string, v any) map[string]any { d := data(); d[k] = v; return d }
	without := func(k string) map[string]any { d := data(); delete(d, k); return d }
	env := func(extra map[string]any) map[string]any {
		ev := map[string]any{"contract": "orders", "data": data()}
		for k, v := range extra {
			if v == nil {
				delete(ev, k)
			} else {
				ev[k] = v
			}
		}
		return ev
	}

	templates := []badCase{
		{name: "not JSON", body: []byte("this is not json"), status: 422, reason: "malformed_envelope"},
		{name: "truncated JSON", body: js(env(nil))[:17], status: 422, reason: "malformed_envelope"},
		{name: "broken array", body: []byte(`[{"contract":"orders","data":{}},`), status: 400},
		{name: "empty body", body: []byte(""), status: 400},
		{name: "unknown envelope key", body: js(env(map[string]any{"colour": "red"})), status: 422, reason: "malformed_envelope", field: "colour"},
		{name: "contract not a string", body: js(env(map[string]any{"contract": 42})), status: 422, reason: "malformed_envelope", field: "contract"},
		{name: "no contract", body: js(env(map[string]any{"contract": nil})), status: 422, reason: "malformed_envelope", field: "contract"},
		{name: "data not an object", body: js(env(map[string]any{"data": "x"})), status: 422, reason: "invalid_data"},
		{name: "unknown contract", body: js(env(map[string]any{"contract": "nope"})), status: 422, reason: "unknown_contract", field: "contract"},
		{name: "ungoverned contract", body: js(env(map[string]any{"contract": "loose"})), status: 422, reason: "ungoverned_contract", field: "contract"},
		{name: "unknown schema id", body: js(env(map[string]any{"schema_id": 99999})), status: 422, reason: "unknown_schema", field: "schema_id"},
		{name: "schema of another subject", body: js(env(map[string]any{"schema_id": otherID.ID})), status: 422, reason: "schema_not_in_contract", field: "schema_id"},
		{name: "route not allowed", body: js(env(map[string]any{"routes": []string{"audit"}})), status: 422, reason: "route_not_allowed", field: "routes[0]"},
		{name: "route not configured", body: js(env(map[string]any{"routes": []string{"lake", "warehouse"}})), status: 422, reason: "route_not_configured", field: "routes[1]"},
		{name: "routes not a list", body: js(env(map[string]any{"routes": "lake"})), status: 422, reason: "malformed_envelope", field: "routes"},
		{name: "wrong field type", body: js(env(map[string]any{"data": with("n", "five")})), status: 422, reason: "invalid_data", field: "data.n"},
		{name: "missing field", body: js(env(map[string]any{"data": without("n")})), status: 422, reason: "invalid_data", field: "data.n"},
		{name: "extra field", body: js(env(map[string]any{"data": with("colour", "red")})), status: 422, reason: "invalid_data", field: "data.colour"},
		{name: "missing key field", body: js(env(map[string]any{"data": without("user_id")})), status: 422, reason: "invalid_data", field: "data.user_id"},
		{name: "long out of range", body: []byte(`{"contract":"orders","data":{"user_id":"u","n":99999999999999999999,"ts":1795300000000}}`), status: 422, reason: "invalid_data", field: "data.n"},
		{name: "bad time", body: js(env(map[string]any{"time": "yesterday"})), status: 422, reason: "invalid_time", field: "time"},
		{name: "conflicting key", body: js(env(map[string]any{"key": "someone-else"})), status: 422, reason: "invalid_key", field: "key"},
		{name: "oversize body", body: bytes.Repeat([]byte(" "), 70<<10), status: 413},
		{name: "avro: unknown schema id", path: "/v1/events/orders", body: wire(99999, map[string]any{"user_id": "u", "n": int64(1), "ts": time.UnixMilli(1795300000000)}), status: 422, reason: "unknown_schema"},
		{name: "avro: schema of another subject", path: "/v1/events/orders", body: wire(otherID.ID, map[string]any{"user_id": "u", "n": int64(1), "ts": time.UnixMilli(1795300000000)}), status: 422, reason: "schema_not_in_contract"},
		{name: "avro: bad magic byte", path: "/v1/events/orders", body: append([]byte{1}, goodAvro[1:]...), status: 422},
		{name: "avro: header only", path: "/v1/events/orders", body: goodAvro[:5], status: 422, reason: "invalid_data"},
		{name: "avro: trailing bytes", path: "/v1/events/orders", body: append(append([]byte{}, goodAvro...), 7, 7), status: 422, reason: "invalid_data"},
		{name: "avro: unknown subject", path: "/v1/events/nope", body: goodAvro, status: 422, reason: "unknown_contract"},
		{name: "avro: route not configured", path: "/v1/events/orders", header: map[string]string{"Waybill-Routes": "lake,warehouse"}, body: goodAvro, status: 422, reason: "route_not_configured"},
		{name: "avro: bad time header", path: "/v1/events/orders", header: map[string]string{"Waybill-Time": "noon"}, body: goodAvro, status: 422, reason: "invalid_time"},
		{name: "avro: oversize", path: "/v1/events/orders", body: append(append([]byte{}, goodAvro[:5]...), bytes.Repeat([]byte{2}, 70<<10)...), status: 413},
	}
	// Every truncation of a good Avro body is refused.
	for cut := 0; cut < len(goodAvro); cut++ {
		c := badCase{name: fmt.Sprintf("avro: truncated at %d", cut), path: "/v1/events/orders", body: goodAvro[:cut], status: 422}
		if cut >= 5 {
			c.reason = "invalid_data"
		}
		templates = append(templates, c)
	}

	var goodIDs []string
	const rounds = 12
	bad := 0
	for round := range rounds {
		order := rng.Perm(len(templates))
		for _, i := range order {
			c := templates[i]
			if c.path == "" {
				c.path = "/v1/events"
			}
			// The JSON cases also go in NDJSON and in arrays with a good event beside them.
			if c.path == "/v1/events" && c.status == 422 && json.Valid(c.body) && rng.Intn(2) == 0 {
				id := fmt.Sprintf("good-%d-%d", round, i)
				good := js(map[string]any{"contract": "orders", "id": id, "data": data()})
				if rng.Intn(2) == 0 {
					c.body = append(append(append([]byte("["), c.body...), ','), append(good, ']')...)
				} else {
					c.body = append(append(append([]byte{}, c.body...), '\n'), good...)
				}
				c.status = http.StatusMultiStatus
				goodIDs = append(goodIDs, id)
			}
			checkBadCase(t, e.routerURL, c)
			bad++
		}
		if round == 0 && t.Failed() {
			t.FailNow() // one round shows every problem; don't repeat them twelve times
		}
	}
	// Random corruptions of good bodies: each is either still a valid event (and
	// accepted) or refused with a 4xx and a reason; never a 5xx, never a crash.
	mutants := 0
	for i := 0; i < 400; i++ {
		// Ids far apart, so that no corruption turns one into another (the router would
		// rightly answer the second as a duplicate of the first, and the count be off).
		goodJSON := js(map[string]any{"contract": "orders", "id": fmt.Sprintf("mutant-%016x", rng.Uint64()), "data": data()})
		path, body := "/v1/events", goodJSON
		if i%2 == 1 {
			path, body = "/v1/events/orders", append([]byte{}, goodAvro...)
		}
		for range 1 + rng.Intn(3) {
			switch j := rng.Intn(len(body)); rng.Intn(3) {
			case 0:
				body[j] = byte(rng.Intn(256))
			case 1:
				body = append(body[:j], body[j+1:]...)
			case 2:
				body = append(body[:j], append([]byte{byte(rng.Intn(256))}, body[j:]...)...)
			}
		}
		ct := "application/json"
		if i%2 == 1 {
			ct = "application/vnd.confluent.avro"
		}
		status, a, err := postRaw(e.routerURL+path, ct, body)
		if err != nil {
			t.Fatalf("mutant %d: %v", i, err)
		}
		if status >= 500 || status < 200 {
			t.Fatalf("mutant %d (%q): HTTP %d %+v", i, body, status, a)
		}
		for _, ev := range a.Events {
			switch {
			case ev.Status == "accepted":
				goodIDs = append(goodIDs, ev.ID) // still valid after the corruption
				mutants++
			case ev.Reason == "" || ev.Error == "":
				t.Fatalf("mutant %d (%q): refused without a reason: %+v", i, body, a)
			}
		}
		if (status == http.StatusOK || status == http.StatusMultiStatus || status == http.StatusUnprocessableEntity) != (len(a.Events) > 0) {
			t.Fatalf("mutant %d (%q): HTTP %d with %d per-event answers", i, body, status, len(a.Events))
		}
	}
	t.Logf("400 corrupted bodies: %d events in them were still valid and accepted, the rest refused", mutants)
	if e.router.Exited() {
		t.Fatalf("the router exited: %v", e.router.WaitErr())
	}
	if s := mustStatus(t, e.routerURL+"/healthz"); s != http.StatusOK {
		t.Fatalf("/healthz: %d", s)
	}
	t.Logf("%d bad requests refused as expected; %d good events sent beside them", bad, len(goodIDs))

	// Nothing partial: the lake holds the accepted events, once each, and nothing else.
	e.waitDelivered(t, []string{"lake"}, int64(len(goodIDs)))
	stored := map[string]int{}
	for _, ev := range st.stored(t, "lake", "orders") {
		stored[ev.ID]++
	}
	for _, id := range goodIDs {
		if stored[id] != 1 {
			t.Errorf("good event %s stored %d times", id, stored[id])
		}
		delete(stored, id)
	}
	if len(stored) > 0 {
		t.Errorf("the lake holds events that were refused: %v", stored)
	}
}

// postRaw posts a body and decodes a per-event answer when there is one.
func postRaw(url, contentType string, body []byte) (int, batchAnswer, error) {
	var a batchAnswer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, a, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &a)
	return res.StatusCode, a, nil
}

// checkBadCase sends one request and checks its answer.
func checkBadCase(t *testing.T, base string, c badCase) {
	t.Helper()
	ct := c.contentType
	if ct == "" {
		ct = "application/json"
		if strings.HasPrefix(c.path, "/v1/events/") {
			ct = "application/vnd.confluent.avro"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+c.path, bytes.NewReader(c.body))
	req.Header.Set("Content-Type", ct)
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != c.status {
		t.Errorf("%s: HTTP %d %s, want %d", c.name, res.StatusCode, body, c.status)
		return
	}
	var a batchAnswer
	var problem struct {
		Error string `json:"error"`
	}
	switch {
	case res.StatusCode == http.StatusMultiStatus || res.StatusCode == http.StatusUnprocessableEntity:
		if err := json.Unmarshal(body, &a); err != nil || len(a.Events) == 0 {
			t.Errorf("%s: HTTP %d with no per-event answer: %s", c.name, res.StatusCode, body)
			return
		}
		rej := a.Events[0]
		if rej.Status != "rejected" || rej.Reason == "" || rej.Error == "" {
			t.Errorf("%s: first event %+v: want rejected with a reason and a message", c.name, rej)
		}
		if c.reason != "" && rej.Reason != c.reason {
			t.Errorf("%s: reason %q (%s), want %q", c.name, rej.Reason, rej.Error, c.reason)
		}
		if c.field != "" && rej.Field != c.field {
			t.Errorf("%s: field %q (%s), want %q", c.name, rej.Field, rej.Error, c.field)
		}
		if res.StatusCode == http.StatusMultiStatus && (a.Accepted != 1 || a.Events[1].Status != "accepted") {
			t.Errorf("%s: the good event beside it was not accepted: %s", c.name, body)
		}
	default:
		if err := json.Unmarshal(body, &problem); err != nil || problem.Error == "" {
			t.Errorf("%s: HTTP %d without an error message: %s", c.name, res.StatusCode, body)
		}
	}
}
