package router_test

// Harness of the router integration tests: it builds cmd/registry and cmd/router once,
// runs them as real subprocesses on free ports, waits on conditions with deadlines,
// kills every subprocess in t.Cleanup and copies their output into the test log when a
// test fails. Adapted from integration/registry/harness_test.go.

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
	"testing"
	"time"
)

var (
	moduleRoot  string
	registryBin string
	routerBin   string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	root, err := findModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	moduleRoot = root
	tmp, err := os.MkdirTemp("", "waybill-router-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	goTool := "go"
	if p, err := exec.LookPath("go"); err == nil {
		goTool = p
	}
	build := exec.Command(goTool, "build", "-o", tmp+string(filepath.Separator), "./cmd/registry", "./cmd/router")
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: go build ./cmd/registry ./cmd/router failed: %v\n%s", err, out)
		return 1
	}
	registryBin = filepath.Join(tmp, "registry")
	routerBin = filepath.Join(tmp, "router")
	return m.Run()
}

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

// startProc starts bin with args, writing its output into out (a fresh buffer if nil).
// The process is killed when the test ends, and its output is logged if the test failed.
func startProc(t testing.TB, name string, out *syncBuffer, bin string, args ...string) *proc {
	t.Helper()
	if out == nil {
		out = &syncBuffer{}
	}
	p := &proc{name: name, out: out, done: make(chan struct{})}
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
			o := p.out.String()
			const keep = 256 << 10
			if len(o) > keep {
				o = fmt.Sprintf("[... %d bytes left out ...]\n", len(o)-keep) + o[len(o)-keep:]
			}
			t.Logf("---- output of %s (%s %s), which %s ----\n%s---- end of %s ----", name, filepath.Base(bin), strings.Join(args, " "), state, o, name)
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

// kill sends SIGKILL and waits for the process to be reaped.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !p.exited() {
		t.Fatalf("killing %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s not reaped within 10s of SIGKILL", p.name)
	}
}

// waitReady polls url until ready accepts the answer, the process exits, or the
// deadline passes.
func waitReady(t testing.TB, p *proc, url string, within time.Duration, ready func(status int, body []byte) bool) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	var last string
	ok := poll(within, 20*time.Millisecond, p.done, func() bool {
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
// abort is closed (false).
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

var httpClient = &http.Client{Timeout: 20 * time.Second}

// call sends a request with an optional JSON body and reads the whole answer.
func call(ctx context.Context, method, url string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// mustCall is call that fails the test on a transport error or an unexpected status.
func mustCall(t testing.TB, method, url string, body any, wantStatus int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, b, err := call(ctx, method, url, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if status != wantStatus {
		t.Fatalf("%s %s: got HTTP %d %s, want %d", method, url, status, bytes.TrimSpace(b), wantStatus)
	}
	return b
}
