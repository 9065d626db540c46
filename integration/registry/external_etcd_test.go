package registry

// The registry on Debian's etcd-server (a separate etcd 3.4 process) through
// --etcd-endpoints: normal operation, an etcd outage (5xx with 50001, the registry
// stays up), and recovery once etcd is back on the same data dir and ports.

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

func TestExternalDebianEtcd(t *testing.T) {
	testproc.RequireDebianEtcd(t)
	t.Parallel()
	dataDir := t.TempDir()
	clientAddr, peerAddr := testproc.FreeAddr(t), testproc.FreeAddr(t)
	etcd := testproc.StartDebianEtcd(t, "etcd (first run)", dataDir, clientAddr, peerAddr)

	reg := startRegistry(t, "registry", registryOpts{
		EtcdEndpoints: []string{clientAddr},
		EtcdPrefix:    "/itest-external/",
		StoreTimeout:  time.Second,
	})

	// Register, re-register, lookup, latest.
	const subject = "external-orders-value"
	r1 := register(t, reg.URL, subject, orderV1)
	if again := register(t, reg.URL, subject, orderV1Spaced); again != r1 {
		t.Fatalf("re-registering v1 gave %+v, want %+v", again, r1)
	}
	r2 := register(t, reg.URL, subject, orderV2)
	if r2.ID == r1.ID || r2.Version != 2 {
		t.Fatalf("v2 registered as %+v (v1 is %+v)", r2, r1)
	}
	var found subjectVersion
	mustCall(t, http.MethodPost, reg.URL+"/subjects/"+subject, schemaBody(orderV1), http.StatusOK, &found)
	if found.ID != r1.ID || found.Version != 1 || found.Subject != subject {
		t.Fatalf("lookup of v1: %+v, want id %d version 1", found, r1.ID)
	}
	var latest subjectVersion
	mustCall(t, http.MethodGet, reg.URL+"/subjects/"+subject+"/versions/latest", nil, http.StatusOK, &latest)
	if latest.ID != r2.ID || latest.Version != 2 {
		t.Fatalf("latest: %+v, want id %d version 2", latest, r2.ID)
	}
	sameSchema(t, "latest", latest.Schema, orderV2)

	// Delete: version 2 soft then permanently, so latest is v1 again; a second subject
	// soft then permanently.
	var n int
	mustCall(t, http.MethodDelete, reg.URL+"/subjects/"+subject+"/versions/2", nil, http.StatusOK, &n)
	mustCall(t, http.MethodDelete, reg.URL+"/subjects/"+subject+"/versions/2?permanent=true", nil, http.StatusOK, &n)
	mustCall(t, http.MethodGet, reg.URL+"/subjects/"+subject+"/versions/latest", nil, http.StatusOK, &latest)
	if latest.ID != r1.ID || latest.Version != 1 {
		t.Fatalf("latest after deleting version 2: %+v, want id %d version 1", latest, r1.ID)
	}
	const other = "external-scratch-value"
	register(t, reg.URL, other, recordSchema("Scratch", `{"name":"x","type":"int"}`))
	var versions []int
	mustCall(t, http.MethodDelete, reg.URL+"/subjects/"+other, nil, http.StatusOK, &versions)
	mustCall(t, http.MethodDelete, reg.URL+"/subjects/"+other+"?permanent=true", nil, http.StatusOK, &versions)
	if !slices.Equal(versions, []int{1}) {
		t.Fatalf("permanent delete of %s answered %v", other, versions)
	}
	mustError(t, http.MethodGet, reg.URL+"/subjects/"+other+"/versions", nil, http.StatusNotFound, 40401)

	// etcd goes away.
	// etcd re-raises SIGTERM after its cleanup, so it dies "by signal": no exit code to check.
	etcd.Stop(t, 20*time.Second)
	// BACKWARD compatible with v1, the subject's only version now.
	duringOutage := recordSchema("Order",
		`{"name":"id","type":"long"}`,
		`{"name":"amount","type":"double"}`,
		`{"name":"note","type":"string","default":""}`)
	start := time.Now()
	r := mustStoreError(t, http.MethodPost, reg.URL+"/subjects/"+subject+"/versions", schemaBody(duringOutage))
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("register during the etcd outage took %v to fail (store timeout 1s)", took)
	}
	t.Logf("register during the outage: %s", r)
	// Reads fail the same way, never as a misleading 404.
	mustStoreError(t, http.MethodGet, reg.URL+"/subjects/"+subject+"/versions/latest", nil)
	// An id the registry never read cannot be proven absent: 50001, not 40403.
	mustStoreError(t, http.MethodGet, reg.URL+"/schemas/ids/999", nil)
	// Schema records are immutable, so one the registry has already read (v1, read for
	// v2's compatibility check) may be answered from memory; if not, it is a 50001 too.
	if r, err := call(t.Context(), http.MethodGet, reg.URL+"/schemas/ids/"+strconv.Itoa(r1.ID), nil); err != nil {
		t.Fatalf("GET /schemas/ids/%d during the etcd outage: %v", r1.ID, err)
	} else if r.Status == http.StatusOK {
		var byID struct {
			Schema string `json:"schema"`
		}
		if err := jsonInto(r.Body, &byID); err != nil {
			t.Fatal(err)
		}
		sameSchema(t, "schema by id during the outage", byID.Schema, orderV1)
	} else if r.Status < 500 || r.errorCode() != 50001 {
		t.Fatalf("GET /schemas/ids/%d during the etcd outage: %s, want 200 from memory or a 5xx with 50001", r1.ID, r)
	}
	if reg.Exited() {
		t.Fatalf("the registry exited during the etcd outage: %v", reg.WaitErr())
	}
	mustCall(t, http.MethodGet, reg.URL+"/healthz", nil, http.StatusOK, nil)

	// etcd comes back on the same data dir and ports.
	testproc.StartDebianEtcd(t, "etcd (restarted)", dataDir, clientAddr, peerAddr)
	restarted := time.Now()
	var last reply
	if !testproc.Poll(30*time.Second, 100*time.Millisecond, reg.Done(), func() bool {
		last, _ = call(t.Context(), http.MethodGet, reg.URL+"/subjects/"+subject+"/versions/latest", nil)
		return last.Status == http.StatusOK
	}) {
		t.Fatalf("registry did not serve reads within 30s of etcd's restart: last %s", last)
	}
	t.Logf("registry served reads again %v after etcd was healthy", time.Since(restarted).Round(time.Millisecond))
	mustCall(t, http.MethodGet, reg.URL+"/subjects/"+subject+"/versions/latest", nil, http.StatusOK, &latest)
	if latest.ID != r1.ID || latest.Version != 1 {
		t.Fatalf("latest after etcd's restart: %+v, want id %d version 1", latest, r1.ID)
	}
	var byID struct {
		Schema string `json:"schema"`
	}
	mustCall(t, http.MethodGet, reg.URL+"/schemas/ids/"+strconv.Itoa(r2.ID), nil, http.StatusOK, &byID)
	sameSchema(t, "schema by id after etcd's restart", byID.Schema, orderV2)
	r3 := register(t, reg.URL, subject, duringOutage)
	if r3.ID == r1.ID || r3.ID == r2.ID || r3.Version != 2 {
		t.Fatalf("register after etcd's restart: %+v (earlier ids %d, %d; want version 2)", r3, r1.ID, r2.ID)
	}
	if again := register(t, reg.URL, subject, duringOutage); again != r3 {
		t.Fatalf("re-register after etcd's restart: %+v, want %+v", again, r3)
	}
}

// mustStoreError expects a 5xx answer with Confluent code 50001 (store error).
func mustStoreError(t *testing.T, method, url string, body any) reply {
	t.Helper()
	r, err := call(t.Context(), method, url, body)
	if err != nil {
		t.Fatalf("%s %s during the etcd outage: %v", method, url, err)
	}
	if r.Status < 500 || r.Status > 599 || r.errorCode() != 50001 {
		t.Fatalf("%s %s during the etcd outage: %s, want a 5xx with error_code 50001", method, url, r)
	}
	return r
}
