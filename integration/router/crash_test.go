package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waybill-data/waybill/adapters/lake"
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
		Index  int    `json:"index"`
		Status string `json:"status"`
		ID     string `json:"id"`
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

// TestCrashExactlyOnce proves that every event the router acknowledged lands in the
// lake exactly once, and no event lands twice, across repeated SIGKILLs of the router.
func TestCrashExactlyOnce(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))

	// Registry with embedded etcd, one governed contract.
	regAddr, etcdAddr := testproc.FreeAddr(t), testproc.FreeAddr(t)
	reg := testproc.Start(t, "registry", nil, registryBin,
		"--listen", regAddr, "--data-dir", t.TempDir(), "--etcd-listen", etcdAddr)
	regURL := "http://" + regAddr
	testproc.WaitReady(t, reg, regURL+"/healthz", 60*time.Second, func(status int, _ []byte) bool {
		return status == http.StatusOK
	})
	mustCall(t, http.MethodPost, regURL+"/subjects/orders/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	mustCall(t, http.MethodPut, regURL+"/contracts/orders", map[string]any{
		"owner": "team", "key_field": "user_id", "time_field": "ts",
		"routes": map[string]any{"allowed": []string{"lake"}, "required": []string{"lake"}, "default": []string{"lake"}},
	}, http.StatusOK)

	// Router configuration, reused by every incarnation.
	dir := t.TempDir()
	lakeDir := filepath.Join(dir, "lake")
	routerAddr := testproc.FreeAddr(t)
	cfg := fmt.Sprintf(`listen: %s
state_dir: %s
etcd_endpoints: [%s]
sinks:
  lake: {kind: lake, path: %s}
routes:
  lake: {sink: lake, class: analytic, target: "{contract}/dt={date}/hr={hour}", batch: {max_events: 200, max_wait: 20ms}}
`, routerAddr, filepath.Join(dir, "state"), etcdAddr, lakeDir)
	rs := &routerSet{cfgPath: filepath.Join(dir, "router.yaml"), url: "http://" + routerAddr}
	if err := os.WriteFile(rs.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	rs.start(t)

	// Senders.
	const (
		senders   = 4
		batchSize = 50
		cycles    = 5
		maxLoad   = 15 * time.Second
	)
	var (
		ackMu     sync.Mutex
		acked     = map[string]bool{}
		sentTotal atomic.Int64
		reqOK     atomic.Int64
		reqFailed atomic.Int64
		rejected  atomic.Int64
		badAnswer atomic.Value // first inconsistent answer, if any
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				ids := make([]string, batchSize)
				batch := make([]map[string]any, batchSize)
				for i := range batch {
					ids[i] = fmt.Sprintf("g%d-b%d-e%d", g, seq, i)
					batch[i] = map[string]any{
						"contract": "orders",
						"id":       ids[i],
						"data":     map[string]any{"user_id": fmt.Sprintf("u%d", i%7), "n": seq*batchSize + i, "ts": 1795300000000},
					}
				}
				sentTotal.Add(batchSize)
				body, _ := json.Marshal(batch)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rs.url+"/v1/events", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				ans, ok := func() (intakeAnswer, bool) {
					var a intakeAnswer
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
				}()
				cancel()
				if !ok {
					reqFailed.Add(1)
					time.Sleep(10 * time.Millisecond) // the router may be down; don't spin
					continue
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
		wait := time.Duration(300+rng.Intn(601)) * time.Millisecond
		if time.Since(loadStart)+wait > maxLoad {
			t.Logf("load bound reached before cycle %d", c)
			break
		}
		time.Sleep(wait)
		ackMu.Lock()
		before := len(acked)
		ackMu.Unlock()
		rs.cur.Kill(t)
		restart := time.Now()
		rs.start(t)
		t.Logf("cycle %d: SIGKILL after %v (acknowledged so far %d), ready again in %v", c, wait, before, time.Since(restart).Round(time.Millisecond))
	}
	// Some load on the last incarnation, then stop.
	time.Sleep(500 * time.Millisecond)
	stopSenders()
	loadTime := time.Since(loadStart)
	if v := badAnswer.Load(); v != nil {
		t.Fatalf("inconsistent intake answer: %v", v)
	}

	ackMu.Lock()
	ackedIDs := make(map[string]bool, len(acked))
	for id := range acked {
		ackedIDs[id] = true
	}
	ackMu.Unlock()
	t.Logf("load %v: sent %d events in %d ok + %d failed requests; acknowledged %d, rejected %d",
		loadTime.Round(time.Millisecond), sentTotal.Load(), reqOK.Load(), reqFailed.Load(), len(ackedIDs), rejected.Load())
	if len(ackedIDs) == 0 {
		t.Fatal("no event was acknowledged; the test proves nothing")
	}

	// Wait for delivery: ledger drained and every acknowledged id in the lake.
	var (
		counts      map[string]int
		files       int
		lastLedger  string
		lastProblem string
	)
	readLake := func() error {
		cf, err := lake.Scan(lakeDir)
		if err != nil {
			return fmt.Errorf("scanning lake: %w", err)
		}
		m := map[string]int{}
		for _, f := range cf {
			evs, err := lake.ReadFile(f.Path)
			if err != nil {
				return fmt.Errorf("reading %s: %w", f.Path, err)
			}
			for _, e := range evs {
				m[e.ID]++
			}
		}
		counts, files = m, len(cf)
		return nil
	}
	drained := testproc.Poll(60*time.Second, 100*time.Millisecond, rs.cur.Done(), func() bool {
		status, b, err := testproc.Call(context.Background(), http.MethodGet, rs.url+"/v1/ledger", nil)
		if err != nil || status != http.StatusOK {
			lastProblem = fmt.Sprintf("ledger: %d %v", status, err)
			return false
		}
		lastLedger = string(b)
		var l ledgerAnswer
		if err := json.Unmarshal(b, &l); err != nil {
			lastProblem = fmt.Sprintf("ledger: %v", err)
			return false
		}
		if len(l.Ledger) == 0 {
			lastProblem = "ledger has no rows"
			return false
		}
		for _, r := range l.Ledger {
			if r.Pending != 0 {
				lastProblem = fmt.Sprintf("ledger row %s/%s/%s pending %d", r.Contract, r.Hour, r.Route, r.Pending)
				return false
			}
		}
		if err := readLake(); err != nil {
			lastProblem = err.Error()
			return false
		}
		for id := range ackedIDs {
			if counts[id] == 0 {
				lastProblem = fmt.Sprintf("acknowledged id %s not in the lake yet", id)
				return false
			}
		}
		return true
	})
	if !drained {
		t.Logf("last ledger: %s", lastLedger)
		t.Errorf("delivery did not complete within 60s: %s", lastProblem)
		if counts == nil {
			if err := readLake(); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Exactly once for acknowledged ids; at most once for every id.
	var missing, dups []string
	total, extra := 0, 0
	for id, n := range counts {
		total += n
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s x%d", id, n))
		}
		if !ackedIDs[id] {
			extra++
		}
	}
	for id := range ackedIDs {
		if counts[id] == 0 {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	sort.Strings(dups)
	t.Logf("lake: %d files, %d events, %d distinct ids; acknowledged %d, unacknowledged-but-stored %d, missing %d, duplicated %d",
		files, total, len(counts), len(ackedIDs), extra, len(missing), len(dups))
	if len(missing) > 0 {
		t.Errorf("%d acknowledged ids missing from the lake, e.g. %v", len(missing), head(missing, 20))
	}
	if len(dups) > 0 {
		t.Errorf("%d ids stored more than once, e.g. %v", len(dups), head(dups, 20))
	}
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
