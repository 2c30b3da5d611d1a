//go:build unix

package netaddr

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
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

// PrivateDir makes the folder base/rel (rel slash- or separator-joined)
// and every folder between, mode 0700, and checks each of them: a real
// folder (not a symlink), owned by this user, that no other user may read,
// write or enter. base must exist. A folder another user made first (in a
// shared /tmp, say) is refused, never used.
func PrivateDir(base, rel string) (string, error) {
	uid := uint32(os.Getuid())
	dir := filepath.Clean(base)
	for _, seg := range strings.Split(filepath.ToSlash(filepath.Clean(rel)), "/") {
		if seg == "" || seg == "." {
			continue
		}
		if seg == ".." {
			return "", fmt.Errorf("%s: leaves %s", rel, base)
		}
		dir = filepath.Join(dir, seg)
		if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
			return "", err
		}
		fi, err := os.Lstat(dir)
		if err != nil {
			return "", err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		switch {
		case !fi.IsDir():
			return "", fmt.Errorf("%s is not a folder (a symlink or a file is in the way)", dir)
		case ok && st.Uid != uid:
			return "", fmt.Errorf("%s belongs to uid %d, not to this user (%d): remove it, or set XDG_RUNTIME_DIR", dir, st.Uid, uid)
		case fi.Mode().Perm()&0o077 != 0:
			return "", fmt.Errorf("%s has mode %v: other users may use it (want 0700)", dir, fi.Mode().Perm())
		}
	}
	return dir, nil
}
