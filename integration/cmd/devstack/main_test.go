package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/waybill-data/waybill/integration/devstack"
	"github.com/waybill-data/waybill/integration/internal/testproc"
)

// TestDevstackBinary runs the command as `go run` users do: it writes stack.json, its
// control endpoint answers, and SIGTERM stops it with exit code 0 and no stack.json
// left behind.
func TestDevstackBinary(t *testing.T) {
	root, err := testproc.FindModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := testproc.BuildBinaries(root, bin, "./integration/cmd/devstack"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := testproc.Start(t, "devstack", nil, filepath.Join(bin, "devstack"), "--dir", dir)
	var addrs devstack.Addresses
	if !testproc.Poll(60*time.Second, 20*time.Millisecond, p.Done(), func() bool {
		addrs, err = devstack.ReadAddresses(dir)
		return err == nil
	}) {
		t.Fatalf("no stack.json: %v", err)
	}
	for name, a := range map[string]string{"mongodb": addrs.MongoDB, "cassandra": addrs.Cassandra, "elasticsearch": addrs.Elasticsearch, "webhdfs": addrs.WebHDFS, "control": addrs.Control} {
		if a == "" {
			t.Errorf("stack.json has no %s address: %+v", name, addrs)
		}
	}
	testproc.WaitReady(t, p, addrs.Control+"/status", 10*time.Second, func(status int, _ []byte) bool { return status == 200 })
	if code := p.Stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if _, err := os.Stat(filepath.Join(dir, devstack.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stack.json left behind: %v", err)
	}
}

func TestDevstackNeedsDir(t *testing.T) {
	if err := run(t.Context(), nil, os.Stdout, os.Stderr); err == nil {
		t.Fatal("devstack without --dir should fail")
	}
}
