package elastic

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestPythonClientFidelity drives the server with Debian's python3-elasticsearch, a
// client written independently of this server and of Waybill's adapter: index,
// versions, bulk with per-item failures, refresh, search, count, get.
func TestPythonClientFidelity(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import elasticsearch").Run(); err != nil {
		msg := "Debian's python3-elasticsearch is not installed for " + python + " (`make deps` installs it): " + err.Error()
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	srv, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	script, err := filepath.Abs("../../clients/python/es_fidelity.py")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, script, srv.URL()).CombinedOutput()
	if err != nil {
		t.Fatalf("%s failed: %v\n%s", script, err, out)
	}
	t.Logf("%s", out)
}
