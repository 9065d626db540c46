package registry

// Harness of the registry integration tests: it builds cmd/registry once and runs the
// registry (and Debian's etcd) as real subprocesses through integration/internal/testproc,
// and holds the registry's HTTP, Confluent-error and Avro helpers.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

var (
	// moduleRoot is the directory holding the repository's go.mod.
	moduleRoot string
	// registryBin is cmd/registry, built once for the package by TestMain.
	registryBin string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	root, err := testproc.FindModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	moduleRoot = root
	tmp, err := os.MkdirTemp("", "waybill-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := testproc.BuildBinaries(moduleRoot, tmp, "./cmd/registry"); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	registryBin = filepath.Join(tmp, "registry")
	return m.Run()
}

// registryOpts are the flags of one registry process.
type registryOpts struct {
	Listen        string   // default: a free port
	DataDir       string   // embedded etcd (exclusive with EtcdEndpoints)
	EtcdListen    string   // embedded etcd client address; default: a free port
	EtcdEndpoints []string // external etcd
	EtcdPrefix    string
	StoreTimeout  time.Duration
	TokensFile    string // --tokens-file
	TLSCert       string // --tls-cert (and TLSKey): the registry serves HTTPS
	TLSKey        string
	TLSClientCA   string
	// TLSClient is the client readiness is checked with over HTTPS (trusting TLSCert).
	TLSClient *http.Client
}

// registryProc is a running registry subprocess.
type registryProc struct {
	*testproc.Proc
	URL      string // http://host:port
	Listen   string
	EtcdAddr string // client address of the embedded etcd, if any
	opts     registryOpts
}

// startRegistry runs cmd/registry and waits until GET /healthz answers 200.
func startRegistry(t testing.TB, name string, o registryOpts) *registryProc {
	t.Helper()
	if o.Listen == "" {
		o.Listen = testproc.FreeAddr(t)
	}
	args := []string{"--listen", o.Listen, "--log-level", "info"}
	if len(o.EtcdEndpoints) > 0 {
		args = append(args, "--etcd-endpoints", strings.Join(o.EtcdEndpoints, ","))
	} else {
		if o.DataDir == "" {
			o.DataDir = t.TempDir()
		}
		if o.EtcdListen == "" {
			o.EtcdListen = testproc.FreeAddr(t)
		}
		args = append(args, "--data-dir", o.DataDir, "--etcd-listen", o.EtcdListen)
	}
	if o.EtcdPrefix != "" {
		args = append(args, "--etcd-prefix", o.EtcdPrefix)
	}
	if o.StoreTimeout > 0 {
		args = append(args, "--store-timeout", o.StoreTimeout.String())
	}
	for flag, v := range map[string]string{"--tokens-file": o.TokensFile, "--tls-cert": o.TLSCert, "--tls-key": o.TLSKey, "--tls-client-ca": o.TLSClientCA} {
		if v != "" {
			args = append(args, flag, v)
		}
	}
	r := &registryProc{
		Proc:     testproc.Start(t, name, nil, registryBin, args...),
		URL:      "http://" + o.Listen,
		Listen:   o.Listen,
		EtcdAddr: o.EtcdListen,
		opts:     o,
	}
	if o.TLSCert != "" {
		r.URL = "https://" + o.Listen
		var last error
		if !testproc.Poll(60*time.Second, 20*time.Millisecond, r.Done(), func() bool {
			resp, err := o.TLSClient.Get(r.URL + "/healthz")
			if last = err; err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}) {
			t.Fatalf("%s not ready over HTTPS at %s (exited: %v): %v", name, r.URL, r.Exited(), last)
		}
		return r
	}
	testproc.WaitReady(t, r.Proc, r.URL+"/healthz", 60*time.Second, func(status int, body []byte) bool {
		return status == http.StatusOK
	})
	return r
}

// --- HTTP ---------------------------------------------------------------------------

const contentTypeV1 = "application/vnd.schemaregistry.v1+json"

// reply is one HTTP answer.
type reply struct {
	Status int
	Body   []byte
}

// errorBody is Confluent's error shape.
type errorBody struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

func (r reply) String() string { return fmt.Sprintf("HTTP %d %s", r.Status, bytes.TrimSpace(r.Body)) }

// errorCode decodes the Confluent error code of a non-2xx answer (0 if none).
func (r reply) errorCode() int {
	var e errorBody
	_ = json.Unmarshal(r.Body, &e)
	return e.ErrorCode
}

// v1Header asks for and sends the Confluent v1 media type.
var v1Header = http.Header{"Content-Type": {contentTypeV1}, "Accept": {contentTypeV1}}

// call sends a request with an optional JSON body; transport errors are returned.
func call(ctx context.Context, method, url string, body any) (reply, error) {
	status, b, err := testproc.CallWith(ctx, v1Header, method, url, body)
	if err != nil {
		return reply{}, err
	}
	return reply{Status: status, Body: b}, nil
}

// mustCall is call that fails the test on a transport error or an unexpected status,
// and decodes the body into out when out is non-nil.
func mustCall(t testing.TB, method, url string, body any, wantStatus int, out any) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := call(ctx, method, url, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if r.Status != wantStatus {
		t.Fatalf("%s %s: got %s, want HTTP %d", method, url, r, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, url, r.Body, err)
		}
	}
	return r
}

// mustError expects a Confluent error answer with the given HTTP status and code.
func mustError(t testing.TB, method, url string, body any, wantStatus, wantCode int) errorBody {
	t.Helper()
	var e errorBody
	mustCall(t, method, url, body, wantStatus, &e)
	if e.ErrorCode != wantCode {
		t.Fatalf("%s %s: got error_code %d (%q), want %d", method, url, e.ErrorCode, e.Message, wantCode)
	}
	return e
}

// registered is the answer to POST /subjects/{s}/versions.
type registered struct {
	ID      int `json:"id"`
	Version int `json:"version"`
}

// subjectVersion is the answer to GET /subjects/{s}/versions/{v} and to a lookup.
type subjectVersion struct {
	Subject string `json:"subject"`
	ID      int    `json:"id"`
	Version int    `json:"version"`
	Schema  string `json:"schema"`
}

// jsonInto decodes a JSON answer, naming it in the error.
func jsonInto(body []byte, out any) error {
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decoding %q: %w", body, err)
	}
	return nil
}

func schemaBody(schema string) map[string]any { return map[string]any{"schema": schema} }

func register(t testing.TB, base, subject, schema string) registered {
	t.Helper()
	var r registered
	mustCall(t, http.MethodPost, base+"/subjects/"+subject+"/versions", schemaBody(schema), http.StatusOK, &r)
	if r.ID < 1 || r.Version < 1 {
		t.Fatalf("register %s: got id %d version %d, want both >= 1", subject, r.ID, r.Version)
	}
	return r
}

// --- Avro ---------------------------------------------------------------------------

// fingerprint is the SHA-256 of an Avro schema's Parsing Canonical Form, parsed with a
// private cache so tests never see each other's named types.
func fingerprint(t testing.TB, schema string) [32]byte {
	t.Helper()
	fp, err := fingerprintOf(schema)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// fingerprintOf is fingerprint for goroutines other than the test's.
func fingerprintOf(schema string) ([32]byte, error) {
	s, err := avro.ParseWithCache(schema, "", &avro.SchemaCache{})
	if err != nil {
		return [32]byte{}, fmt.Errorf("parsing schema %s: %w", schema, err)
	}
	return s.Fingerprint(), nil
}

// sameSchema fails the test unless got and want are the same Avro schema.
func sameSchema(t testing.TB, what, got, want string) {
	t.Helper()
	if fingerprint(t, got) != fingerprint(t, want) {
		t.Fatalf("%s: got schema %s, want %s", what, got, want)
	}
}

// recordSchema builds a record schema with the given field definitions (JSON objects).
func recordSchema(name string, fields ...string) string {
	return fmt.Sprintf(`{"type":"record","name":%q,"namespace":"waybill.itest","fields":[%s]}`, name, strings.Join(fields, ","))
}
