// Package readyconn lets a wrapped connection keep grpc-go's pooled reads.
//
// grpc-go reads a connection through a buffer of grpc.ReadBufferSize bytes.
// For the standard library's socket types it takes that buffer from a pool
// only once the socket is readable, and gives it back when it has been
// read, so an idle connection holds none. Any other net.Conn — such as a
// wrapper that names the peer or notices the close — gets a bufio.Reader of
// that size for its whole life, unless it has a method
//
//	ReadOnReady(size int, pool mem.BufferPool) (*[]byte, int, error)
//
// (grpc-go's transport looks for it by that shape). Conn gives a wrapper
// that method. If a later grpc-go stops looking for it, reads still work:
// they go through Read and a buffer per connection again.
package readyconn

import (
	"io"
	"net"
	"syscall"

	"google.golang.org/grpc/mem"
)

// ReadyReader is what grpc-go's transport looks for on a connection.
type ReadyReader interface {
	ReadOnReady(size int, pool mem.BufferPool) (*[]byte, int, error)
}

// Conn is a net.Conn whose reads take their buffer from the caller's pool
// only once there is data. Embed it in a wrapper in place of net.Conn.
type Conn struct {
	net.Conn
	inner ReadyReader     // the wrapped conn reads on ready itself: delegate to it
	raw   syscall.RawConn // else the socket's file descriptor, if any

	// The read in progress (grpc-go reads a connection from one goroutine):
	// kept here so that a read makes no closure.
	size   int
	pool   mem.BufferPool
	buf    *[]byte
	n      int
	err    error
	readFn func(fd uintptr) bool // w.readFD, made once
}

// Wrap returns a Conn reading c.
func Wrap(c net.Conn) *Conn {
	w := &Conn{Conn: c}
	if r, ok := c.(ReadyReader); ok {
		w.inner = r
		return w
	}
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn: // plain sockets; a TLS conn's bytes are not its socket's
		if raw, err := c.(syscall.Conn).SyscallConn(); err == nil {
			w.raw = raw
			w.readFn = w.readFD
		}
	}
	return w
}

// ReadOnReady waits until the connection is readable, then reads up to
// size bytes into a buffer from pool. The caller puts the buffer back.
func (c *Conn) ReadOnReady(size int, pool mem.BufferPool) (*[]byte, int, error) {
	if c.inner != nil {
		return c.inner.ReadOnReady(size, pool)
	}
	if c.raw == nil { // not a socket: a blocking read into a pooled buffer
		buf := pool.Get(size)
		n, err := c.Conn.Read(*buf)
		if n == 0 {
			pool.Put(buf)
			if err == nil {
				err = io.ErrNoProgress
			}
			return nil, 0, err
		}
		return buf, n, nil // the error, if any, shows at the next read
	}
	c.size, c.pool = size, pool
	err := c.raw.Read(c.readFn)
	buf, n, rerr := c.buf, c.n, c.err
	c.buf, c.pool, c.err = nil, nil, nil
	switch {
	case err != nil: // closed, or a deadline passed
		if buf != nil {
			pool.Put(buf)
		}
		return nil, 0, err
	case rerr != nil:
		return nil, 0, rerr
	case n == 0: // the peer closed its end
		pool.Put(buf)
		return nil, 0, io.EOF
	}
	return buf, n, nil
}

// readFD is called by the runtime's poller: first straight away, then
// each time the socket becomes readable, until it returns true.
func (c *Conn) readFD(fd uintptr) bool {
	c.buf = c.pool.Get(c.size)
	n, err := syscall.Read(int(fd), *c.buf)
	for err == syscall.EINTR { // a signal came first: read again, as package net does
		n, err = syscall.Read(int(fd), *c.buf)
	}
	if err == syscall.EAGAIN || err == syscall.EWOULDBLOCK {
		c.pool.Put(c.buf)
		c.buf = nil
		return false // nothing yet: wait for readiness
	}
	c.n, c.err = n, err
	if err != nil {
		c.pool.Put(c.buf)
		c.buf, c.n = nil, 0
	}
	return true
}
