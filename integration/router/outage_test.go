package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

// batchAnswer is the intake's answer to a batch, with each event's fate.
type batchAnswer struct {
	Accepted int           `json:"accepted"`
	Rejected int           `json:"rejected"`
	Events   []eventAnswer `json:"events"`
}

// postBatch posts a JSON array of events and returns the status and the answer.
func postBatch(url string, events []map[string]any) (int, batchAnswer, time.Duration, error) {
	var a batchAnswer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	status, body, err := testproc.Call(ctx, http.MethodPost, url+"/v1/events", events)
	took := time.Since(start)
	if err != nil {
		return 0, a, took, err
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return status, a, took, fmt.Errorf("HTTP %d: %s", status, body)
	}
	return status, a, took, nil
}

// TestStoreOutageUnderLoad takes an analytic store (Cassandra) and a runtime store
// (Elasticsearch) down under load through devstack's control endpoint, then brings
// them back:
//   - events not routed to the dead stores keep being accepted and delivered;
//   - only events routed to the saturated analytic route are refused (backpressure,
//     503 when a whole request is), never the others;
//   - nothing acknowledged is lost: the analytic backlog drains after recovery;
//   - runtime events older than max_lag are dead-lettered, and a replay delivers them;
//   - router verify finds every store holding exactly what was delivered.
func TestStoreOutageUnderLoad(t *testing.T) {
	e := startLiveEnv(t)
	st := startStores(t)
	mustCall(t, http.MethodPost, e.regURL+"/subjects/orders/versions", map[string]any{"schema": ordersSchema}, http.StatusOK)
	mustCall(t, http.MethodPut, e.regURL+"/contracts/orders", contractBody(storeRouteNames, []string{"lake"}, []string{"lake"}), http.StatusOK)
	routes := strings.NewReplacer(
		`target: "tl_{contract}", batch: {max_wait: 20ms}}`, `target: "tl_{contract}", batch: {max_wait: 20ms}, backlog: {max_events: 400}, retry: {initial_backoff: 50ms, max_backoff: 200ms}}`,
		`target: "ev-{contract}", max_lag: 1m,`, `target: "ev-{contract}", max_lag: 1500ms, retry: {initial_backoff: 50ms, max_backoff: 200ms},`,
	).Replace(storeRoutes)
	e.startRouterWith(t, st.sinksYAML(t)+routes)

	// Two kinds of events: to the analytic store that goes down, and to everything else
	// (the runtime store that goes down among them).
	withTimeline := []string{"lake", "timeline"}
	withoutTimeline := []string{"lake", "hdfs", "profiles", "search"}
	type kindStats struct {
		mu          sync.Mutex
		acked       map[string]bool
		refused     map[string]int // reason → count
		latencies   []time.Duration
		whole503    int
		wrongStatus []string
	}
	stats := map[string]*kindStats{"with": {acked: map[string]bool{}, refused: map[string]int{}}, "without": {acked: map[string]bool{}, refused: map[string]int{}}}
	var phase atomic.Value
	phase.Store("healthy")
	var n atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for kind, routes := range map[string][]string{"with": withTimeline, "without": withoutTimeline} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stats[kind]
			pace := time.NewTicker(25 * time.Millisecond) // 800 events/s of each kind
			defer pace.Stop()
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				case <-pace.C:
				}
				batch := make([]map[string]any, 20)
				ids := make([]string, len(batch))
				for i := range batch {
					k := n.Add(1)
					ids[i] = fmt.Sprintf("%s-%d-%d", kind, b, i)
					batch[i] = map[string]any{"contract": "orders", "id": ids[i], "routes": routes,
						"data": map[string]any{"user_id": fmt.Sprintf("u%d", k%11), "n": k, "ts": 1795300000000 + k}}
				}
				status, a, took, err := postBatch(e.routerURL, batch)
				if err != nil {
					t.Errorf("%s: %v", kind, err)
					return
				}
				s.mu.Lock()
				p := phase.Load().(string)
				if p == "outage" {
					s.latencies = append(s.latencies, took)
				}
				for i, ev := range a.Events {
					if ev.Status == "accepted" {
						s.acked[ids[i]] = true
					} else {
						s.refused[ev.Reason]++
					}
				}
				switch {
				case status == http.StatusServiceUnavailable && a.Accepted == 0:
					s.whole503++
				case status != http.StatusOK && status != http.StatusMultiStatus && status != http.StatusServiceUnavailable:
					s.wrongStatus = append(s.wrongStatus, fmt.Sprintf("HTTP %d in phase %s", status, p))
				}
				s.mu.Unlock()
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopLoad)

	delivered := func(route string) int64 {
		var l ledgerAnswer
		if err := json.Unmarshal(mustCall(t, http.MethodGet, e.routerURL+"/v1/ledger", nil, http.StatusOK), &l); err != nil {
			t.Fatal(err)
		}
		var d int64
		for _, r := range l.Ledger {
			if r.Route == route {
				d += r.Delivered
			}
		}
		return d
	}
	deadLetters := func(route string) int {
		var dl struct {
			DeadLetters []struct {
				ID     string `json:"id"`
				Reason string `json:"reason"`
			} `json:"dead_letters"`
		}
		if err := json.Unmarshal(mustCall(t, http.MethodGet, e.routerURL+"/v1/deadletters?route="+route, nil, http.StatusOK), &dl); err != nil {
			t.Fatal(err)
		}
		for _, d := range dl.DeadLetters {
			if !strings.Contains(d.Reason, "max_lag") {
				t.Fatalf("dead letter %s: reason %q, want max_lag", d.ID, d.Reason)
			}
		}
		return len(dl.DeadLetters)
	}
	waitFor := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		if !testproc.Poll(within, 50*time.Millisecond, nil, cond) {
			t.Fatalf("%s: not within %v", what, within)
		}
	}

	waitFor("healthy delivery to the lake", 20*time.Second, func() bool { return delivered("lake") > 500 })
	phase.Store("outage")
	st.control(t, "cassandra", "down")
	st.control(t, "elasticsearch", "down")
	lakeAtDown := delivered("lake")
	waitFor("backpressure on the timeline route", 20*time.Second, func() bool {
		s := stats["with"]
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.refused["backpressure"] > 0
	})
	waitFor("search events past max_lag dead-lettered", 20*time.Second, func() bool { return deadLetters("search") > 0 })
	waitFor("the lake delivering during the outage", 20*time.Second, func() bool { return delivered("lake") > lakeAtDown+1000 })
	phase.Store("recovery")
	st.control(t, "cassandra", "up")
	st.control(t, "elasticsearch", "up")
	waitFor("timeline delivering again", 30*time.Second, func() bool {
		s := stats["with"]
		s.mu.Lock()
		defer s.mu.Unlock()
		return delivered("timeline") >= int64(len(s.acked))-500
	})
	stopLoad()

	e.waitDrained(t, 60*time.Second)
	dead := deadLetters("search")
	mustCall(t, http.MethodPost, e.routerURL+"/v1/deadletters/replay?route=search", nil, http.StatusOK)
	e.waitDrained(t, 60*time.Second)
	if n := deadLetters("search"); n != 0 {
		t.Fatalf("%d dead letters left after the replay", n)
	}

	with, without := stats["with"], stats["without"]
	for kind, s := range stats {
		if len(s.wrongStatus) > 0 {
			t.Errorf("%s: unexpected answers: %v", kind, s.wrongStatus[:min(5, len(s.wrongStatus))])
		}
	}
	if len(without.refused) > 0 {
		t.Errorf("events not routed to the saturated route were refused: %v", without.refused)
	}
	if with.refused["backpressure"] == 0 || len(with.refused) != 1 {
		t.Errorf("events to the saturated route: refusals %v, want backpressure only", with.refused)
	}
	slices.Sort(without.latencies)
	if len(without.latencies) > 0 {
		t.Logf("during the outage: ack latency of requests without the dead analytic store p50 %v, max %v over %d requests; %d whole requests answered 503 for the saturated route",
			without.latencies[len(without.latencies)/2], without.latencies[len(without.latencies)-1], len(without.latencies), with.whole503)
	}
	t.Logf("acknowledged %d events with timeline, %d without; %d search events dead-lettered after max_lag and replayed", len(with.acked), len(without.acked), dead)

	// Nothing acknowledged lost, nothing stored twice, on every append route.
	expect := map[string]map[string]bool{"lake": {}, "timeline": with.acked, "hdfs": without.acked, "search": without.acked}
	for id := range with.acked {
		expect["lake"][id] = true
	}
	for id := range without.acked {
		expect["lake"][id] = true
	}
	for _, route := range appendRoutes {
		counts := map[string]int{}
		for _, ev := range st.stored(t, route, "orders") {
			counts[ev.ID]++
		}
		var missing, dups []string
		for id := range expect[route] {
			if counts[id] == 0 {
				missing = append(missing, id)
			}
		}
		for id, c := range counts {
			if c > 1 {
				dups = append(dups, id)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 || len(dups) > 0 {
			t.Errorf("%s: %d acknowledged events missing (e.g. %v), %d stored twice (e.g. %v)", route, len(missing), head(missing, 5), len(dups), head(dups, 5))
		}
	}
	out, err := exec.Command(routerBin, "verify", "--config", e.routerConfig, "--wait", "60s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify: every store holds exactly what was delivered") {
		t.Fatalf("router verify: %v\n%s", err, out)
	}
}
