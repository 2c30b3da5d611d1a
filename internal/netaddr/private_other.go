//go:build !unix

package netaddr

import "net"

// listenPrivate creates the Unix socket; without a umask here, its mode is
// set by the caller's chmod right after.
func listenPrivate(address string) (net.Listener, error) {
	return net.Listen("unix", address)
}

func checkSocket(string) error { return nil }

func peerCred(net.Conn) (uid, pid int, known bool) { return 0, 0, false }

// CheckPeerProcess: not checked on this system.
func CheckPeerProcess(net.Conn, int, int) error { return nil }
