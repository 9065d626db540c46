package registry

// SIGTERM shuts the registry down promptly with exit code 0, and a restart on the same
// --data-dir (embedded etcd) serves what was registered before, under the same ids.

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

func TestShutdownAndRestartKeepsSchemas(t *testing.T) {
	t.Parallel()
	opts := registryOpts{DataDir: t.TempDir(), Listen: testproc.FreeAddr(t), EtcdListen: testproc.FreeAddr(t)}
	first := startRegistry(t, "registry (first run)", opts)

	type reg struct {
		subject, schema string
		registered
	}
	regs := []reg{
		{subject: "shutdown-orders-value", schema: orderV1},
		{subject: "shutdown-orders-value", schema: orderV2},
		{subject: "shutdown-other-value", schema: recordSchema("Other", `{"name":"x","type":"int"}`)},
		{subject: "shutdown-copy-value", schema: orderV1}, // same schema, another subject: same id
	}
	for i := range regs {
		regs[i].registered = register(t, first.URL, regs[i].subject, regs[i].schema)
	}
	if regs[3].ID != regs[0].ID {
		t.Fatalf("the same schema in two subjects got ids %d and %d", regs[0].ID, regs[3].ID)
	}

	start := time.Now()
	if code := first.Stop(t, 15*time.Second); code != 0 {
		t.Fatalf("registry exited with code %d after SIGTERM (%v), want 0", code, first.WaitErr())
	}
	t.Logf("registry exited 0 %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if out := first.Out.String(); !strings.Contains(out, `"msg":"stopped"`) {
		t.Fatalf("registry exited without logging its graceful stop")
	}

	second := startRegistry(t, "registry (restarted)", opts)
	maxID := 0
	for _, r := range regs {
		var byID struct {
			Schema string `json:"schema"`
		}
		mustCall(t, http.MethodGet, second.URL+"/schemas/ids/"+strconv.Itoa(r.ID), nil, http.StatusOK, &byID)
		sameSchema(t, "schema "+strconv.Itoa(r.ID)+" after restart", byID.Schema, r.schema)

		var sv subjectVersion
		mustCall(t, http.MethodGet, second.URL+"/subjects/"+r.subject+"/versions/"+strconv.Itoa(r.Version), nil, http.StatusOK, &sv)
		if sv.ID != r.ID {
			t.Fatalf("after restart %s version %d has id %d, want %d", r.subject, r.Version, sv.ID, r.ID)
		}
		if again := register(t, second.URL, r.subject, r.schema); again != r.registered {
			t.Fatalf("re-registering in %s after restart gave %+v, want %+v", r.subject, again, r.registered)
		}
		maxID = max(maxID, r.ID)
	}
	var versions []int
	mustCall(t, http.MethodGet, second.URL+"/subjects/shutdown-orders-value/versions", nil, http.StatusOK, &versions)
	if !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("versions after restart: %v, want [1 2]", versions)
	}
	var subjects []string
	mustCall(t, http.MethodGet, second.URL+"/subjects", nil, http.StatusOK, &subjects)
	if !slices.Equal(subjects, []string{"shutdown-copy-value", "shutdown-orders-value", "shutdown-other-value"}) {
		t.Fatalf("subjects after restart: %v", subjects)
	}
	// Ids are never reused across a restart.
	fresh := register(t, second.URL, "shutdown-new-value", recordSchema("New", `{"name":"y","type":"string"}`))
	if fresh.ID <= maxID {
		t.Fatalf("a new schema after restart got id %d, not above the earlier ids (max %d)", fresh.ID, maxID)
	}

	if code := second.Stop(t, 15*time.Second); code != 0 {
		t.Fatalf("restarted registry exited with code %d after SIGTERM (%v), want 0", code, second.WaitErr())
	}
}
