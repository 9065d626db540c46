package cql

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/datastax/go-cassandra-native-protocol/primitive"
)

// TestPythonDriverFidelity drives the server with Debian's python3-cassandra (the
// DataStax Python driver), a client written independently of this server and of
// Waybill's adapter: connect and schema metadata, CREATE KEYSPACE/TYPE/TABLE, prepared
// INSERTs with USING TIMESTAMP, an unlogged batch, SELECT with WRITETIME and paging,
// last-write-wins, and injected Unavailable, WriteTimeout and Invalid answers, which
// must surface as the driver's Unavailable, WriteTimeout and InvalidRequest.
func TestPythonDriverFidelity(t *testing.T) {
	const python = "/usr/bin/python3" // Debian's, where python3-cassandra is installed
	if out, err := exec.Command(python, "-c", "import cassandra.cluster").CombinedOutput(); err != nil {
		msg := "Debian's python3-cassandra is not installed for " + python + " (scripts/install-test-deps.sh installs it): " + strings.TrimSpace(string(out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.FailMatching("fidelity-unavailable", Unavailable)
	s.FailMatching("fidelity-timeout", WriteTimeout)
	s.FailMatching("fidelity-invalid", Invalid)
	out, err := exec.Command(python, "testdata/cql_fidelity.py", s.Host(), strconv.Itoa(s.Port()), "fidelity",
		"fidelity-unavailable", "fidelity-timeout", "fidelity-invalid").CombinedOutput()
	if err != nil {
		t.Fatalf("cql_fidelity.py: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasSuffix(got, "ok") {
		t.Fatalf("cql_fidelity.py printed %q, want ok", got)
	}
	if left := s.PendingMatches(); len(left) > 0 {
		t.Fatalf("armed faults never hit: %v", left)
	}
	// What the driver sent, as the server recorded it: prepared EXECUTEs and an
	// unlogged BATCH of prepared statements, at the consistency the script asked for.
	var executes, batches int
	for _, r := range s.Requests() {
		switch {
		case r.System:
		case r.Op == "EXECUTE":
			executes++
			if r.Consistency != primitive.ConsistencyLevelLocalQuorum {
				t.Errorf("EXECUTE %q at %v, want LOCAL_QUORUM", r.Query, r.Consistency)
			}
		case r.Op == "BATCH":
			batches++
			if !r.Prepared || r.BatchType != primitive.BatchTypeUnlogged {
				t.Errorf("BATCH %+v, want an unlogged batch of prepared statements", r)
			}
		}
	}
	if executes < 5 || batches != 3 {
		t.Errorf("%d EXECUTEs and %d BATCHes recorded, want at least 5 and 3", executes, batches)
	}
}
