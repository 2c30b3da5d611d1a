package bus

import (
	"math"
	"runtime/debug"
)

// Bounds of DefaultMaxSubscribers.
const (
	minDefaultSubscribers = 4096
	maxDefaultSubscribers = 1 << 22
	// bytesPerSubscriber is what the default cap allows for each
	// subscriber: about twice what an idle listener costs as shipped (a
	// gRPC or SSE stream, its goroutine and buffers), so that the cap is
	// reached at about half the memory.
	bytesPerSubscriber = 64 << 10
)

// DefaultMaxSubscribers is the subscriber cap of a bus made without
// WithMaxSubscribers: the memory this process may use — the smallest of the
// machine's RAM, the cgroup's memory limit and GOMEMLIMIT, where known —
// divided by 64 KiB, and at least 4096 (2^22 at most). On a machine with 8
// GiB and no other limit it is 131072. Where the memory cannot be read it
// is 4096.
func DefaultMaxSubscribers() int {
	limit := memoryLimit()
	if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 && (limit == 0 || uint64(l) < limit) {
		limit = uint64(l)
	}
	return subscribersFor(limit)
}

func subscribersFor(limit uint64) int {
	if limit == 0 {
		return minDefaultSubscribers
	}
	n := limit / bytesPerSubscriber
	return int(min(max(n, minDefaultSubscribers), maxDefaultSubscribers))
}
