//go:build linux

package registry

import "syscall"

// childProcAttr makes the kernel kill a subprocess if the test binary dies without
// running its cleanups (a panic, or go test's -timeout), so no registry or etcd outlives it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
