package router_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

// TestWALDiskFull fills the router's disk while a route's store (HDFS) is down, so
// that the WAL cannot release segments: intake answers 507 and accepts nothing, nothing
// accepted before is corrupted, and once the store is back the backlog drains, space
// returns and intake accepts again; a restart then opens the WAL cleanly. It runs on
// the WAL's own disk budget (wal.max_bytes) and, where the test may mount one (root),
// on a real 4 MiB tmpfs that fills up for real (wal.reserve_bytes keeps room for the
// cursors and the ledger).
func TestWALDiskFull(t *testing.T) {
	t.Run("budget", func(t *testing.T) {
		testDiskFull(t, t.TempDir(), "wal: {segment_bytes: 64KiB, max_bytes: 256KiB}\n")
	})
	t.Run("tmpfs", func(t *testing.T) {
		dir := t.TempDir()
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
			t.Skipf("cannot mount a tmpfs here (%v): the budget subtest covers the WAL's own limit", err)
		}
		t.Cleanup(func() {
			if err := syscall.Unmount(dir, 0); err != nil {
				t.Errorf("unmounting the tmpfs: %v", err)
			}
		})
		testDiskFull(t, dir, "wal: {segment_bytes: 64KiB, reserve_bytes: 1MiB}\n")
	})
}

func testDiskFull(t *testing.T, stateDir, walYAML string) {
	e := startLiveEnv(t)
	st := startStores(t)
	mustCall(t, http.MethodPost, e.regURL+"/subjects/orders/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	mustCall(t, http.MethodPut, e.regURL+"/contracts/orders", contractBody([]string{"lake", "hdfs"}, []string{"lake"}, []string{"lake", "hdfs"}), http.StatusOK)
	addr := testproc.FreeAddr(t)
	cfg := fmt.Sprintf("listen: %s\nstate_dir: %s\netcd_endpoints: [%s]\n%s%s", addr, filepath.Join(stateDir, "state"), e.etcdAddr, walYAML,
		st.sinksYAML(t)+`routes:
  lake: {sink: lake, class: analytic, target: "{contract}/dt={date}", batch: {max_wait: 20ms}}
  hdfs: {sink: hdfs, class: analytic, target: "{contract}/dt={date}", batch: {max_wait: 20ms}, retry: {initial_backoff: 50ms, max_backoff: 200ms}}
`)
	rs := &routerSet{cfgPath: filepath.Join(t.TempDir(), "router.yaml"), url: "http://" + addr}
	if err := os.WriteFile(rs.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	rs.start(t)
	e.routerURL, e.routerConfig = rs.url, rs.cfgPath

	acked := map[string]bool{}
	n := 0
	send := func(events int) (int, batchAnswer, error) {
		batch := make([]map[string]any, events)
		ids := make([]string, events)
		for i := range batch {
			n++
			ids[i] = fmt.Sprintf("e%06d", n)
			batch[i] = map[string]any{"contract": "orders", "id": ids[i], "data": map[string]any{"user_id": fmt.Sprintf("u%d", n%5), "n": n, "ts": 1795300000000 + int64(n)}}
		}
		status, a, _, err := postBatch(rs.url, batch)
		for i, ev := range a.Events {
			if ev.Status == "accepted" {
				acked[ids[i]] = true
			}
		}
		return status, a, err
	}

	st.control(t, "webhdfs", "down")
	full := false
	for i := 0; i < 5000 && !full; i++ {
		status, a, err := send(50)
		switch {
		case err != nil && status != http.StatusInsufficientStorage:
			t.Fatalf("request %d: HTTP %d: %v", i, status, err)
		case status == http.StatusInsufficientStorage:
			full = true
			if a.Accepted != 0 {
				t.Fatalf("a 507 answer accepted %d events", a.Accepted)
			}
		case status != http.StatusOK:
			t.Fatalf("request %d: HTTP %d %+v", i, status, a)
		}
	}
	if !full {
		t.Fatal("the WAL never filled up")
	}
	t.Logf("full after %d acknowledged events", len(acked))
	ackedAtFull := len(acked)
	for range 3 { // still full while HDFS is down (a request as large as the refused one)
		if status, _, _ := send(50); status != http.StatusInsufficientStorage {
			t.Fatalf("while full: HTTP %d, want 507", status)
		}
	}
	ready := mustStatus(t, rs.url+"/readyz")
	if ready != http.StatusServiceUnavailable {
		t.Errorf("/readyz while the WAL is full: HTTP %d, want 503", ready)
	}

	st.control(t, "webhdfs", "up")
	if !testproc.Poll(60*time.Second, 100*time.Millisecond, rs.cur.Done(), func() bool {
		status, _, _ := send(10)
		return status == http.StatusOK
	}) {
		t.Fatal("intake did not accept events again within 60s of HDFS's return")
	}
	// More load than the budget holds at once: a producer honouring Retry-After gets
	// every batch in as delivery frees space.
	for i := range 20 {
		var status int
		if !testproc.Poll(30*time.Second, 100*time.Millisecond, rs.cur.Done(), func() bool {
			status, _, _ = send(50)
			return status == http.StatusOK
		}) {
			t.Fatalf("after recovery, batch %d: HTTP %d for 30s", i, status)
		}
	}
	e.waitDrained(t, 60*time.Second)
	if len(acked) <= ackedAtFull {
		t.Fatal("nothing was acknowledged after recovery")
	}

	// A clean restart opens the WAL without repairs.
	if code := rs.cur.Stop(t, 30*time.Second); code != 0 {
		t.Fatalf("router exit code %d", code)
	}
	rs.start(t)
	if out := rs.cur.Out.String(); strings.Contains(out, "torn") || strings.Contains(out, "corrupt") {
		t.Fatalf("the WAL needed repair after the disk-full episode:\n%s", out)
	}
	for _, route := range []string{"lake", "hdfs"} {
		counts := map[string]int{}
		for _, ev := range st.stored(t, route, "orders") {
			counts[ev.ID]++
		}
		var missing []string
		for id := range acked {
			if counts[id] != 1 {
				missing = append(missing, fmt.Sprintf("%s x%d", id, counts[id]))
			}
		}
		if len(missing) > 0 {
			t.Errorf("%s: %d acknowledged events not stored exactly once, e.g. %v", route, len(missing), head(missing, 5))
		}
	}
	out, err := exec.Command(routerBin, "verify", "--config", rs.cfgPath, "--wait", "60s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify: every store holds exactly what was delivered") {
		t.Fatalf("router verify: %v\n%s", err, out)
	}
}

// mustStatus is the status of a GET.
func mustStatus(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
