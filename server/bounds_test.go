package server_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/server"
)

// dialTCP opens another connection to the server e serves.
func dialTCP(t *testing.T, e *env, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(e.conn.Target(), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// listen opens a Listen stream on conn and waits until it is subscribed
// (or refused).
func listen(ctx context.Context, conn grpc.ClientConnInterface) error {
	s, err := tetherv1.NewIPCClient(conn).Listen(ctx, &tetherv1.ListenRequest{Events: []string{"x"}})
	if err != nil {
		return err
	}
	md, err := s.Header()
	if err == nil && len(md.Get(tether.MetadataSubscribed)) == 0 {
		_, err = s.Recv()
	}
	return err
}

// One connection may hold MaxStreamsPerConn streams and one caller
// MaxStreamsPerCaller: the stream beyond is resource_exhausted, and the
// slots come back when streams end.
func TestStreamBoundsPerConnAndCaller(t *testing.T) {
	e := start(t, nil, server.WithLimits(server.Limits{MaxStreamsPerConn: 3, MaxStreamsPerCaller: 4}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := dialTCP(t, e)
	for i := range 3 {
		if err := listen(ctx, a); err != nil {
			t.Fatalf("listen %d: %v", i, err)
		}
	}
	if err := listen(ctx, a); tether.CodeOf(err) != tether.CodeResourceExhausted {
		t.Fatalf("a fourth stream on one connection: %v, want resource_exhausted", err)
	}
	// The same caller (host 127.0.0.1) on another connection: one more.
	b := dialTCP(t, e)
	if err := listen(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := listen(ctx, b); tether.CodeOf(err) != tether.CodeResourceExhausted {
		t.Fatalf("a fifth stream of one caller: %v, want resource_exhausted", err)
	}
	// Channels count as well.
	err := client.New(b).Channel(ctx, "count", map[string]int{"to": 1}, func(client.ChannelMessage) error { return nil })
	if tether.CodeOf(err) != tether.CodeResourceExhausted {
		t.Fatalf("a channel beyond the bound: %v, want resource_exhausted", err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := listen(context.Background(), dialTCP(t, e))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slots did not come back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Callers a trusted front relays (the gateway's pages and HTTP clients)
// are bounded each on its own: one that takes all its slots leaves the
// others theirs, though they share the front's one connection and a label.
func TestStreamBoundsPerRelayedCaller(t *testing.T) {
	e := start(t, nil, server.WithLimits(server.Limits{MaxStreamsPerCaller: 2}))
	conn, err := e.srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	as := func(caller, c string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, tether.MetadataClientLabel, "main", tether.MetadataCaller, caller, tether.MetadataConn, c)
	}
	for i := range 2 {
		if err := listen(as("bearer:127.0.0.1", "c1"), conn); err != nil {
			t.Fatalf("listen %d: %v", i, err)
		}
	}
	if err := listen(as("bearer:127.0.0.1", "c2"), conn); tether.CodeOf(err) != tether.CodeResourceExhausted {
		t.Fatalf("a third stream of one relayed caller: %v, want resource_exhausted", err)
	}
	if err := listen(as("session:page", "c3"), conn); err != nil {
		t.Fatalf("another caller of the same label through the same front: %v", err)
	}
}

// A gRPC stream whose client stops reading ends after StreamWriteTimeout:
// the handler returns (its goroutine goes), the connection is closed, and
// the caller's slots come back. Without the timeout the handler stays
// blocked in SendMsg for as long as the client keeps the connection.
func TestStreamWriteTimeout(t *testing.T) {
	e := start(t, nil, server.WithLimits(server.Limits{StreamWriteTimeout: 300 * time.Millisecond, MaxStreamsPerCaller: 8}))
	before := runtime.NumGoroutine()
	// A small fixed window, so that the server's sends block soon.
	conn := dialTCP(t, e, grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ipc := tetherv1.NewIPCClient(conn)
	var streams []tetherv1.IPC_ChannelClient
	for range 8 {
		s, err := ipc.Channel(ctx, &tetherv1.InvokeRequest{Command: "count", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(`{"to":1000000}`)}}})
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s) // never read
	}
	// The stalled streams end and their connection is closed, which frees
	// what the transport queued for them.
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	for st := conn.GetState(); st == connectivity.Ready; st = conn.GetState() {
		if !conn.WaitForStateChange(sctx, st) {
			t.Fatal("the stalled streams' connection is still open after 5s")
		}
	}
	scancel()
	// Reading now ends with an error after what the client had buffered,
	// not with a million counts.
	for _, s := range streams {
		got := 0
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
			if got++; got >= 1_000_000 {
				t.Fatal("a stalled stream went on")
			}
		}
	}
	// The caller's slots are back once the stalled handlers returned: all
	// eight at once.
	probe := dialTCP(t, e)
	deadline := time.Now().Add(10 * time.Second)
	for {
		lctx, lcancel := context.WithCancel(context.Background())
		var err error
		for i := 0; i < 8 && err == nil; i++ {
			err = listen(lctx, probe)
		}
		lcancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stalled streams still held after 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	conn.Close()
	probe.Close()
	for runtime.NumGoroutine() > before+4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, were %d before the streams", runtime.NumGoroutine(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
