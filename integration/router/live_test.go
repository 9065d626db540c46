package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

// eventAnswer is one event's fate in an intake answer, with the rejection details.
type eventAnswer struct {
	Status string   `json:"status"`
	ID     string   `json:"id"`
	Routes []string `json:"routes"`
	Reason string   `json:"reason"`
	Field  string   `json:"field"`
	Error  string   `json:"error"`
}

// liveEnv is a registry (embedded etcd) and a router watching it, both subprocesses.
type liveEnv struct {
	regURL, routerURL    string
	regAddr, etcdAddr    string
	regDataDir           string
	registryIncarnations int
	registry             *testproc.Proc
	router               *testproc.Proc // the last router started by startRouterWith
	routerConfig         string
	token                string // bearer token for the router's ledger, when it has a tokens file
}

func (e *liveEnv) startRegistry(t *testing.T) {
	t.Helper()
	e.registryIncarnations++
	e.registry = testproc.Start(t, fmt.Sprintf("registry#%d", e.registryIncarnations), nil, registryBin,
		"--listen", e.regAddr, "--data-dir", e.regDataDir, "--etcd-listen", e.etcdAddr)
	testproc.WaitReady(t, e.registry, e.regURL+"/readyz", 60*time.Second, func(status int, _ []byte) bool {
		return status == http.StatusOK
	})
}

func startLiveEnv(t *testing.T) *liveEnv {
	t.Helper()
	e := &liveEnv{regAddr: testproc.FreeAddr(t), etcdAddr: testproc.FreeAddr(t), regDataDir: t.TempDir()}
	e.regURL = "http://" + e.regAddr
	e.startRegistry(t)
	return e
}

// startRouter starts the router with two routes on the lake. contracts_max_staleness is
// short so that the outage test does not wait long.
func (e *liveEnv) startRouter(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	addr := testproc.FreeAddr(t)
	cfg := fmt.Sprintf(`listen: %s
state_dir: %s
etcd_endpoints: [%s]
contracts_max_staleness: 1s
sinks:
  lake: {kind: lake, path: %s}
routes:
  lake:  {sink: lake, class: analytic, target: "{contract}/dt={date}", batch: {max_wait: 20ms}}
  audit: {sink: lake, class: analytic, target: "audit/{contract}", batch: {max_wait: 20ms}}
`, addr, filepath.Join(dir, "state"), e.etcdAddr, filepath.Join(dir, "lake"))
	path := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	e.routerURL = "http://" + addr
	p := testproc.Start(t, "router", nil, routerBin, "--config", path)
	e.router = p
	testproc.WaitReady(t, p, e.routerURL+"/readyz", 30*time.Second, func(status int, _ []byte) bool {
		return status == http.StatusOK
	})
}

// send posts one JSON event and returns the HTTP status and the event's answer.
func (e *liveEnv) send(t *testing.T, event map[string]any) (int, eventAnswer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, body, err := testproc.Call(ctx, http.MethodPost, e.routerURL+"/v1/events", event)
	if err != nil {
		t.Fatalf("posting an event: %v", err)
	}
	var a struct {
		Events []eventAnswer `json:"events"`
	}
	if err := json.Unmarshal(body, &a); err != nil || len(a.Events) != 1 {
		t.Fatalf("intake answered HTTP %d %s", status, body)
	}
	return status, a.Events[0]
}

// eventually sends event until check accepts the answer or the deadline passes: the
// router sees registry changes through its etcd watch, a moment after they are made.
func (e *liveEnv) eventually(t *testing.T, what string, event map[string]any, check func(int, eventAnswer) bool) eventAnswer {
	t.Helper()
	var status int
	var last eventAnswer
	if !testproc.Poll(15*time.Second, 20*time.Millisecond, nil, func() bool {
		status, last = e.send(t, event)
		return check(status, last)
	}) {
		t.Fatalf("%s: not seen within 15s; last answer HTTP %d %+v", what, status, last)
	}
	return last
}

func accepted(status int, a eventAnswer) bool {
	return status == http.StatusOK && a.Status == "accepted"
}

func rejectedFor(reason, field string) func(int, eventAnswer) bool {
	return func(status int, a eventAnswer) bool {
		return status == http.StatusUnprocessableEntity && a.Reason == reason && a.Field == field
	}
}

const ordersV2Schema = `{"type":"record","name":"Order","namespace":"waybill.itest","fields":[` +
	`{"name":"user_id","type":"string"},` +
	`{"name":"n","type":"long"},` +
	`{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},` +
	`{"name":"coupon","type":["null","string"],"default":null}]}`

func contractBody(allowed, required, def []string) map[string]any {
	return map[string]any{"owner": "team", "key_field": "user_id", "time_field": "ts",
		"routes": map[string]any{"allowed": allowed, "required": required, "default": def}}
}

func orderEvent(contract string, routes []string, data map[string]any) map[string]any {
	ev := map[string]any{"contract": contract, "data": data}
	if routes != nil {
		ev["routes"] = routes
	}
	return ev
}

func orderData() map[string]any { return map[string]any{"user_id": "u1", "n": 1, "ts": 1795300000000} }

// TestContractChangesArePickedUpLive changes the registry under a running router: a
// new schema version, changed routes, a new contract. Each change is visible to the
// next events without a restart.
func TestContractChangesArePickedUpLive(t *testing.T) {
	e := startLiveEnv(t)
	mustCall(t, http.MethodPost, e.regURL+"/subjects/orders/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	mustCall(t, http.MethodPut, e.regURL+"/contracts/orders", contractBody([]string{"lake"}, []string{"lake"}, []string{"lake"}), http.StatusOK)
	e.startRouter(t)

	withCoupon := orderData()
	withCoupon["coupon"] = map[string]any{"string": "SPRING10"}

	// Before the change: the new field is unknown.
	if status, a := e.send(t, orderEvent("orders", nil, withCoupon)); status != http.StatusUnprocessableEntity || a.Reason != "invalid_data" {
		t.Fatalf("an event with a field v1 lacks: HTTP %d %+v", status, a)
	}

	t.Run("new schema version", func(t *testing.T) {
		var reg struct {
			ID int `json:"id"`
		}
		if err := json.Unmarshal(mustCall(t, http.MethodPost, e.regURL+"/subjects/orders/versions", map[string]any{"schema": ordersV2Schema}, http.StatusOK), &reg); err != nil {
			t.Fatal(err)
		}
		e.eventually(t, "an event using the new field against the latest version", orderEvent("orders", nil, withCoupon), accepted)
		byID := orderEvent("orders", nil, withCoupon)
		byID["schema_id"] = reg.ID
		if status, a := e.send(t, byID); !accepted(status, a) {
			t.Fatalf("an event naming schema_id %d: HTTP %d %+v", reg.ID, status, a)
		}
	})

	t.Run("routes policy", func(t *testing.T) {
		// audit is configured on the router but not allowed by the contract yet.
		if status, a := e.send(t, orderEvent("orders", []string{"audit"}, orderData())); !rejectedFor("route_not_allowed", "routes[0]")(status, a) {
			t.Fatalf("a route the contract does not allow: HTTP %d %+v", status, a)
		}
		// Allow audit and require it: events naming no routes get the default plus it.
		mustCall(t, http.MethodPut, e.regURL+"/contracts/orders", contractBody([]string{"lake", "audit"}, []string{"audit"}, []string{"lake"}), http.StatusOK)
		a := e.eventually(t, "the newly required route added", orderEvent("orders", nil, orderData()), func(status int, a eventAnswer) bool {
			return accepted(status, a) && slices.Contains(a.Routes, "audit")
		})
		if !slices.Equal(a.Routes, []string{"lake", "audit"}) {
			t.Fatalf("routes %v, want the default lake then the required audit", a.Routes)
		}
		// Take lake away: an event naming it is refused, with the reason and the field.
		mustCall(t, http.MethodPut, e.regURL+"/contracts/orders", contractBody([]string{"audit"}, []string{"audit"}, []string{"audit"}), http.StatusOK)
		a = e.eventually(t, "a no-longer-allowed route refused", orderEvent("orders", []string{"lake"}, orderData()), rejectedFor("route_not_allowed", "routes[0]"))
		if !strings.Contains(a.Error, `"lake" is not allowed`) || !strings.Contains(a.Error, "allowed: audit") {
			t.Fatalf("rejection message %q does not say which route and what is allowed", a.Error)
		}
		if status, a := e.send(t, orderEvent("orders", nil, orderData())); !accepted(status, a) || !slices.Equal(a.Routes, []string{"audit"}) {
			t.Fatalf("an event with default routes: HTTP %d %+v, want routes [audit]", status, a)
		}
	})

	t.Run("new contract", func(t *testing.T) {
		refund := orderEvent("refunds", nil, orderData())
		if status, a := e.send(t, refund); !rejectedFor("unknown_contract", "contract")(status, a) {
			t.Fatalf("an event of a contract that does not exist yet: HTTP %d %+v", status, a)
		}
		mustCall(t, http.MethodPost, e.regURL+"/subjects/refunds/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
		mustCall(t, http.MethodPut, e.regURL+"/contracts/refunds", contractBody([]string{"lake"}, nil, []string{"lake"}), http.StatusOK)
		e.eventually(t, "the new contract usable", refund, accepted)
	})
}

// TestReadinessFollowsTheContractCache kills the registry (and its embedded etcd)
// under a running router: /readyz turns 503 once the cache has been stale longer than
// contracts_max_staleness, intake keeps accepting events for known contracts all
// along, and /readyz is 200 again once etcd is back.
func TestReadinessFollowsTheContractCache(t *testing.T) {
	e := startLiveEnv(t)
	mustCall(t, http.MethodPost, e.regURL+"/subjects/orders/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	mustCall(t, http.MethodPut, e.regURL+"/contracts/orders", contractBody([]string{"lake"}, []string{"lake"}, []string{"lake"}), http.StatusOK)
	e.startRouter(t)

	readyz := func() (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		status, body, err := testproc.Call(ctx, http.MethodGet, e.routerURL+"/readyz", nil)
		if err != nil {
			t.Fatalf("readyz: %v", err)
		}
		return status, string(body)
	}

	outage := time.Now()
	e.registry.Kill(t) // a crash: the router's watch breaks without a goodbye
	var status int
	var body string
	if !testproc.Poll(30*time.Second, 50*time.Millisecond, nil, func() bool {
		status, body = readyz()
		return status == http.StatusServiceUnavailable
	}) {
		t.Fatalf("readyz still HTTP %d %s 30s after etcd stopped", status, body)
	}
	if !strings.Contains(body, "contracts_max_staleness") || !strings.Contains(body, `"stale":true`) {
		t.Fatalf("readyz 503 without the staleness reason: %s", body)
	}
	t.Logf("readyz 503 after %s", time.Since(outage).Round(time.Millisecond))
	// Producers are not stopped by the registry's outage.
	if status, a := e.send(t, orderEvent("orders", nil, orderData())); !accepted(status, a) {
		t.Fatalf("intake during the outage: HTTP %d %+v", status, a)
	}

	back := time.Now()
	e.startRegistry(t)
	t.Logf("registry ready again after %s", time.Since(back).Round(time.Millisecond))
	if !testproc.Poll(30*time.Second, 50*time.Millisecond, nil, func() bool {
		status, body = readyz()
		return status == http.StatusOK
	}) {
		t.Fatalf("readyz still HTTP %d %s 30s after etcd returned", status, body)
	}
	t.Logf("readyz 200 %s after the registry was restarted", time.Since(back).Round(time.Millisecond))
	if status, a := e.send(t, orderEvent("orders", nil, orderData())); !accepted(status, a) {
		t.Fatalf("intake after the outage: HTTP %d %+v", status, a)
	}
}
