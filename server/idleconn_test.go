package server_test

import (
	"context"
	"runtime"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// An idle connection holds no transport read buffer: grpc-go takes it from
// a pool only while there is data to read, which it does for the server's
// wrapped connections too (internal/readyconn). Without that, each idle
// connection keeps server.TransportBuffers (256 KiB) for its whole life.
func TestIdleConnectionsHoldNoReadBuffer(t *testing.T) {
	e := start(t, nil)
	const conns = 100
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for range conns {
		c := dialTCP(t, e) // closed at cleanup
		if _, err := healthpb.NewHealthClient(c).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	after := heap()
	per := (int64(after) - int64(before)) / conns
	t.Logf("heap per idle connection, both ends: %d bytes", per)
	if per > 96<<10 {
		t.Fatalf("each idle connection holds %d bytes of heap, client and server together; a read buffer each is %d", per, 256<<10)
	}
}
