package gateway

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// pair returns the two ends of a loopback TCP connection.
func pair(t *testing.T) (client, srv net.Conn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	client, err = net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err = lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); srv.Close() })
	return client, srv
}

func waitGone(t *testing.T, gone *atomic.Int32, want int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for gone.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("gone called %d times, want %d", gone.Load(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func testHangups(t *testing.T, h *hangups) {
	var gone [3]atomic.Int32
	var clients, srvs [3]net.Conn
	var stops [3]func()
	for i := range 3 {
		clients[i], srvs[i] = pair(t)
		stops[i] = h.watch(srvs[i], func() { gone[i].Add(1) })
	}
	// A client that closes, one that sends bytes, one watched no more.
	clients[0].Close()
	waitGone(t, &gone[0], 1)
	if _, err := clients[1].Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	waitGone(t, &gone[1], 1)
	stops[2]()
	srvs[2].Close()
	clients[2].Close()
	time.Sleep(50 * time.Millisecond)
	if n := gone[2].Load(); n != 0 && h.p != nil {
		t.Fatalf("a stopped watch was called %d times", n)
	}
	for i := range 2 {
		stops[i]()
		srvs[i].Close()
	}
	h.close()
	if gone[0].Load() != 1 || gone[1].Load() != 1 {
		t.Fatalf("gone called %d and %d times, want once each", gone[0].Load(), gone[1].Load())
	}
}

func TestHangupsPoller(t *testing.T) {
	h := &hangups{}
	h.once.Do(func() { h.p = newPoller(&h.wg) })
	if h.p == nil {
		t.Skip("no poller on this system")
	}
	testHangups(t, h)
}

func TestHangupsReaders(t *testing.T) {
	h := &hangups{}
	h.once.Do(func() {}) // no poller: a reader per connection
	testHangups(t, h)
}
