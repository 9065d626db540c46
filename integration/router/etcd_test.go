package router_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

// TestEtcdOutage stops the etcd that the registry and the router share (Debian's
// etcd-server, a separate process): the router keeps accepting and delivering events
// for the contracts it knows, the registry answers writes with 5xx and stays up, and
// once etcd is back on its data both recover: the registry takes writes again and the
// router sees a contract registered after the outage.
func TestEtcdOutage(t *testing.T) {
	testproc.RequireDebianEtcd(t)
	etcdDir, etcdAddr, peerAddr := t.TempDir(), testproc.FreeAddr(t), testproc.FreeAddr(t)
	etcd := testproc.StartDebianEtcd(t, "etcd (first run)", etcdDir, etcdAddr, peerAddr)

	regAddr := testproc.FreeAddr(t)
	e := &liveEnv{regAddr: regAddr, regURL: "http://" + regAddr, etcdAddr: etcdAddr}
	reg := testproc.Start(t, "registry", nil, registryBin, "--listen", regAddr, "--etcd-endpoints", etcdAddr, "--store-timeout", "1s")
	testproc.WaitReady(t, reg, e.regURL+"/readyz", 30*time.Second, func(status int, _ []byte) bool { return status == http.StatusOK })
	mustCall(t, http.MethodPost, e.regURL+"/subjects/orders/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	mustCall(t, http.MethodPut, e.regURL+"/contracts/orders", contractBody([]string{"lake"}, []string{"lake"}, []string{"lake"}), http.StatusOK)
	e.startRouter(t)
	if status, a := e.send(t, orderEvent("orders", nil, orderData())); !accepted(status, a) {
		t.Fatalf("before the outage: HTTP %d %+v", status, a)
	}

	etcd.Kill(t)
	// The router serves from its contract cache.
	for i := range 20 {
		data := orderData()
		data["n"] = i
		if status, a := e.send(t, orderEvent("orders", nil, data)); !accepted(status, a) {
			t.Fatalf("event %d during the etcd outage: HTTP %d %+v", i, status, a)
		}
	}
	e.waitDelivered(t, []string{"lake"}, 21)
	// The registry refuses writes with a server error, and stays up.
	for _, w := range []struct{ method, path string }{
		{http.MethodPost, "/subjects/refunds/versions"},
		{http.MethodPut, "/contracts/orders"},
	} {
		var body any = map[string]any{"schema": ordersSchema}
		if w.method == http.MethodPut {
			body = contractBody([]string{"lake"}, nil, []string{"lake"})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		status, b, err := testproc.Call(ctx, w.method, e.regURL+w.path, body)
		cancel()
		var ce struct {
			ErrorCode int `json:"error_code"`
		}
		if err != nil || status < 500 || json.Unmarshal(b, &ce) != nil || ce.ErrorCode != 50001 {
			t.Fatalf("%s %s during the etcd outage: HTTP %d %s, %v; want 5xx with error_code 50001", w.method, w.path, status, b, err)
		}
	}
	if reg.Exited() {
		t.Fatalf("the registry exited during the outage: %v", reg.WaitErr())
	}

	// etcd returns on its data: the registry takes writes again, the router sees them.
	testproc.StartDebianEtcd(t, "etcd (restarted)", etcdDir, etcdAddr, peerAddr)
	if !testproc.Poll(30*time.Second, 100*time.Millisecond, reg.Done(), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		status, _, err := testproc.Call(ctx, http.MethodPost, e.regURL+"/subjects/refunds/versions", map[string]any{"schema": ordersSchema})
		return err == nil && status == http.StatusOK
	}) {
		t.Fatal("the registry did not take writes within 30s of etcd's return")
	}
	mustCall(t, http.MethodPut, e.regURL+"/contracts/refunds", contractBody([]string{"lake"}, nil, []string{"lake"}), http.StatusOK)
	e.eventually(t, "a contract registered after the outage", orderEvent("refunds", nil, orderData()), accepted)
	testproc.WaitReady(t, e.router, e.routerURL+"/readyz", 30*time.Second, func(status int, _ []byte) bool { return status == http.StatusOK })
}
