//go:build !linux

package router_test

import "syscall"

// childProcAttr: only Linux can tie a child's life to the test binary.
func childProcAttr() *syscall.SysProcAttr { return nil }
