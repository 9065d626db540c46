//go:build linux

package testproc

import "syscall"

// ChildProcAttr (for exec.Cmd.SysProcAttr) makes the kernel kill a subprocess if the test binary dies without
// running its cleanups (a panic, or go test's -timeout), so no subprocess outlives it.
func ChildProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
