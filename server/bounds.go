package server

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/internal/netaddr"
	"github.com/tether-ipc/tether/internal/readyconn"
)

// Defaults of the stream bounds in Limits.
const (
	DefaultMaxStreamsPerConn   = 256
	DefaultMaxStreamsPerCaller = 512
	DefaultStreamWriteTimeout  = 60 * time.Second
)

// maxRelayedID bounds the caller and connection names a trusted front may
// give; longer or unprintable ones are ignored.
const maxRelayedID = 128

// callerIDs names the connection a call came over and its caller (see
// tether.Call's Conn and Caller): from the transport, or, for a call that
// a trusted front relays, from what the front says.
func callerIDs(ctx context.Context) (conn, caller string) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown", "unknown"
	}
	switch a := p.Addr.(type) {
	case *net.TCPAddr:
		conn, caller = "tcp:"+a.String(), "host:"+a.IP.String()
	case netaddr.PeerAddr:
		conn, caller = socketConnName(a), processName(a.PID)
	case TrustedAddr:
		// A trusted endpoint's callers are its processes, whatever they say.
		return socketConnName(a), processName(a.PID)
	case InProcessAddr:
		conn, caller = "in-process", "in-process"
	default:
		conn = a.Network() + ":" + a.String()
		caller = conn
	}
	if trustedPeer(p.Addr) {
		if v := firstValue(ctx, tether.MetadataConn); relayedID(v) {
			conn = v
		}
		if v := firstValue(ctx, tether.MetadataCaller); relayedID(v) {
			caller = v
		}
	}
	return conn, caller
}

func processName(pid int) string {
	if pid < 0 {
		return "unix"
	}
	return "pid:" + strconv.Itoa(pid)
}

// relayedID reports whether a front's caller or connection name is usable:
// non-empty, short, printable ASCII.
func relayedID(s string) bool {
	if s == "" || len(s) > maxRelayedID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// streamGate counts the open server streams (listen, channel, and any
// other server-streaming method) of each connection and each caller, and
// refuses a stream beyond either bound, so that one caller cannot take the
// slots every other caller needs. It is the first of the server's wire
// stream interceptors, so it holds on every path: gRPC, in-process, and the
// gateway's pushed streams.
type streamGate struct {
	perConn, perCaller int

	mu      sync.Mutex
	conns   map[string]int
	callers map[string]int
}

func newStreamGate(l Limits) *streamGate {
	return &streamGate{perConn: l.MaxStreamsPerConn, perCaller: l.MaxStreamsPerCaller,
		conns: map[string]int{}, callers: map[string]int{}}
}

func (g *streamGate) intercept(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !info.IsServerStream {
		return handler(srv, ss)
	}
	conn, caller := callerIDs(ss.Context())
	if err := g.take(conn, caller); err != nil {
		return err
	}
	defer g.release(conn, caller)
	return handler(srv, ss)
}

func (g *streamGate) take(conn, caller string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.conns[conn]; n >= g.perConn {
		return tether.Errorf(tether.CodeResourceExhausted,
			"this connection has %d streams open, the most allowed: close one, or open another connection", n)
	}
	if n := g.callers[caller]; n >= g.perCaller {
		return tether.Errorf(tether.CodeResourceExhausted, "this caller has %d streams open, the most allowed: close one first", n)
	}
	g.conns[conn]++
	g.callers[caller]++
	return nil
}

func (g *streamGate) release(conn, caller string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conns[conn]--; g.conns[conn] <= 0 {
		delete(g.conns, conn)
	}
	if g.callers[caller]--; g.callers[caller] <= 0 {
		delete(g.callers, caller)
	}
}

// sendGuard ends a server stream whose send has waited StreamWriteTimeout
// for the client to read. grpc-go's SendMsg blocks while the client's
// flow-control window is full, until the client reads or the call or its
// connection ends. So at the stall the connection is closed: that unblocks
// the send, and frees what the transport queued for the stream (a client
// could otherwise stall stream after stream). The handler runs on the
// stream's goroutine; only for a connection the server cannot close (not
// one of its listeners') does it run on a goroutine of its own, which this
// one leaves at the stall, ending the call.
func (s *Server) sendGuard(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	d := s.opts.limits.StreamWriteTimeout
	if !info.IsServerStream || d <= 0 {
		return handler(srv, ss)
	}
	p, _ := peer.FromContext(ss.Context())
	g := &guardedStream{ServerStream: ss, wait: d}
	stalled := func() error {
		s.log.Warn("tether: a client read nothing of a stream for the write timeout; the stream ends", "method", info.FullMethod, "timeout", d)
		return tether.Errorf(tether.CodeResourceExhausted, "the client read nothing for %s: the stream is closed", d)
	}
	if c := s.conns.get(p); c != nil {
		// The handler runs inline; at a stall the timer closes the
		// connection, which fails the blocked send.
		var fired atomic.Bool
		g.timer = time.AfterFunc(time.Hour, func() { fired.Store(true); c.Close() })
		g.timer.Stop()
		err := handler(srv, g)
		g.timer.Stop()
		if fired.Load() {
			return stalled()
		}
		return err
	}
	ch := make(chan struct{})
	g.timer = time.AfterFunc(time.Hour, func() { close(ch) })
	g.timer.Stop()
	done := make(chan error, 1)
	go func() { done <- handler(srv, g) }()
	select {
	case err := <-done:
		g.timer.Stop()
		return err
	case <-ch:
		return stalled()
	}
}

// guardedStream arms the stall timer around each SendMsg. Sends on one
// stream never overlap (grpc-go's rule), so one timer serves them all.
type guardedStream struct {
	grpc.ServerStream
	timer *time.Timer
	wait  time.Duration
}

func (g *guardedStream) SendMsg(m any) error {
	g.timer.Reset(g.wait)
	err := g.ServerStream.SendMsg(m)
	g.timer.Stop()
	return err
}

// connSet holds the connections a Server serves (over its own listeners),
// by their addresses, so that sendGuard can close the one a stalled stream
// came over.
type connSet struct {
	mu sync.Mutex
	m  map[string]net.Conn
}

func connKey(local, remote net.Addr) string {
	if local == nil || remote == nil {
		return ""
	}
	r := socketConnName(remote)
	if r == "" {
		r = remote.String()
	}
	return local.Network() + ":" + local.String() + "|" + r
}

// socketConnName names a connection accepted on a Unix socket (a plain or
// a trusted one) by its number, which tells it from the process's other
// connections; "" for any other address.
func socketConnName(a net.Addr) string {
	switch a := a.(type) {
	case netaddr.PeerAddr:
		return "unix#" + strconv.FormatUint(a.Conn, 10)
	case TrustedAddr:
		return "trusted#" + strconv.FormatUint(a.conn, 10)
	}
	return ""
}

func (cs *connSet) add(c net.Conn) (key string) {
	key = connKey(c.LocalAddr(), c.RemoteAddr())
	if key == "" {
		return ""
	}
	cs.mu.Lock()
	if cs.m == nil {
		cs.m = map[string]net.Conn{}
	}
	cs.m[key] = c
	cs.mu.Unlock()
	return key
}

func (cs *connSet) remove(key string, c net.Conn) {
	cs.mu.Lock()
	if cs.m[key] == c {
		delete(cs.m, key)
	}
	cs.mu.Unlock()
}

// get returns the tracked connection of the stream's peer p, or nil (no
// peer, or a connection this server did not accept: in-process).
func (cs *connSet) get(p *peer.Peer) net.Conn {
	if p == nil {
		return nil
	}
	key := connKey(p.LocalAddr, p.Addr)
	if key == "" {
		return nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.m[key]
}

// trackedListener records each accepted connection in a connSet until it
// closes.
type trackedListener struct {
	net.Listener
	set *connSet
}

func (l trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	t := &trackedConn{Conn: readyconn.Wrap(c), set: l.set}
	t.key = l.set.add(t)
	return t, nil
}

type trackedConn struct {
	*readyconn.Conn // grpc-go's pooled reads (see package readyconn)
	set             *connSet
	key             string
	once            sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.set.remove(c.key, c) })
	return c.Conn.Close()
}
