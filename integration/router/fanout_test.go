package router_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

// TestOneEventReachesEveryStore sends one event routed to all four stores (and the
// lake) and reads it back from each with that store's own client (stores_test.go).
func TestOneEventReachesEveryStore(t *testing.T) {
	e := startLiveEnv(t)
	st := startStores(t)
	mustCall(t, http.MethodPost, e.regURL+"/subjects/orders/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	mustCall(t, http.MethodPut, e.regURL+"/contracts/orders", contractBody(storeRouteNames, []string{"lake"}, []string{"lake"}), http.StatusOK)
	e.startRouterWith(t, st.sinksYAML(t)+storeRoutes)

	status, a := e.send(t, orderEvent("orders", storeRouteNames[1:], map[string]any{"user_id": "u-42", "n": 7, "ts": 1795300000000}))
	if !accepted(status, a) || len(a.Routes) != 5 {
		t.Fatalf("HTTP %d %+v: want accepted on five routes", status, a)
	}
	e.waitDelivered(t, storeRouteNames, 1)
	at := time.UnixMilli(1795300000000).UTC()
	want := storedEvent{ID: a.ID, Key: "u-42", Time: at, N: 7}
	for _, route := range appendRoutes {
		t.Run(route, func(t *testing.T) {
			if got := st.stored(t, route, "orders"); len(got) != 1 || got[0] != want {
				t.Fatalf("%s holds %+v, want exactly %+v", route, got, want)
			}
		})
	}
	t.Run("profiles", func(t *testing.T) {
		if got := st.latest(t, "orders"); len(got) != 1 || got["u-42"] != want {
			t.Fatalf("MongoDB holds %+v, want u-42 -> %+v", got, want)
		}
	})
}

// startRouterWith starts the router with the given sinks and routes (YAML).
func (e *liveEnv) startRouterWith(t *testing.T, sinksAndRoutes string) {
	t.Helper()
	dir := t.TempDir()
	addr := testproc.FreeAddr(t)
	cfg := fmt.Sprintf("listen: %s\nstate_dir: %s\netcd_endpoints: [%s]\n%s", addr, filepath.Join(dir, "state"), e.etcdAddr, sinksAndRoutes)
	path := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	e.routerURL = "http://" + addr
	e.routerConfig = path
	e.router = testproc.Start(t, "router", nil, routerBin, "--config", path)
	testproc.WaitReady(t, e.router, e.routerURL+"/readyz", 30*time.Second, func(status int, _ []byte) bool {
		return status == http.StatusOK
	})
}

// waitDelivered waits until each route's ledger says n events delivered, none pending.
func (e *liveEnv) waitDelivered(t *testing.T, routes []string, n int64) {
	t.Helper()
	var last ledgerAnswer
	if !testproc.Poll(60*time.Second, 20*time.Millisecond, nil, func() bool {
		if err := json.Unmarshal(mustCallWith(t, bearer(e.token), http.MethodGet, e.routerURL+"/v1/ledger", nil, http.StatusOK), &last); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, r := range last.Ledger {
			if r.Pending != 0 {
				return false
			}
			got[r.Route] += r.Delivered
		}
		for _, r := range routes {
			if got[r] != n {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("not every route delivered %d: ledger %+v", n, last)
	}
}

// waitDrained waits until the router's ledger has rows and none is pending.
func (e *liveEnv) waitDrained(t *testing.T, within time.Duration) {
	t.Helper()
	var last ledgerAnswer
	if !testproc.Poll(within, 50*time.Millisecond, nil, func() bool {
		status, b, err := testproc.Call(t.Context(), http.MethodGet, e.routerURL+"/v1/ledger", nil)
		if err != nil || status != http.StatusOK || json.Unmarshal(b, &last) != nil || len(last.Ledger) == 0 {
			return false
		}
		for _, r := range last.Ledger {
			if r.Pending != 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the router did not deliver everything within %v; ledger %+v", within, last)
	}
}
