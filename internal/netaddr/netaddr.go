// Package netaddr parses the addresses Tether listens on and dials:
// "host:port" for TCP and "unix:///abs/path" (or "unix:rel/path") for Unix
// sockets.
package netaddr

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"

	"github.com/tether-ipc/tether/internal/readyconn"
)

// Parse splits addr into a network ("tcp" or "unix") and an address.
func Parse(addr string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(addr, "unix://"):
		address = strings.TrimPrefix(addr, "unix://")
	case strings.HasPrefix(addr, "unix:"):
		address = strings.TrimPrefix(addr, "unix:")
	default:
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", "", fmt.Errorf("address %q: want host:port or unix:///path: %v", addr, err)
		}
		return "tcp", addr, nil
	}
	if address == "" {
		return "", "", fmt.Errorf("address %q: empty Unix socket path", addr)
	}
	return "unix", address, nil
}

// Listen listens on addr. A Unix socket is created with mode 0600 (the
// umask is narrowed while it is bound, so it is never reachable by others)
// and removed when the listener closes. A stale socket file left by a dead
// process is replaced; any other existing file is an error.
func Listen(addr string) (net.Listener, error) {
	network, address, err := Parse(addr)
	if err != nil {
		return nil, err
	}
	if network == "tcp" {
		return net.Listen("tcp", address)
	}
	if fi, err := os.Lstat(address); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listen %s: a file that is not a socket is in the way", address)
		}
		if c, err := net.Dial("unix", address); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen %s: another server is listening there", address)
		}
		if err := os.Remove(address); err != nil {
			return nil, fmt.Errorf("listen %s: removing stale socket: %w", address, err)
		}
	}
	l, err := listenPrivate(address)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(address, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return &peerListener{Listener: l, path: address, uid: os.Getuid()}, nil
}

// PeerAddr is the remote address of a connection accepted on a Unix socket
// opened by Listen: the socket it came in on, where the system tells
// (Linux) the peer process's user and process ids (-1 when unknown), and a
// number that tells this connection from the others of the process.
type PeerAddr struct {
	Path     string
	UID, PID int
	Conn     uint64
}

func (a PeerAddr) Network() string { return "unix" }
func (a PeerAddr) String() string {
	if a.PID >= 0 {
		return fmt.Sprintf("unix://%s (pid %d, uid %d)", a.Path, a.PID, a.UID)
	}
	return "unix://" + a.Path
}

// peerListener accepts only peers running as the listening user (where
// the system can tell), and names each connection's peer.
type peerListener struct {
	net.Listener
	path string
	uid  int
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, pid, known := peerCred(c)
		if known && uid != l.uid {
			c.Close() // another user: the 0600 mode should have kept it out
			continue
		}
		if !known {
			uid, pid = -1, -1
		}
		return &peerConn{Conn: readyconn.Wrap(c), peer: PeerAddr{Path: l.path, UID: uid, PID: pid, Conn: connSerial.Add(1)}}, nil
	}
}

// connSerial numbers the connections accepted on Unix sockets.
var connSerial atomic.Uint64

type peerConn struct {
	*readyconn.Conn // grpc-go's pooled reads (see package readyconn)
	peer            PeerAddr
}

func (c *peerConn) RemoteAddr() net.Addr { return c.peer }

// CheckSocket verifies, before a client dials the Unix socket at path, that
// the socket and its folder belong to this user and that nobody else can
// write the folder (so no other user can have replaced the socket).
func CheckSocket(path string) error {
	return checkSocket(path)
}

// GRPCTarget turns addr into a target for grpc.NewClient.
func GRPCTarget(addr string) (string, error) {
	network, address, err := Parse(addr)
	if err != nil {
		return "", err
	}
	if network == "unix" {
		return "unix://" + address, nil
	}
	return "passthrough:///" + address, nil
}
