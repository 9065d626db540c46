//go:build !linux

package testproc

import "syscall"

// ChildProcAttr: only Linux can tie a child's life to the test binary; elsewhere the
// cleanups alone stop subprocesses.
func ChildProcAttr() *syscall.SysProcAttr { return nil }
