//go:build !linux

package bus

// memoryLimit is unknown outside Linux.
func memoryLimit() uint64 { return 0 }
