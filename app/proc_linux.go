package app

import "syscall"

// childProcAttr makes the kernel signal split mode's gateway process when
// the core's process dies, however it dies.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
