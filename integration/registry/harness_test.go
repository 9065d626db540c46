package registry

// Shared harness of the registry integration tests: it builds cmd/registry once, runs
// the registry (and Debian's etcd) as real subprocesses on free ports, waits on
// conditions with deadlines, kills every subprocess in t.Cleanup and copies their
// output into the test log when a test fails.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

var (
	// moduleRoot is the directory holding the repository's go.mod.
	moduleRoot string
	// registryBin is cmd/registry, built once for the package by TestMain.
	registryBin string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	root, err := findModuleRoot()
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
	registryBin = filepath.Join(tmp, "registry")
	goTool := "go"
	if p, err := exec.LookPath("go"); err == nil {
		goTool = p
	}
	build := exec.Command(goTool, "build", "-o", registryBin, "./cmd/registry")
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: go build ./cmd/registry failed: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// findModuleRoot walks up from the working directory (the test's package directory)
// to the directory whose go.mod declares the waybill module.
func findModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/waybill-data/waybill\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of github.com/waybill-data/waybill above the working directory")
		}
		dir = parent
	}
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("closing probe listener: %v", err)
	}
	return addr
}

// syncBuffer collects a subprocess's output; written by exec's copier goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a running subprocess.
type proc struct {
	name    string
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan struct{} // closed once the process has exited and been reaped
	waitErr error         // valid after done
}

// startProc starts bin with args. The process is killed (if still running) when the
// test ends, and its combined stdout/stderr is logged if the test failed.
func startProc(t testing.TB, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = childProcAttr()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s (%s %s): %v", name, bin, strings.Join(args, " "), err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		state := "still running at the end of the test; killed"
		if p.exited() {
			state = fmt.Sprintf("had exited: %v", p.waitErr)
		} else {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			out := p.out.String()
			const keep = 256 << 10
			if len(out) > keep {
				out = fmt.Sprintf("[... %d bytes left out ...]\n", len(out)-keep) + out[len(out)-keep:]
			}
			t.Logf("---- output of %s (%s %s), which %s ----\n%s---- end of %s ----", name, filepath.Base(bin), strings.Join(args, " "), state, out, name)
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for the process to exit, failing the test if it takes
// longer than within. It returns the process's exit code.
func (p *proc) stop(t testing.TB, within time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !p.exited() {
		t.Fatalf("sending SIGTERM to %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("%s did not exit within %v of SIGTERM", p.name, within)
	}
	return p.cmd.ProcessState.ExitCode()
}

// registryOpts are the flags of one registry process.
type registryOpts struct {
	Listen        string   // default: a free port
	DataDir       string   // embedded etcd (exclusive with EtcdEndpoints)
	EtcdListen    string   // embedded etcd client address; default: a free port
	EtcdEndpoints []string // external etcd
	EtcdPrefix    string
	StoreTimeout  time.Duration
}

// registryProc is a running registry subprocess.
type registryProc struct {
	*proc
	URL      string // http://host:port
	Listen   string
	EtcdAddr string // client address of the embedded etcd, if any
	opts     registryOpts
}

// startRegistry runs cmd/registry and waits until GET /healthz answers 200.
func startRegistry(t testing.TB, name string, o registryOpts) *registryProc {
	t.Helper()
	if o.Listen == "" {
		o.Listen = freeAddr(t)
	}
	args := []string{"--listen", o.Listen, "--log-level", "info"}
	if len(o.EtcdEndpoints) > 0 {
		args = append(args, "--etcd-endpoints", strings.Join(o.EtcdEndpoints, ","))
	} else {
		if o.DataDir == "" {
			o.DataDir = t.TempDir()
		}
		if o.EtcdListen == "" {
			o.EtcdListen = freeAddr(t)
		}
		args = append(args, "--data-dir", o.DataDir, "--etcd-listen", o.EtcdListen)
	}
	if o.EtcdPrefix != "" {
		args = append(args, "--etcd-prefix", o.EtcdPrefix)
	}
	if o.StoreTimeout > 0 {
		args = append(args, "--store-timeout", o.StoreTimeout.String())
	}
	r := &registryProc{
		proc:     startProc(t, name, registryBin, args...),
		URL:      "http://" + o.Listen,
		Listen:   o.Listen,
		EtcdAddr: o.EtcdListen,
		opts:     o,
	}
	waitHealthy(t, r.proc, r.URL+"/healthz", 60*time.Second, func(status int, body []byte) bool {
		return status == http.StatusOK
	})
	return r
}

// waitHealthy polls url until ready accepts the answer, the process exits, or the
// deadline passes.
func waitHealthy(t testing.TB, p *proc, url string, within time.Duration, ready func(status int, body []byte) bool) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	var last string
	ok := poll(within, 50*time.Millisecond, p.done, func() bool {
		resp, err := c.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		return ready(resp.StatusCode, body)
	})
	if !ok {
		if p.exited() {
			t.Fatalf("%s exited before becoming ready at %s: %v (last answer: %s)", p.name, url, p.waitErr, last)
		}
		t.Fatalf("%s not ready at %s within %v (last answer: %s)", p.name, url, within, last)
	}
}

// poll calls cond every interval until it returns true (true), the deadline passes or
// abort is closed (false). It is a wait on a condition, never a fixed sleep.
func poll(within, interval time.Duration, abort <-chan struct{}, cond func() bool) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-deadline.C:
			return cond()
		case <-abort:
			return false
		case <-tick.C:
		}
	}
}

// --- HTTP ---------------------------------------------------------------------------

const contentTypeV1 = "application/vnd.schemaregistry.v1+json"

var httpClient = &http.Client{Timeout: 20 * time.Second}

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

// call sends a request with an optional JSON body; transport errors are returned.
func call(ctx context.Context, method, url string, body any) (reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentTypeV1)
	}
	req.Header.Set("Accept", contentTypeV1)
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{Status: resp.StatusCode, Body: b}, nil
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
