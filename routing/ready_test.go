package routing

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// fakeFreshness stands in for the contract cache's staleness.
type fakeFreshness struct {
	mu       sync.Mutex
	revision int64
	stale    bool
	since    time.Duration
}

func (f *fakeFreshness) set(revision int64, stale bool, since time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revision, f.stale, f.since = revision, stale, since
}

func (f *fakeFreshness) Stale() (bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stale, f.since
}

func (f *fakeFreshness) Revision() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.revision
}

func getReady(t *testing.T, h *harness) (int, readyState) {
	t.Helper()
	resp, err := http.Get(h.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readyState
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, r
}

func TestReadyzReflectsContractCacheWALAndShutdown(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ContractsMaxStaleness = Duration(10 * time.Second) })
	fresh := &fakeFreshness{}
	h.rt.freshness = fresh
	tests := []struct {
		name     string
		revision int64
		stale    bool
		since    time.Duration
		status   int
		reason   string
	}{
		{"never loaded", 0, true, time.Minute, http.StatusServiceUnavailable, "never loaded"},
		{"current", 42, false, 0, http.StatusOK, ""},
		{"stale within the bound", 42, true, 9 * time.Second, http.StatusOK, ""},
		{"stale past the bound", 42, true, 11 * time.Second, http.StatusServiceUnavailable, "contracts_max_staleness 10s"},
		{"current again", 43, false, 0, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fresh.set(tt.revision, tt.stale, tt.since)
			status, r := getReady(t, h)
			if status != tt.status {
				t.Fatalf("status %d, want %d (%+v)", status, tt.status, r)
			}
			if got := strings.Join(r.Reasons, "; "); !strings.Contains(got, tt.reason) || (tt.reason == "") != (got == "") {
				t.Fatalf("reasons %q, want one containing %q", got, tt.reason)
			}
			if r.Contracts == nil || r.Contracts.Revision != tt.revision || r.Contracts.Stale != tt.stale {
				t.Fatalf("contracts state %+v", r.Contracts)
			}
		})
	}
	// Readiness is a signal only: a stale cache does not stop intake.
	fresh.set(42, true, time.Hour)
	if status, _, _ := h.post(t, order("while-stale", "u")); status != http.StatusOK {
		t.Fatalf("intake answered %d while the contract cache was stale", status)
	}
	fresh.set(42, false, 0)
	h.rt.walFull.Store(true)
	if status, r := getReady(t, h); status != http.StatusServiceUnavailable || !strings.Contains(strings.Join(r.Reasons, ";"), "disk budget") {
		t.Fatalf("WAL full: status %d %+v", status, r)
	}
	h.rt.walFull.Store(false)
	h.rt.BeginShutdown()
	if status, r := getReady(t, h); status != http.StatusServiceUnavailable || !strings.Contains(strings.Join(r.Reasons, ";"), "shutting down") {
		t.Fatalf("shutting down: status %d %+v", status, r)
	}
}

func TestContractsMaxStalenessIsValidated(t *testing.T) {
	for _, tt := range []struct {
		yaml    string
		wantErr bool
	}{
		{"", false},
		{"contracts_max_staleness: 45s\n", false},
		{"contracts_max_staleness: 500ms\n", true},
		{"contracts_max_staleness: -5s\n", true},
	} {
		cfg, err := ParseConfig([]byte(tt.yaml + `state_dir: /tmp/x
etcd_endpoints: [127.0.0.1:2379]
sinks: {s: {kind: fake}}
routes: {r: {sink: s, class: analytic, target: "{contract}"}}
`))
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate(map[string]SinkKind{"fake": {Validate: func(string, *yaml.Node) []error { return nil }}})
		if (err != nil) != tt.wantErr || (err != nil && !strings.Contains(err.Error(), "contracts_max_staleness")) {
			t.Errorf("%q: error %v, want error %v", tt.yaml, err, tt.wantErr)
		}
		if tt.yaml == "" && cfg.ContractsMaxStaleness.D() != DefaultMaxStaleness {
			t.Errorf("default contracts_max_staleness = %s", cfg.ContractsMaxStaleness.D())
		}
	}
}
