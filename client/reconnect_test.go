package client_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/tether-ipc/tether"
)

// A core restarted again and again on one TCP address is reached within
// about a second of each restart, however long it was down: the client's reconnect backoff is
// bounded (grpc-go's own default grows to 2 minutes).
func TestReconnectStaysQuickAcrossRestarts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	serve := func() (stop func()) { return startCoreAt(t, addr).stop }
	c := dial(t, addr)
	greet := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Invoke(ctx, "greet", map[string]string{"name": "x"}, nil)
	}
	stop := serve()
	if err := greet(); err != nil {
		t.Fatal(err)
	}
	for round, down := range []time.Duration{1500 * time.Millisecond, 3 * time.Second} {
		stop()
		// Down long enough for grpc-go's default backoff to have grown.
		downUntil := time.Now().Add(down)
		for time.Now().Before(downUntil) {
			if err := greet(); tether.CodeOf(err) != tether.CodeUnavailable {
				t.Fatalf("round %d, core down: %v", round, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop = serve()
		back := time.Now()
		for greet() != nil {
			if time.Since(back) > 1500*time.Millisecond {
				t.Fatalf("round %d: not reconnected %v after the restart", round, time.Since(back))
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("round %d: reconnected %v after the restart", round, time.Since(back).Round(time.Millisecond))
	}
	stop()
}
