package jshook

import (
	"syscall"
	"time"
	"unsafe"
)

// threadClock is the CPU-time clock of the calling OS thread, readable
// from any thread of the process. Call it with the goroutine locked to its
// thread (runtime.LockOSThread).
func threadClock() cpuClock {
	// A thread's CPU clock id, as pthread_getcpuclockid makes it:
	// MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) in the kernel's
	// posix-timers.h.
	return cpuClock{id: int32(^uint32(syscall.Gettid())<<3 | 6), ok: true}
}

type cpuClock struct {
	id int32
	ok bool
}

// now is the thread's CPU time so far; ok is false when it cannot be read.
func (c cpuClock) now() (time.Duration, bool) {
	if !c.ok {
		return 0, false
	}
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(c.id), uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
