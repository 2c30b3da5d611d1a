package readyconn_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/mem"

	"github.com/tether-ipc/tether/internal/readyconn"
)

// countingPool counts the buffers out of the pool.
type countingPool struct {
	mem.BufferPool
	out int
}

func (p *countingPool) Get(n int) *[]byte { p.out++; return p.BufferPool.Get(n) }
func (p *countingPool) Put(b *[]byte)     { p.out--; p.BufferPool.Put(b) }

func pair(t *testing.T, network string) (net.Conn, net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = t.TempDir() + "/s"
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial(network, l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// readAll reads r through ReadOnReady until EOF, checking that every
// buffer not handed out has gone back to the pool.
func readAll(t *testing.T, r readyconn.ReadyReader) []byte {
	t.Helper()
	pool := &countingPool{BufferPool: mem.DefaultBufferPool()}
	var got []byte
	for {
		b, n, err := r.ReadOnReady(4096, pool)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("read: %v", err)
			}
			if pool.out != 0 {
				t.Fatalf("%d buffers not put back", pool.out)
			}
			return got
		}
		got = append(got, (*b)[:n]...)
		pool.Put(b)
	}
}

func TestReadsEverySocketKindAndWrapper(t *testing.T) {
	want := bytes.Repeat([]byte("tether "), 10000) // several reads of 4 KiB
	for _, tc := range []struct {
		name string
		conn func(t *testing.T) (net.Conn, net.Conn)
	}{
		{"tcp", func(t *testing.T) (net.Conn, net.Conn) { return pair(t, "tcp") }},
		{"unix", func(t *testing.T) (net.Conn, net.Conn) { return pair(t, "unix") }},
		{"pipe", func(*testing.T) (net.Conn, net.Conn) { return net.Pipe() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, r := tc.conn(t)
			go func() {
				time.Sleep(20 * time.Millisecond) // the reader waits for readiness first
				w.Write(want)
				w.Close()
			}()
			// A wrapper of a wrapper reads through the inner one.
			if got := readAll(t, readyconn.Wrap(readyconn.Wrap(r))); !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

// A read waiting for data ends with the connection's deadline, and its
// buffer is back in the pool.
func TestDeadline(t *testing.T) {
	_, r := pair(t, "tcp")
	c := readyconn.Wrap(r)
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	pool := &countingPool{BufferPool: mem.DefaultBufferPool()}
	_, _, err := c.ReadOnReady(4096, pool)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err %v, want a timeout", err)
	}
	if pool.out != 0 {
		t.Fatalf("%d buffers not put back", pool.out)
	}
}
