package registry

// Conformance of the registry with three real Confluent Schema Registry clients — two Go
// libraries in-process and one Node.js library in a subprocess — each driving its own
// registry subprocess (embedded etcd) over HTTP.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rest"
	hamba "github.com/hamba/avro/v2/registry"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

// Schemas shared by the Go client tests: v2 is BACKWARD compatible with v1 (an added
// field with a default), incompatible is not (a new field without a default).
var (
	orderV1 = recordSchema("Order",
		`{"name":"id","type":"long"}`,
		`{"name":"amount","type":"double"}`)
	orderV1Spaced = `{ "type" : "record", "namespace" : "waybill.itest", "name" : "Order",
		"fields" : [ { "name" : "id", "type" : "long" }, { "name" : "amount", "type" : { "type" : "double" } } ] }`
	orderV2 = recordSchema("Order",
		`{"name":"id","type":"long"}`,
		`{"name":"amount","type":"double"}`,
		`{"name":"currency","type":"string","default":"EUR"}`)
	orderIncompatible = recordSchema("Order",
		`{"name":"id","type":"long"}`,
		`{"name":"amount","type":"double"}`,
		`{"name":"customer","type":"string"}`)
)

func TestHambaClientConformance(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, "registry", registryOpts{})
	client, err := hamba.NewClient(reg.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const subject = "hamba-orders-value"

	// Register, then register again: the same id.
	id1, sch, err := client.CreateSchema(ctx, subject, orderV1)
	if err != nil {
		t.Fatalf("CreateSchema v1: %v", err)
	}
	if id1 < 1 || sch == nil {
		t.Fatalf("CreateSchema v1: id %d schema %v", id1, sch)
	}
	again, _, err := client.CreateSchema(ctx, subject, orderV1Spaced)
	if err != nil {
		t.Fatalf("CreateSchema v1 again (reformatted): %v", err)
	}
	if again != id1 {
		t.Fatalf("re-registering v1 gave id %d, want %d", again, id1)
	}

	// Lookup.
	lid, _, err := client.IsRegistered(ctx, subject, orderV1)
	if err != nil {
		t.Fatalf("IsRegistered v1: %v", err)
	}
	if lid != id1 {
		t.Fatalf("IsRegistered v1 gave id %d, want %d", lid, id1)
	}
	_, _, err = client.IsRegistered(ctx, subject, orderV2)
	var herr hamba.Error
	if !errors.As(err, &herr) || herr.StatusCode != http.StatusNotFound || herr.Code != 40403 {
		t.Fatalf("IsRegistered of an unregistered schema: got %#v, want 404 with code 40403", err)
	}

	// Latest and by id.
	latest, err := client.GetLatestSchema(ctx, subject)
	if err != nil {
		t.Fatalf("GetLatestSchema: %v", err)
	}
	sameSchema(t, "GetLatestSchema", latest.String(), orderV1)
	info, err := client.GetLatestSchemaInfo(ctx, subject)
	if err != nil {
		t.Fatalf("GetLatestSchemaInfo: %v", err)
	}
	if info.ID != id1 || info.Version != 1 {
		t.Fatalf("GetLatestSchemaInfo: id %d version %d, want id %d version 1", info.ID, info.Version, id1)
	}
	byID, err := client.GetSchema(ctx, id1)
	if err != nil {
		t.Fatalf("GetSchema(%d): %v", id1, err)
	}
	sameSchema(t, "GetSchema", byID.String(), orderV1)

	// A compatible second version.
	id2, _, err := client.CreateSchema(ctx, subject, orderV2)
	if err != nil {
		t.Fatalf("CreateSchema v2: %v", err)
	}
	if id2 == id1 {
		t.Fatalf("v2 got v1's id %d", id1)
	}
	info, err = client.GetLatestSchemaInfo(ctx, subject)
	if err != nil || info.ID != id2 || info.Version != 2 {
		t.Fatalf("GetLatestSchemaInfo after v2: %+v, %v; want id %d version 2", info, err, id2)
	}
	subjects, err := client.GetSubjects(ctx)
	if err != nil || !slices.Contains(subjects, subject) {
		t.Fatalf("GetSubjects: %v, %v; want it to contain %s", subjects, err, subject)
	}
	versions, err := client.GetVersions(ctx, subject)
	if err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("GetVersions: %v, %v; want [1 2]", versions, err)
	}

	// Per-subject compatibility: BACKWARD refuses the incompatible schema with 409.
	if err := client.SetCompatibilityLevel(ctx, subject, hamba.BackwardCL); err != nil {
		t.Fatalf("SetCompatibilityLevel BACKWARD: %v", err)
	}
	checkHambaLevel(ctx, t, client, reg.URL, subject, hamba.BackwardCL)
	ok, err := client.IsCompatible(ctx, subject, orderIncompatible)
	if err != nil || ok {
		t.Fatalf("IsCompatible(incompatible): %v, %v; want false", ok, err)
	}
	_, _, err = client.CreateSchema(ctx, subject, orderIncompatible)
	if !errors.As(err, &herr) || herr.StatusCode != http.StatusConflict || herr.Code != 409 {
		t.Fatalf("CreateSchema(incompatible) under BACKWARD: got %#v, want HTTP 409 with error_code 409", err)
	}
	if !strings.Contains(herr.Message, "incompatible") {
		t.Fatalf("409 message %q does not say the schema is incompatible", herr.Message)
	}
	if versions, _ := client.GetVersions(ctx, subject); !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("a refused registration changed the versions: %v, want [1 2]", versions)
	}
	// NONE on this subject lets it through.
	if err := client.SetCompatibilityLevel(ctx, subject, hamba.NoneCL); err != nil {
		t.Fatalf("SetCompatibilityLevel NONE: %v", err)
	}
	checkHambaLevel(ctx, t, client, reg.URL, subject, hamba.NoneCL)
	id3, _, err := client.CreateSchema(ctx, subject, orderIncompatible)
	if err != nil {
		t.Fatalf("CreateSchema(incompatible) under NONE: %v", err)
	}
	// The subject-level setting did not leak into the global one.
	global, err := client.GetGlobalCompatibilityLevel(ctx)
	if err != nil {
		t.Fatalf("GetGlobalCompatibilityLevel: %v", err)
	}
	var globalRaw struct {
		CompatibilityLevel string `json:"compatibilityLevel"`
	}
	mustCall(t, http.MethodGet, reg.URL+"/config", nil, http.StatusOK, &globalRaw)
	if globalRaw.CompatibilityLevel != "BACKWARD" || (global != "" && global != "BACKWARD") {
		t.Fatalf("global level: client %q, wire %q; want BACKWARD", global, globalRaw.CompatibilityLevel)
	}

	// Deletes. hamba's client only has DeleteSubject (soft); versions and permanent
	// deletes go through net/http.
	var deleted int
	mustCall(t, http.MethodDelete, reg.URL+"/subjects/"+subject+"/versions/3", nil, http.StatusOK, &deleted)
	if deleted != 3 {
		t.Fatalf("DELETE version 3 answered %d", deleted)
	}
	if versions, _ := client.GetVersions(ctx, subject); !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("after deleting version 3: versions %v, want [1 2]", versions)
	}
	gone, err := client.DeleteSubject(ctx, subject)
	if err != nil || !slices.Equal(gone, []int{1, 2}) {
		t.Fatalf("DeleteSubject: %v, %v; want [1 2]", gone, err)
	}
	_, err = client.GetVersions(ctx, subject)
	if !errors.As(err, &herr) || herr.StatusCode != http.StatusNotFound || herr.Code != 40401 {
		t.Fatalf("GetVersions of a deleted subject: got %#v, want 404 with code 40401", err)
	}
	if subjects, _ := client.GetSubjects(ctx); slices.Contains(subjects, subject) {
		t.Fatalf("GetSubjects still lists the deleted subject: %v", subjects)
	}
	var permanent []int
	mustCall(t, http.MethodDelete, reg.URL+"/subjects/"+subject+"?permanent=true", nil, http.StatusOK, &permanent)
	if !slices.Equal(permanent, []int{1, 2, 3}) {
		t.Fatalf("permanent DELETE answered %v, want [1 2 3]", permanent)
	}
	mustError(t, http.MethodGet, reg.URL+"/subjects/"+subject+"/versions?deleted=true", nil, http.StatusNotFound, 40401)
	// Ids stay readable after their subject is gone (data written with them must decode).
	for _, id := range []int{id1, id2, id3} {
		if _, err := client.GetSchema(ctx, id); err != nil {
			t.Fatalf("GetSchema(%d) after the subject was deleted: %v", id, err)
		}
	}
}

// checkHambaLevel checks a subject's level through hamba's GetCompatibilityLevel and on
// the wire. hamba decodes the field "compatibility", but Confluent's GET /config/{s}
// answers "compatibilityLevel" (so does this registry), so against a Confluent-shaped
// answer hamba returns "" without error; the wire check is what holds the registry to
// the level.
func checkHambaLevel(ctx context.Context, t *testing.T, client *hamba.Client, base, subject, want string) {
	t.Helper()
	got, err := client.GetCompatibilityLevel(ctx, subject)
	if err != nil {
		t.Fatalf("GetCompatibilityLevel(%s): %v", subject, err)
	}
	if got != "" && got != want {
		t.Fatalf("GetCompatibilityLevel(%s) = %q, want %q", subject, got, want)
	}
	var raw struct {
		CompatibilityLevel string `json:"compatibilityLevel"`
	}
	mustCall(t, http.MethodGet, base+"/config/"+subject, nil, http.StatusOK, &raw)
	if raw.CompatibilityLevel != want {
		t.Fatalf("GET /config/%s: compatibilityLevel %q, want %q", subject, raw.CompatibilityLevel, want)
	}
}

func TestConfluentGoClientConformance(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, "registry", registryOpts{})
	// Every call that must reach the registry uses a fresh client: the library caches
	// registrations, lookups and latest versions.
	fresh := func() schemaregistry.Client {
		conf := schemaregistry.NewConfig(reg.URL)
		conf.MaxRetries = 0 // a 5xx must fail the test, not be retried away
		c, err := schemaregistry.NewClient(conf)
		if err != nil {
			t.Fatalf("schemaregistry.NewClient: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	const subject = "confluent-orders-value"
	v1 := schemaregistry.SchemaInfo{Schema: orderV1}

	c := fresh()
	id1, err := c.Register(subject, v1, false)
	if err != nil || id1 < 1 {
		t.Fatalf("Register v1: %d, %v", id1, err)
	}
	again, err := fresh().Register(subject, v1, false)
	if err != nil || again != id1 {
		t.Fatalf("Register v1 again: %d, %v; want %d", again, err, id1)
	}
	again, err = fresh().Register(subject, schemaregistry.SchemaInfo{Schema: orderV1Spaced, SchemaType: "AVRO"}, false)
	if err != nil || again != id1 {
		t.Fatalf("Register v1 reformatted: %d, %v; want %d", again, err, id1)
	}

	// Lookup.
	lid, err := fresh().GetID(subject, v1, false)
	if err != nil || lid != id1 {
		t.Fatalf("GetID v1: %d, %v; want %d", lid, err, id1)
	}
	md, err := fresh().GetIDFullResponse(subject, v1, false)
	if err != nil || md.ID != id1 || md.Version != 1 || md.Subject != subject {
		t.Fatalf("GetIDFullResponse v1: %+v, %v; want id %d version 1 subject %s", md, err, id1, subject)
	}

	latest, err := fresh().GetLatestSchemaMetadata(subject)
	if err != nil {
		t.Fatalf("GetLatestSchemaMetadata: %v", err)
	}
	if latest.ID != id1 || latest.Version != 1 || latest.Subject != subject {
		t.Fatalf("GetLatestSchemaMetadata: %+v; want id %d version 1 subject %s", latest, id1, subject)
	}
	sameSchema(t, "GetLatestSchemaMetadata", latest.Schema, orderV1)
	got, err := fresh().GetBySubjectAndID(subject, id1)
	if err != nil {
		t.Fatalf("GetBySubjectAndID: %v", err)
	}
	sameSchema(t, "GetBySubjectAndID", got.Schema, orderV1)
	if got.SchemaType != "" && got.SchemaType != "AVRO" {
		t.Fatalf("GetBySubjectAndID: schemaType %q", got.SchemaType)
	}

	// Compatibility per subject and by default.
	def, err := fresh().GetDefaultCompatibility()
	if err != nil || def != schemaregistry.Backward {
		t.Fatalf("GetDefaultCompatibility: %v, %v; want BACKWARD", def.String(), err)
	}
	_, err = fresh().GetCompatibility(subject)
	if code := restCode(err); code != 40408 {
		t.Fatalf("GetCompatibility of an unconfigured subject: %v; want error code 40408", err)
	}
	set, err := c.UpdateCompatibility(subject, schemaregistry.Full)
	if err != nil || set != schemaregistry.Full {
		t.Fatalf("UpdateCompatibility FULL: %v, %v", set.String(), err)
	}
	level, err := fresh().GetCompatibility(subject)
	if err != nil || level != schemaregistry.Full {
		t.Fatalf("GetCompatibility: %v, %v; want FULL", level.String(), err)
	}
	if def, _ := fresh().GetDefaultCompatibility(); def != schemaregistry.Backward {
		t.Fatalf("setting a subject's level changed the default to %v", def.String())
	}
	ok, err := fresh().TestCompatibility(subject, -1, schemaregistry.SchemaInfo{Schema: orderIncompatible})
	if err != nil || ok {
		t.Fatalf("TestCompatibility(incompatible, latest): %v, %v; want false", ok, err)
	}
	ok, err = fresh().TestSubjectCompatibility(subject, schemaregistry.SchemaInfo{Schema: orderIncompatible})
	if err != nil || ok {
		t.Fatalf("TestSubjectCompatibility(incompatible): %v, %v; want false", ok, err)
	}
	ok, err = fresh().TestCompatibility(subject, 1, schemaregistry.SchemaInfo{Schema: orderV2})
	if err != nil || !ok {
		t.Fatalf("TestCompatibility(v2, 1): %v, %v; want true", ok, err)
	}
	_, err = fresh().Register(subject, schemaregistry.SchemaInfo{Schema: orderIncompatible}, false)
	if code := restCode(err); code != 409 {
		t.Fatalf("Register(incompatible) under FULL: %v; want error code 409", err)
	}

	id2, err := c.Register(subject, schemaregistry.SchemaInfo{Schema: orderV2}, false)
	if err != nil || id2 == id1 {
		t.Fatalf("Register v2: %d, %v (v1 is %d)", id2, err, id1)
	}
	versions, err := fresh().GetAllVersions(subject)
	if err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("GetAllVersions: %v, %v; want [1 2]", versions, err)
	}
	subjects, err := fresh().GetAllSubjects()
	if err != nil || !slices.Contains(subjects, subject) {
		t.Fatalf("GetAllSubjects: %v, %v", subjects, err)
	}

	// Deletes: a version soft then permanently, then the subject soft then permanently.
	n, err := c.DeleteSubjectVersion(subject, 2, false)
	if err != nil || n != 2 {
		t.Fatalf("DeleteSubjectVersion(2, soft): %d, %v", n, err)
	}
	if latest, err := fresh().GetLatestSchemaMetadata(subject); err != nil || latest.Version != 1 || latest.ID != id1 {
		t.Fatalf("latest after deleting version 2: %+v, %v; want version 1", latest, err)
	}
	_, err = c.DeleteSubjectVersion(subject, 1, true)
	if code := restCode(err); code != 40407 {
		t.Fatalf("permanent delete of a live version: %v; want error code 40407", err)
	}
	n, err = c.DeleteSubjectVersion(subject, 2, true)
	if err != nil || n != 2 {
		t.Fatalf("DeleteSubjectVersion(2, permanent): %d, %v", n, err)
	}
	_, err = c.DeleteSubject(subject, true)
	if code := restCode(err); code != 40405 {
		t.Fatalf("permanent DeleteSubject before a soft one: %v; want error code 40405", err)
	}
	del, err := c.DeleteSubject(subject, false)
	if err != nil || !slices.Equal(del, []int{1}) {
		t.Fatalf("DeleteSubject(soft): %v, %v; want [1]", del, err)
	}
	if subjects, _ := fresh().GetAllSubjects(); slices.Contains(subjects, subject) {
		t.Fatalf("GetAllSubjects still lists %s after a soft delete: %v", subject, subjects)
	}
	del, err = c.DeleteSubject(subject, true)
	if err != nil || !slices.Equal(del, []int{1}) {
		t.Fatalf("DeleteSubject(permanent): %v, %v; want [1]", del, err)
	}

	// Unknown subject: the client's error carries Confluent's 40401.
	for name, call := range map[string]func() error{
		"GetLatestSchemaMetadata": func() error { _, err := fresh().GetLatestSchemaMetadata(subject); return err },
		"GetAllVersions":          func() error { _, err := fresh().GetAllVersions("no-such-subject"); return err },
		"GetID":                   func() error { _, err := fresh().GetID("no-such-subject", v1, false); return err },
	} {
		err := call()
		var re *rest.Error
		if !errors.As(err, &re) || re.Code != 40401 {
			t.Fatalf("%s of an unknown subject: %#v; want a *rest.Error with code 40401", name, err)
		}
	}
	// The schema itself stays readable by id.
	if got, err := fresh().GetBySubjectAndID("", id2); err != nil {
		t.Fatalf("GetBySubjectAndID(\"\", %d) after the subject was deleted: %v", id2, err)
	} else {
		sameSchema(t, "schema by id after delete", got.Schema, orderV2)
	}
}

// restCode is the Confluent error code in a confluent-kafka-go error, or 0.
func restCode(err error) int {
	var re *rest.Error
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}

// nodeResults is the JSON line conformance.js prints on success.
type nodeResults struct {
	Subject       string `json:"subject"`
	ID1           int    `json:"id1"`
	ID2           int    `json:"id2"`
	ID3           int    `json:"id3"`
	Decoded       any    `json:"decoded"`
	Checks        int    `json:"checks"`
	IncompatError string `json:"incompatibleError"`
}

func TestNodeClientConformance(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(moduleRoot, "integration", "clients", "node")
	pkg := filepath.Join(dir, "node_modules", "@kafkajs", "confluent-schema-registry", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		t.Fatalf("the Node.js client is not installed (%v): run make deps (it runs npm ci in %s)", err, dir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH (%v): install Node.js, then run make deps", err)
	}
	reg := startRegistry(t, "registry", registryOpts{})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "conformance.js", reg.URL)
	cmd.Dir = dir
	cmd.SysProcAttr = testproc.ChildProcAttr()
	var stdout, stderr testproc.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if err != nil {
		t.Fatalf("node conformance.js %s failed: %v\nstdout:\n%s\nstderr:\n%s", reg.URL, err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var res nodeResults
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("conformance.js did not end with a JSON line: %v\n%s", err, stdout.String())
	}
	t.Logf("conformance.js: %s", lines[len(lines)-1])
	if res.Checks == 0 || res.ID1 < 1 || res.ID2 < 1 || res.ID3 < 1 {
		t.Fatalf("conformance.js reported %+v", res)
	}
	// What the script did is visible from Go: the ids it saw are the registry's.
	for id, want := range map[int]string{res.ID1: "Payment", res.ID2: "Payment", res.ID3: "Payment"} {
		var body struct {
			Schema string `json:"schema"`
		}
		mustCall(t, http.MethodGet, reg.URL+"/schemas/ids/"+strconv.Itoa(id), nil, http.StatusOK, &body)
		if !strings.Contains(body.Schema, want) {
			t.Fatalf("schema %d is %s, want a %s record", id, body.Schema, want)
		}
	}
	// The script deleted its subject permanently at the end.
	mustError(t, http.MethodGet, reg.URL+"/subjects/"+res.Subject+"/versions?deleted=true", nil, http.StatusNotFound, 40401)
}
