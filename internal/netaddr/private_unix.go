//go:build unix

package netaddr

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
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

// checkSocket: see CheckSocket.
func checkSocket(path string) error {
	uid := uint32(os.Getuid())
	for _, p := range []string{filepath.Dir(path), path} {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if st.Uid != uid {
			return fmt.Errorf("%s belongs to uid %d, not to this user (%d)", p, st.Uid, uid)
		}
		if p != path && fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("%s can be written by other users (mode %v)", p, fi.Mode().Perm())
		}
		if p == path && fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("%s is not a socket", p)
		}
	}
	return nil
}
