package bus

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// memoryLimit is the smaller of the machine's RAM and the cgroup (v2 or
// v1) memory limit, 0 if neither can be read.
func memoryLimit() uint64 {
	var limit uint64
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		limit = uint64(si.Totalram) * uint64(si.Unit)
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n == 0 { // "max": no limit
			continue
		}
		if limit == 0 || n < limit {
			limit = n
		}
		break
	}
	return limit
}
