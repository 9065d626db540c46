package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

const ordersSchema = `{"type":"record","name":"Order","namespace":"waybill.itest","fields":[` +
	`{"name":"user_id","type":"string"},` +
	`{"name":"n","type":"long"},` +
	`{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}`

// intakeAnswer is the answer to POST /v1/events.
type intakeAnswer struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	Events   []struct {
		Index     int    `json:"index"`
		Status    string `json:"status"`
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	} `json:"events"`
}

// ledgerAnswer is the answer to GET /v1/ledger.
type ledgerAnswer struct {
	Ledger []struct {
		Contract     string `json:"contract"`
		Hour         string `json:"hour"`
		Route        string `json:"route"`
		Accepted     int64  `json:"accepted"`
		Delivered    int64  `json:"delivered"`
		DeadLettered int64  `json:"dead_lettered"`
		Pending      int64  `json:"pending"`
	} `json:"ledger"`
}

// routerSet runs successive incarnations of one router configuration.
type routerSet struct {
	cfgPath string
	url     string
	n       int
	cur     *testproc.Proc
}

func (rs *routerSet) start(t *testing.T) {
	t.Helper()
	rs.n++
	rs.cur = testproc.Start(t, fmt.Sprintf("router#%d", rs.n), nil, routerBin, "--config", rs.cfgPath)
	testproc.WaitReady(t, rs.cur, rs.url+"/readyz", 30*time.Second, func(status int, _ []byte) bool {
		return status == http.StatusOK
	})
}

// TestCrashExactlyOnce proves, across repeated SIGKILLs of the router under load to all
// four stores and the lake, with producers resending unanswered batches (same ids),
// that every event the router acknowledged is in every append route's store exactly
// once, that no event is stored twice (resends included), that the latest
// route holds each key's newest accepted version, and that router verify agrees.
func TestCrashExactlyOnce(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))

	e := startLiveEnv(t)
	st := startStores(t)
	mustCall(t, http.MethodPost, e.regURL+"/subjects/orders/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	mustCall(t, http.MethodPut, e.regURL+"/contracts/orders", contractBody(storeRouteNames, []string{"lake"}, storeRouteNames), http.StatusOK)

	// Router configuration, reused by every incarnation.
	dir := t.TempDir()
	routerAddr := testproc.FreeAddr(t)
	cfg := fmt.Sprintf("listen: %s\nstate_dir: %s\netcd_endpoints: [%s]\n%s%s", routerAddr, filepath.Join(dir, "state"), e.etcdAddr,
		st.sinksYAML(t), strings.ReplaceAll(storeRoutes, "max_wait: 20ms", "max_events: 200, max_wait: 20ms"))
	rs := &routerSet{cfgPath: filepath.Join(dir, "router.yaml"), url: "http://" + routerAddr}
	if err := os.WriteFile(rs.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	rs.start(t)

	// Senders. Every event has its own event time, so that latest mode has one newest
	// version per key.
	const (
		senders   = 4
		batchSize = 50
		cycles    = 4
		maxLoad   = 15 * time.Second
		base      = int64(1795300000000)
	)
	var (
		ackMu      sync.Mutex
		acked      = map[string]bool{}
		sent       = map[string]storedEvent{} // every event sent, by id
		tick       atomic.Int64
		reqOK      atomic.Int64
		reqFailed  atomic.Int64
		rejected   atomic.Int64
		duplicates atomic.Int64 // acknowledged as already accepted, on a resend
		badAnswer  atomic.Value // first inconsistent answer, if any
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			pace := time.NewTicker(40 * time.Millisecond) // about 5,000 events/s in all: enough to be busy at every kill, few enough to read back quickly
			defer pace.Stop()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				case <-pace.C:
				}
				ids := make([]string, batchSize)
				batch := make([]map[string]any, batchSize)
				ackMu.Lock()
				for i := range batch {
					n := tick.Add(1)
					ids[i] = fmt.Sprintf("g%d-b%d-e%d", g, seq, i)
					key := fmt.Sprintf("u%d", n%7)
					sent[ids[i]] = storedEvent{ID: ids[i], Key: key, Time: time.UnixMilli(base + n).UTC(), N: n}
					batch[i] = map[string]any{"contract": "orders", "id": ids[i], "data": map[string]any{"user_id": key, "n": n, "ts": base + n}}
				}
				ackMu.Unlock()
				body, _ := json.Marshal(batch)
				try := func() (intakeAnswer, bool) {
					var a intakeAnswer
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rs.url+"/v1/events", strings.NewReader(string(body)))
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						return a, false
					}
					defer resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						return a, false
					}
					// A body that cannot be read or decoded in full acknowledges nothing.
					if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
						return a, false
					}
					return a, true
				}
				// Like a real producer, resend the same batch (the same ids) until it is
				// answered: the router must recognise what it already accepted.
				ans, ok := try()
				for !ok {
					reqFailed.Add(1)
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond): // the router may be down; don't spin
					}
					ans, ok = try()
				}
				reqOK.Add(1)
				ackMu.Lock()
				n := 0
				for _, e := range ans.Events {
					if e.Status != "accepted" {
						rejected.Add(1)
						continue
					}
					if e.Index < 0 || e.Index >= batchSize || (e.ID != "" && e.ID != ids[e.Index]) {
						badAnswer.CompareAndSwap(nil, fmt.Sprintf("event %+v does not match the request's ids", e))
						continue
					}
					acked[ids[e.Index]] = true
					if e.Duplicate {
						duplicates.Add(1)
					}
					n++
				}
				if n != ans.Accepted {
					badAnswer.CompareAndSwap(nil, fmt.Sprintf("answer says accepted %d but lists %d accepted events", ans.Accepted, n))
				}
				ackMu.Unlock()
			}
		}()
	}
	stopSenders := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopSenders)

	// Kill and restart the router at random moments while load runs.
	loadStart := time.Now()
	for c := 1; c <= cycles; c++ {
		wait := time.Duration(300+rng.Intn(901)) * time.Millisecond
		if time.Since(loadStart)+wait > maxLoad {
			t.Logf("load bound reached before cycle %d", c)
			break
		}
		time.Sleep(wait) // a random moment to kill at, by design
		ackMu.Lock()
		before := len(acked)
		ackMu.Unlock()
		rs.cur.Kill(t)
		restart := time.Now()
		rs.start(t)
		t.Logf("cycle %d: SIGKILL after %v (acknowledged so far %d), ready again in %v", c, wait, before, time.Since(restart).Round(time.Millisecond))
	}
	// Some load on the last incarnation, then stop.
	time.Sleep(500 * time.Millisecond) // the last incarnation gets load too
	stopSenders()
	if v := badAnswer.Load(); v != nil {
		t.Fatalf("inconsistent intake answer: %v", v)
	}
	t.Logf("load %v: %d events sent in %d ok + %d failed requests (resent); acknowledged %d (%d of them as duplicates of a resend), rejected %d",
		time.Since(loadStart).Round(time.Millisecond), len(sent), reqOK.Load(), reqFailed.Load(), len(acked), duplicates.Load(), rejected.Load())
	if len(acked) == 0 {
		t.Fatal("no event was acknowledged; the test proves nothing")
	}

	// Wait until every route has delivered everything accepted.
	e.routerURL = rs.url
	drainStart := time.Now()
	e.waitDrained(t, 90*time.Second)
	t.Logf("every route drained %v after the load stopped", time.Since(drainStart).Round(time.Millisecond))

	// Exactly once in every append route for acknowledged ids; at most once for any id.
	for _, route := range appendRoutes {
		counts := map[string]int{}
		for _, ev := range st.stored(t, route, "orders") {
			counts[ev.ID]++
			if want, ok := sent[ev.ID]; !ok || want != ev {
				t.Errorf("%s: stored %+v, which was never sent like that (sent %+v)", route, ev, want)
			}
		}
		var missing, dups []string
		extra := 0
		for id, n := range counts {
			if n > 1 {
				dups = append(dups, fmt.Sprintf("%s x%d", id, n))
			}
			if !acked[id] {
				extra++
			}
		}
		for id := range acked {
			if counts[id] == 0 {
				missing = append(missing, id)
			}
		}
		sort.Strings(missing)
		sort.Strings(dups)
		t.Logf("%s: %d distinct ids; acknowledged %d, unacknowledged-but-stored %d, missing %d, duplicated %d",
			route, len(counts), len(acked), extra, len(missing), len(dups))
		if len(missing) > 0 {
			t.Errorf("%s: %d acknowledged ids missing, e.g. %v", route, len(missing), head(missing, 10))
		}
		if len(dups) > 0 {
			t.Errorf("%s: %d ids stored more than once, e.g. %v", route, len(dups), head(dups, 10))
		}
	}

	// The latest route holds, per key, the newest of the accepted events (the lake holds
	// every accepted event, acknowledged or not).
	newest := map[string]storedEvent{}
	for _, ev := range st.stored(t, "lake", "orders") {
		if cur, ok := newest[ev.Key]; !ok || ev.Time.After(cur.Time) || ev.Time.Equal(cur.Time) && ev.ID > cur.ID {
			newest[ev.Key] = ev
		}
	}
	got := st.latest(t, "orders")
	if len(got) != len(newest) {
		t.Errorf("profiles holds %d keys, the lake's events have %d", len(got), len(newest))
	}
	for key, want := range newest {
		if got[key] != want {
			t.Errorf("profiles %s holds %+v, want the newest accepted %+v", key, got[key], want)
		}
	}

	// And the operator's check says the same.
	verifyStart := time.Now()
	defer func() { t.Logf("router verify took %v", time.Since(verifyStart).Round(time.Millisecond)) }()
	out, err := exec.Command(routerBin, "verify", "--config", rs.cfgPath, "--wait", "60s").CombinedOutput()
	if err != nil {
		t.Fatalf("router verify: %v\n%s", err, out)
	}
	t.Logf("router verify:\n%s", out)
	if !strings.Contains(string(out), "verify: every store holds exactly what was delivered") {
		t.Fatalf("router verify:\n%s", out)
	}
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
