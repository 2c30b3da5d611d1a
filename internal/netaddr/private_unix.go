//go:build unix

package netaddr

import (
	"net"
	"sync"
	"syscall"
)

var umaskMu sync.Mutex

// listenPrivate creates the Unix socket with mode 0600 from the start (the
// umask is process-wide, hence the lock), so that no other user can connect
// before the caller's chmod.
func listenPrivate(address string) (net.Listener, error) {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	old := syscall.Umask(0o177)
	defer syscall.Umask(old)
	return net.Listen("unix", address)
}
