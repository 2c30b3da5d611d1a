package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/server"
)

// flakyBus is a Memory bus whose health the test sets, as natsbus's
// follows its NATS connection.
type flakyBus struct {
	*bus.Memory
	mu       sync.Mutex
	err      error
	watchers []func(error)
}

func (b *flakyBus) Healthy() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *flakyBus) NotifyHealth(f func(error)) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.watchers = append(b.watchers, f)
	return func() {}
}

func (b *flakyBus) set(err error) {
	b.mu.Lock()
	b.err = err
	ws := b.watchers
	b.mu.Unlock()
	if err != nil {
		b.Interrupt(err)
	}
	for _, f := range ws {
		f(err)
	}
}

// The health service follows the bus: NOT_SERVING while it is down, with
// listen streams ended with unavailable; SERVING again once it is back.
func TestHealthFollowsBus(t *testing.T) {
	fb := &flakyBus{Memory: bus.NewMemory()}
	e := start(t, nil, server.WithBus(fb))
	hc := healthpb.NewHealthClient(e.conn)
	status := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetStatus()
	}
	if s := status(); s != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status %v, want SERVING", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := tetherv1.NewIPCClient(e.conn).Listen(ctx, &tetherv1.ListenRequest{Events: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	down := tether.NewError(tether.CodeUnavailable, "bus down: move")
	fb.set(down)
	if s := status(); s != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("status %v with the bus down, want NOT_SERVING", s)
	}
	if _, err := stream.Recv(); tether.CodeOf(err) != tether.CodeUnavailable {
		t.Fatalf("listen stream ended with %v, want unavailable", err)
	}
	fb.set(nil)
	if s := status(); s != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status %v with the bus back, want SERVING", s)
	}
}
