//go:build !linux

package app

import "syscall"

// childProcAttr: without a parent-death signal here, the gateway process
// learns of the core's death from the end of its handoff pipe.
func childProcAttr() *syscall.SysProcAttr { return nil }
