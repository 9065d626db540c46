package mongo

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPymongoFidelity drives the embedded FerretDB, through the proxy, with Debian's
// python3-pymongo — an independent client — including the proxy's injected write
// errors, which must surface as pymongo's BulkWriteError with their codes.
func TestPymongoFidelity(t *testing.T) {
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import pymongo").CombinedOutput(); err != nil {
		msg := "Debian's python3-pymongo is not installed for " + python + " (`make deps` installs it): " + strings.TrimSpace(string(out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := Start(t)
	s.Proxy().FailNext([]string{"poison"}, PermanentFailure)
	s.Proxy().FailNext([]string{"flaky"}, RetryableFailure)
	out, err := exec.Command(python, "../../clients/python/mongo_fidelity.py", s.URI(), "fidelity", "poison", "flaky").CombinedOutput()
	if err != nil {
		t.Fatalf("mongo_fidelity.py: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasSuffix(got, "ok") {
		t.Fatalf("mongo_fidelity.py printed %q, want ok", got)
	}
	if left := s.Proxy().Pending(); len(left) > 0 {
		t.Fatalf("armed failures never hit: %v", left)
	}
}
