package testproc

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"
)

// DebianEtcd is the etcd of Debian's etcd-server package (etcd 3.4), run as a
// separate process by the tests that need an external etcd.
const DebianEtcd = "/usr/bin/etcd"

// RequireDebianEtcd skips the test when Debian's etcd is not installed, or fails it
// under CI, where `make deps` must have installed it.
func RequireDebianEtcd(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(DebianEtcd); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (%v): CI must run make deps, which installs Debian's etcd-server", DebianEtcd, err)
		}
		t.Skipf("%s is missing (%v): run make deps (installs Debian's etcd-server) to run this test", DebianEtcd, err)
	}
}

// StartDebianEtcd runs a single-member etcd on dataDir and the given addresses and
// waits until GET /health says it is healthy. Start it again with the same arguments
// after killing it to restart it on its data.
func StartDebianEtcd(t testing.TB, name, dataDir, clientAddr, peerAddr string) *Proc {
	t.Helper()
	client, peer := "http://"+clientAddr, "http://"+peerAddr
	p := Start(t, name, nil, DebianEtcd,
		"--name", "default",
		"--data-dir", dataDir,
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default="+peer,
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-level", "warn",
	)
	WaitReady(t, p, client+"/health", 30*time.Second, func(status int, body []byte) bool {
		var h struct {
			Health string `json:"health"`
		}
		return status == http.StatusOK && json.Unmarshal(body, &h) == nil && h.Health == "true"
	})
	return p
}
