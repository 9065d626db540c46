package router_test

// Harness of the router integration tests: it builds cmd/registry and cmd/router once,
// runs them as real subprocesses on free ports, waits on conditions with deadlines,
// kills every subprocess in t.Cleanup and copies their output into the test log when a
// test fails, all through integration/internal/testproc.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

var (
	moduleRoot  string
	registryBin string
	routerBin   string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	root, err := testproc.FindModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	moduleRoot = root
	tmp, err := os.MkdirTemp("", "waybill-router-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := testproc.BuildBinaries(moduleRoot, tmp, "./cmd/registry", "./cmd/router"); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	registryBin = filepath.Join(tmp, "registry")
	routerBin = filepath.Join(tmp, "router")
	return m.Run()
}

// mustCall is testproc.Call that fails the test on a transport error or an unexpected status.
func mustCall(t testing.TB, method, url string, body any, wantStatus int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, b, err := testproc.Call(ctx, method, url, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if status != wantStatus {
		t.Fatalf("%s %s: got HTTP %d %s, want %d", method, url, status, bytes.TrimSpace(b), wantStatus)
	}
	return b
}
