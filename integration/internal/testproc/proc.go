package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FindModuleRoot walks up from the working directory (the test's package directory)
// to the directory whose go.mod declares the waybill module.
func FindModuleRoot() (string, error) {
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

// BuildBinaries runs `go build -o outDir/ pkgs...` in moduleRoot, so each main package
// ends up as outDir/<last element of its path>. It returns an error (carrying the
// build's output) rather than failing a test, as it is meant for TestMain.
func BuildBinaries(moduleRoot, outDir string, pkgs ...string) error {
	goTool := "go"
	if p, err := exec.LookPath("go"); err == nil {
		goTool = p
	}
	args := append([]string{"build", "-o", outDir + string(filepath.Separator)}, pkgs...)
	build := exec.Command(goTool, args...)
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s failed: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
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

// SyncBuffer collects a subprocess's output; written by exec's copier goroutines.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Proc is a running subprocess.
type Proc struct {
	Name    string
	Out     *SyncBuffer // combined stdout and stderr
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited and been reaped
	waitErr error         // valid after done
}

// Start starts bin with args, writing its combined stdout/stderr into out (a fresh
// buffer if nil). The process is killed (if still running) when the test ends, and
// its output is logged if the test failed.
func Start(t testing.TB, name string, out *SyncBuffer, bin string, args ...string) *Proc {
	t.Helper()
	if out == nil {
		out = &SyncBuffer{}
	}
	p := &Proc{Name: name, Out: out, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.Out
	p.cmd.Stderr = p.Out
	p.cmd.SysProcAttr = ChildProcAttr()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s (%s %s): %v", name, bin, strings.Join(args, " "), err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		state := "still running at the end of the test; killed"
		if p.Exited() {
			state = fmt.Sprintf("had exited: %v", p.waitErr)
		} else {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			o := p.Out.String()
			const keep = 256 << 10
			if len(o) > keep {
				o = fmt.Sprintf("[... %d bytes left out ...]\n", len(o)-keep) + o[len(o)-keep:]
			}
			t.Logf("---- output of %s (%s %s), which %s ----\n%s---- end of %s ----", name, filepath.Base(bin), strings.Join(args, " "), state, o, name)
		}
	})
	return p
}

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// WaitErr is the error of the process's Wait; valid once Done is closed.
func (p *Proc) WaitErr() error { return p.waitErr }

// Exited reports whether the process has exited and been reaped.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits for the process to exit, failing the test if it takes
// longer than within. It returns the process's exit code.
func (p *Proc) Stop(t testing.TB, within time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !p.Exited() {
		t.Fatalf("sending SIGTERM to %s: %v", p.Name, err)
	}
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("%s did not exit within %v of SIGTERM", p.Name, within)
	}
	return p.cmd.ProcessState.ExitCode()
}

// Kill sends SIGKILL and waits for the process to be reaped.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !p.Exited() {
		t.Fatalf("killing %s: %v", p.Name, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s not reaped within 10s of SIGKILL", p.Name)
	}
}

// Poll calls cond every interval until it returns true (true), the deadline passes or
// abort is closed (false). It is a wait on a condition, never a fixed sleep.
func Poll(within, interval time.Duration, abort <-chan struct{}, cond func() bool) bool {
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
