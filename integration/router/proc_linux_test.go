//go:build linux

package router_test

import "syscall"

// childProcAttr makes the kernel kill a subprocess if the test binary dies without
// running its cleanups, so no registry or router outlives it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
