package registry

// Two registry processes on one etcd: A runs the embedded etcd, B uses it through
// --etcd-endpoints. Concurrent registrations through both must agree on ids and keep
// every subject's versions dense.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// regJob is one schema to register in one subject through one or both registries.
type regJob struct {
	key     string // identifies the distinct schema
	subject string
	schema  string
	targets []int // indexes into the registries; two means both at the same moment
}

func TestTwoRegistriesOneEtcdConcurrentRegistration(t *testing.T) {
	t.Parallel()
	// This test is about ids and versions under races, not latency: a generous store
	// timeout keeps a loaded CI machine (every registration is two transactions plus its
	// audit records, retried on conflict) from turning slowness into 500s.
	a := startRegistry(t, "registry A (embedded etcd)", registryOpts{StoreTimeout: 30 * time.Second})
	b := startRegistry(t, "registry B (etcd of A)", registryOpts{EtcdEndpoints: []string{a.EtcdAddr}, StoreTimeout: 30 * time.Second})
	regs := []*registryProc{a, b}
	names := []string{"A", "B"}

	mustCall(t, http.MethodPut, a.URL+"/config", map[string]string{"compatibility": "NONE"}, http.StatusOK, nil)
	// B sees A's write: they share the store.
	var cfg struct {
		CompatibilityLevel string `json:"compatibilityLevel"`
	}
	mustCall(t, http.MethodGet, b.URL+"/config", nil, http.StatusOK, &cfg)
	if cfg.CompatibilityLevel != "NONE" {
		t.Fatalf("B's global level is %q after A set NONE", cfg.CompatibilityLevel)
	}

	const n = 100
	const shared = "concurrent-shared-value"
	const mirror = "concurrent-mirror-value"
	sharedSchema := func(i int) string { return recordSchema("Shared", fmt.Sprintf(`{"name":"f%d","type":"long"}`, i)) }

	// Phase 1: 100 new schemas into one subject and 100 new schemas into 100 subjects,
	// interleaved, alternating A and B, every 7th sent to both at once. Every version
	// here also allocates an id.
	var phase1 []regJob
	for i := range n {
		phase1 = append(phase1,
			regJob{key: "shared/" + strconv.Itoa(i), subject: shared, schema: sharedSchema(i)},
			regJob{key: "own/" + strconv.Itoa(i), subject: "concurrent-own-" + strconv.Itoa(i),
				schema: recordSchema("Own"+strconv.Itoa(i), `{"name":"id","type":"string"}`)})
	}
	// Phase 2: the same 100 shared schemas into a second subject, in another order.
	// Their ids exist already, so only the subject's own guard keeps versions unique.
	var phase2 []regJob
	for i := range n {
		j := (i*37 + 11) % n
		phase2 = append(phase2, regJob{key: "shared/" + strconv.Itoa(j), subject: mirror, schema: sharedSchema(j)})
	}
	for _, jobs := range [][]regJob{phase1, phase2} {
		for i := range jobs {
			if i%7 == 0 {
				jobs[i].targets = []int{0, 1}
			} else {
				jobs[i].targets = []int{i % 2}
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	idOfKey := map[string]int{} // distinct schema -> id, across both phases
	keyOfID := map[int]string{}
	for phase, jobs := range [][]regJob{phase1, phase2} {
		got := registerConcurrently(ctx, t, regs, names, jobs)
		if t.Failed() {
			t.FailNow()
		}
		for i, j := range jobs {
			id := got[i].ID
			if prev, seen := idOfKey[j.key]; seen && prev != id {
				t.Errorf("phase %d: %s registered in %s got id %d, but %d elsewhere", phase+1, j.key, j.subject, id, prev)
			}
			if other, seen := keyOfID[id]; seen && other != j.key {
				t.Errorf("id %d was given to both %s and %s", id, other, j.key)
			}
			idOfKey[j.key], keyOfID[id] = id, j.key
		}
		checkVersions(ctx, t, regs, names, jobs, got)
	}
	if len(idOfKey) != 2*n || len(keyOfID) != 2*n {
		t.Fatalf("%d distinct schemas got %d distinct ids, want %d each", len(idOfKey), len(keyOfID), 2*n)
	}

	// The two big subjects have exactly 1..n on both registries.
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	for _, subject := range []string{shared, mirror} {
		for ri, reg := range regs {
			var versions []int
			mustCall(t, http.MethodGet, reg.URL+"/subjects/"+subject+"/versions", nil, http.StatusOK, &versions)
			if !slices.Equal(versions, want) {
				t.Fatalf("%s: versions of %s are %v, want 1..%d", names[ri], subject, versions, n)
			}
		}
	}
}

// registerConcurrently runs jobs from 24 goroutines; a job with two targets is sent
// to both registries at the same moment, and both answers must agree. It returns each
// job's registration; failures are reported with t.Errorf.
func registerConcurrently(ctx context.Context, t *testing.T, regs []*registryProc, names []string, jobs []regJob) []registered {
	t.Helper()
	type result struct {
		job  int
		reg  int
		resp registered
		err  error
	}
	work := make(chan int)
	results := make(chan result, 2*len(jobs))
	var wg sync.WaitGroup
	for range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ji := range work {
				j := jobs[ji]
				var inner sync.WaitGroup
				start := make(chan struct{})
				for _, ri := range j.targets {
					inner.Add(1)
					go func() {
						defer inner.Done()
						<-start
						r, err := call(ctx, http.MethodPost, regs[ri].URL+"/subjects/"+j.subject+"/versions", schemaBody(j.schema))
						res := result{job: ji, reg: ri, err: err}
						if err == nil && r.Status != http.StatusOK {
							res.err = fmt.Errorf("%s", r)
						}
						if res.err == nil {
							res.err = jsonInto(r.Body, &res.resp)
						}
						results <- res
					}()
				}
				close(start)
				inner.Wait()
			}
		}()
	}
	for i := range jobs {
		work <- i
	}
	close(work)
	wg.Wait()
	close(results)

	out := make([]registered, len(jobs))
	for r := range results {
		j := jobs[r.job]
		if r.err != nil {
			t.Errorf("registering %s in %s through %s: %v", j.key, j.subject, names[r.reg], r.err)
			continue
		}
		if prev := out[r.job]; prev.ID != 0 && prev != r.resp {
			t.Errorf("%s sent to A and B at once into %s: got %+v and %+v", j.key, j.subject, prev, r.resp)
		}
		out[r.job] = r.resp
	}
	return out
}

// checkVersions checks that no version of a subject went to two schemas, and that both
// registries answer every version, lookup and id as registration said, byte for byte
// the same for ids. Checked from 16 goroutines to keep the test short.
func checkVersions(ctx context.Context, t *testing.T, regs []*registryProc, names []string, jobs []regJob, got []registered) {
	t.Helper()
	holder := map[string]string{} // subject@version -> schema key
	for i, j := range jobs {
		sv := j.subject + "@" + strconv.Itoa(got[i].Version)
		if other, dup := holder[sv]; dup {
			t.Errorf("version %d of %s was given to both %s and %s", got[i].Version, j.subject, other, j.key)
		}
		holder[sv] = j.key
	}

	check := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		t.Errorf(format, args...)
	}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ji := range check {
				j := jobs[ji]
				id, version := got[ji].ID, got[ji].Version
				var byID [2]reply
				for ri, reg := range regs {
					r, err := call(ctx, http.MethodGet, reg.URL+"/subjects/"+j.subject+"/versions/"+strconv.Itoa(version), nil)
					var sv subjectVersion
					if err == nil && r.Status == http.StatusOK {
						err = jsonInto(r.Body, &sv)
					}
					if err != nil || r.Status != http.StatusOK || sv.ID != id || sv.Subject != j.subject {
						report("%s: version %d of %s is %s (%v), want id %d", names[ri], version, j.subject, r, err, id)
					}
					r, err = call(ctx, http.MethodPost, reg.URL+"/subjects/"+j.subject, schemaBody(j.schema))
					sv = subjectVersion{}
					if err == nil && r.Status == http.StatusOK {
						err = jsonInto(r.Body, &sv)
					}
					if err != nil || r.Status != http.StatusOK || sv.ID != id || sv.Version != version {
						report("%s: lookup of %s in %s gave %s (%v), want id %d version %d", names[ri], j.key, j.subject, r, err, id, version)
					}
					byID[ri], err = call(ctx, http.MethodGet, reg.URL+"/schemas/ids/"+strconv.Itoa(id), nil)
					if err != nil || byID[ri].Status != http.StatusOK {
						report("%s: GET /schemas/ids/%d: %s (%v)", names[ri], id, byID[ri], err)
					}
				}
				if !bytes.Equal(byID[0].Body, byID[1].Body) {
					report("GET /schemas/ids/%d differs: A %s, B %s", id, byID[0].Body, byID[1].Body)
				}
				var body struct {
					Schema string `json:"schema"`
				}
				if err := jsonInto(byID[0].Body, &body); err != nil {
					report("GET /schemas/ids/%d: %v", id, err)
					continue
				}
				gotFP, err1 := fingerprintOf(body.Schema)
				wantFP, err2 := fingerprintOf(j.schema)
				if err1 != nil || err2 != nil || gotFP != wantFP {
					report("GET /schemas/ids/%d is %s, want %s (%v, %v)", id, body.Schema, j.schema, err1, err2)
				}
			}
		}()
	}
	for ji := range jobs {
		check <- ji
	}
	close(check)
	wg.Wait()
}
