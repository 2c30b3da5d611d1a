package server

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc/peer"

	"github.com/tether-ipc/tether/internal/netaddr"
	"github.com/tether-ipc/tether/internal/readyconn"
)

// TrustedAddr is the peer address of a connection accepted on a trusted
// endpoint (ListenTrusted): the endpoint, the client label its callers get,
// and the peer process's user and process ids (-1 where the system does not
// tell).
type TrustedAddr struct {
	Endpoint string // unix:///path
	Label    string
	UID, PID int
	conn     uint64 // tells the connections of one process apart
}

func (a TrustedAddr) Network() string { return "tether-trusted" }
func (a TrustedAddr) String() string {
	if a.PID >= 0 {
		return fmt.Sprintf("%s (label %s, pid %d, uid %d)", a.Endpoint, a.Label, a.PID, a.UID)
	}
	return fmt.Sprintf("%s (label %s)", a.Endpoint, a.Label)
}

// ListenTrusted opens a trusted endpoint for Go services: a Unix socket at
// addr (unix:///path), created mode 0600, whose peers must run as this
// process's user (checked with SO_PEERCRED on Linux; other users are
// disconnected). Every call through it has the client label label —
// whatever its metadata claims — so capabilities apply to it as to any
// client; TrustedEndpoint tells the isolation pattern to accept its calls
// unsealed. Serve the listener with Serve, besides the main one.
func ListenTrusted(addr, label string) (net.Listener, error) {
	network, _, err := netaddr.Parse(addr)
	if err != nil {
		return nil, err
	}
	if network != "unix" {
		return nil, fmt.Errorf("trusted endpoint %q: want a Unix socket, unix:///path", addr)
	}
	if label == "" {
		return nil, fmt.Errorf("trusted endpoint %q: no client label", addr)
	}
	l, err := netaddr.Listen(addr)
	if err != nil {
		return nil, err
	}
	return &trustedListener{Listener: l, endpoint: addr, label: label}, nil
}

type trustedListener struct {
	net.Listener
	endpoint, label string
}

func (l *trustedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	a := TrustedAddr{Endpoint: l.endpoint, Label: l.label, UID: -1, PID: -1}
	if p, ok := c.RemoteAddr().(netaddr.PeerAddr); ok {
		a.UID, a.PID, a.conn = p.UID, p.PID, p.Conn
	}
	return &trustedConn{Conn: readyconn.Wrap(c), addr: a}, nil
}

type trustedConn struct {
	*readyconn.Conn // grpc-go's pooled reads (see package readyconn)
	addr            TrustedAddr
}

func (c *trustedConn) RemoteAddr() net.Addr { return c.addr }

// TrustedEndpoint reports whether the call of ctx came in on a trusted
// endpoint, and which.
func TrustedEndpoint(ctx context.Context) (TrustedAddr, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return TrustedAddr{}, false
	}
	a, ok := p.Addr.(TrustedAddr)
	return a, ok
}
