package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/waybill-data/waybill/schemas/etcdserver"
	"github.com/waybill-data/waybill/schemas/etcdstore"
	"github.com/waybill-data/waybill/schemas/registry"
)

// One embedded etcd serves the whole package; every test gets its own key prefix.
var (
	etcdAddr string
	etcdCli  *clientv3.Client
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "waybill-registry-test-etcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := startEtcd(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	etcdAddr = srv.Addr()
	etcdCli, err = newEtcdClient(etcdAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer etcdCli.Close()
	return m.Run()
}

func startEtcd(dir string) (*etcdserver.Server, error) {
	srv, err := etcdserver.Start(etcdserver.Config{DataDir: dir, ClientAddr: "127.0.0.1:0", Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd: %w", err)
	}
	return srv, nil
}

func newEtcdClient(addr string) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", addr, err)
	}
	return cli, nil
}

// env is one test's registry: a store under a fresh prefix and an HTTP server over it.
type env struct {
	t      testing.TB
	store  *etcdstore.Store
	reg    *registry.Registry
	srv    *httptest.Server
	prefix string
}

// testPrefix is the test's key prefix, emptied first so that -count=N starts clean.
func testPrefix(t testing.TB) string {
	t.Helper()
	prefix := "/t/" + t.Name() + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := etcdCli.Delete(ctx, prefix, clientv3.WithPrefix()); err != nil {
		t.Fatalf("clearing %s: %v", prefix, err)
	}
	return prefix
}

func newEnv(t testing.TB) *env {
	t.Helper()
	prefix := testPrefix(t)
	return newEnvOn(t, etcdCli, prefix, 0)
}

func newEnvOn(t testing.TB, cli *clientv3.Client, prefix string, timeout time.Duration, opts ...registry.Option) *env {
	t.Helper()
	store := etcdstore.New(cli, prefix, timeout)
	reg := registry.New(store, nil, opts...)
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, store: store, reg: reg, srv: srv, prefix: prefix}
}

const ctV1 = "application/vnd.schemaregistry.v1+json"

// request is one HTTP call. body is sent as is when it is a string or []byte and
// JSON-encoded otherwise; contentType "" means the v1 media type, "-" means none.
type request struct {
	method, path string
	body         any
	contentType  string
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) send(rq request) response {
	e.t.Helper()
	return e.sendWith(rq, nil)
}

// sendWith is send with extra request headers (credentials).
func (e *env) sendWith(rq request, header http.Header) response {
	e.t.Helper()
	var rd io.Reader
	switch b := rq.body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encoding request body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(rq.method, e.srv.URL+rq.path, rd)
	if err != nil {
		e.t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	switch rq.contentType {
	case "":
		if rd != nil {
			req.Header.Set("Content-Type", ctV1)
		}
	case "-":
	default:
		req.Header.Set("Content-Type", rq.contentType)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", rq.method, rq.path, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ctV1 {
		e.t.Errorf("%s %s: response Content-Type %q, want %q", rq.method, rq.path, ct, ctV1)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// ok sends a request, asserts 200 and decodes the body into out (if not nil).
func (e *env) ok(method, path string, body, out any) response {
	e.t.Helper()
	r := e.send(request{method: method, path: path, body: body})
	if r.status != http.StatusOK {
		e.t.Fatalf("%s %s: status %d, want 200; body %s", method, path, r.status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: decoding %s: %v", method, path, r.body, err)
		}
	}
	return r
}

// apiError is the body of every error answer.
type apiError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

// fail sends a request and asserts the error status and Confluent code; it returns the message.
func (e *env) fail(method, path string, body any, wantStatus, wantCode int) string {
	e.t.Helper()
	return e.failReq(request{method: method, path: path, body: body}, wantStatus, wantCode)
}

func (e *env) failReq(rq request, wantStatus, wantCode int) string {
	e.t.Helper()
	r := e.send(rq)
	return checkError(e.t, rq.method+" "+rq.path, r.status, r.body, wantStatus, wantCode)
}

// checkError asserts an error answer is exactly {"error_code":N,"message":"..."}.
func checkError(t testing.TB, what string, status int, body []byte, wantStatus, wantCode int) string {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("%s: error body is not a JSON object: %q", what, body)
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: error body %s: %v", what, body, err)
	}
	if status != wantStatus || e.Code != wantCode {
		t.Fatalf("%s: got status %d error_code %d (%s), want status %d error_code %d", what, status, e.Code, e.Message, wantStatus, wantCode)
	}
	if len(raw) != 2 || raw["error_code"] == nil || raw["message"] == nil {
		t.Errorf("%s: error body has keys other than error_code and message: %s", what, body)
	}
	if e.Message == "" {
		t.Errorf("%s: error without a message", what)
	}
	return e.Message
}

// regResp is the answer to a registration.
type regResp struct {
	ID      int `json:"id"`
	Version int `json:"version"`
}

// schemaBody is a register/lookup/compatibility request body.
type schemaBody struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []reference `json:"references,omitempty"`
	ID         int         `json:"id,omitempty"`
	Version    int         `json:"version,omitempty"`
}

type reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// versionResp is a subject version as the API returns it.
type versionResp struct {
	Subject    string      `json:"subject"`
	ID         int         `json:"id"`
	Version    int         `json:"version"`
	SchemaType string      `json:"schemaType"`
	References []reference `json:"references"`
	Schema     string      `json:"schema"`
}

// register registers a schema and asserts success.
func (e *env) register(subject, schema string) regResp {
	e.t.Helper()
	var out regResp
	e.ok("POST", "/subjects/"+subject+"/versions", schemaBody{Schema: schema}, &out)
	if out.ID <= 0 || out.Version <= 0 {
		e.t.Fatalf("register in %s: got %+v", subject, out)
	}
	return out
}

func (e *env) setCompat(subject, level string) {
	e.t.Helper()
	path := "/config"
	if subject != "" {
		path += "/" + subject
	}
	e.ok("PUT", path, map[string]string{"compatibility": level}, nil)
}

// Schema builders, so the tests read like the schemas they describe.

func q(s string) string { return strconv.Quote(s) }

func rec(name string, fields ...string) string {
	return `{"type":"record","name":` + q(name) + `,"fields":[` + strings.Join(fields, ",") + `]}`
}

func fld(name, typ string) string { return `{"name":` + q(name) + `,"type":` + typ + `}` }

func fldDef(name, typ, def string) string {
	return `{"name":` + q(name) + `,"type":` + typ + `,"default":` + def + `}`
}

// canonicalJSON re-encodes a JSON text so two texts can be compared as values.
func sameJSON(t testing.TB, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("not JSON: %q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("not JSON: %q: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}
