package webhdfs

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

// TestNodeClientFidelity drives the server with the npm webhdfs client, written
// independently of this server and of Waybill's adapter (integration/clients/node/
// webhdfs_fidelity.js), then checks from Go what the script left behind and how it
// got there: the two-step CREATE and OPEN, and the user it acted as.
func TestNodeClientFidelity(t *testing.T) {
	root, err := testproc.FindModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "integration", "clients", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "webhdfs", "package.json")); err != nil {
		t.Fatalf("the npm webhdfs client is not installed (%v): run make deps (scripts/install-test-deps.sh runs npm ci in %s)", err, dir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		msg := "node is not on PATH (" + err.Error() + "): install Node.js, then run make deps"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	srv, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "webhdfs_fidelity.js", srv.URL(), "fidelity", "/fidelity")
	cmd.Dir = dir
	cmd.SysProcAttr = testproc.ChildProcAttr()
	var stdout, stderr testproc.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node webhdfs_fidelity.js failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var res struct {
		Checks      int    `json:"checks"`
		ReadMissing string `json:"readMissing"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("webhdfs_fidelity.js did not end with a JSON line: %v\n%s", err, stdout.String())
	}
	t.Logf("webhdfs_fidelity.js: %s", lines[len(lines)-1])
	if res.Checks < 14 || res.ReadMissing == "" {
		t.Fatalf("webhdfs_fidelity.js reported %+v", res)
	}

	// What the script left behind.
	if got := srv.List("/fidelity"); strings.Join(got, ",") != "dir,kept" {
		t.Errorf("/fidelity holds %q, want dir and kept", got)
	}
	if got := srv.List("/fidelity/dir"); strings.Join(got, ",") != "b.bin" {
		t.Errorf("/fidelity/dir holds %q, want b.bin", got)
	}
	if data, ok := srv.ReadFile("/fidelity/kept/k.txt"); !ok || string(data) != "kept" {
		t.Errorf("kept/k.txt = %q, %v", data, ok)
	}
	if data, ok := srv.ReadFile("/fidelity/dir/b.bin"); !ok || len(data) != 300*1024 {
		t.Errorf("b.bin holds %d bytes, want %d", len(data), 300*1024)
	}

	// How: every write went NameNode (307) then DataNode (201 for CREATE, 200 for
	// APPEND) with the data, every request as user "fidelity".
	var creates, appends, opens int
	reqs := srv.Requests()
	for i, r := range reqs {
		if r.User != "fidelity" {
			t.Errorf("request %d (%s %s %s) has user.name %q", i, r.Method, r.Op, r.Path, r.User)
		}
		if r.Role != "namenode" || r.Status != 307 {
			continue
		}
		if i+1 >= len(reqs) || reqs[i+1].Role != "datanode" || reqs[i+1].Op != r.Op || reqs[i+1].Path != r.Path {
			t.Errorf("the redirect of %s %s is not followed by the DataNode request", r.Op, r.Path)
			continue
		}
		dn := reqs[i+1]
		switch r.Op {
		case "CREATE":
			creates++
			if r.BodyBytes != 0 || (dn.Status != 201 && dn.Status != 403) || dn.Query.Get("namenoderpcaddress") == "" {
				t.Errorf("CREATE %s: NameNode got %d body bytes, DataNode answered %d", r.Path, r.BodyBytes, dn.Status)
			}
		case "APPEND":
			appends++
			if dn.Status != 200 || dn.BodyBytes != len("world") {
				t.Errorf("APPEND %s: DataNode answered %d after %d bytes", r.Path, dn.Status, dn.BodyBytes)
			}
		case "OPEN":
			opens++
		}
	}
	if creates < 4 || appends != 1 || opens < 2 {
		t.Errorf("saw %d two-step CREATEs, %d APPENDs, %d OPENs; want at least 4, 1, 2", creates, appends, opens)
	}
}
