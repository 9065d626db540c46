//go:build !linux

package registry

import "syscall"

// childProcAttr: only Linux can tie a child's life to the test binary; elsewhere the
// cleanups alone stop subprocesses.
func childProcAttr() *syscall.SysProcAttr { return nil }
