//go:build !unix

package netaddr

import (
	"net"
	"os"
	"path/filepath"
)

// listenPrivate creates the Unix socket; without a umask here, its mode is
// set by the caller's chmod right after.
func listenPrivate(address string) (net.Listener, error) {
	return net.Listen("unix", address)
}

func checkSocket(string) error { return nil }

func peerCred(net.Conn) (uid, pid int, known bool) { return 0, 0, false }

// CheckPeerProcess: not checked on this system.
func CheckPeerProcess(net.Conn, int, int) error { return nil }

// PrivateDir makes the folder base/rel; this system's owners and modes are
// not checked.
func PrivateDir(base, rel string) (string, error) {
	dir := filepath.Join(base, rel)
	return dir, os.MkdirAll(dir, 0o700)
}
