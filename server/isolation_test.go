package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/examples/demo"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/server"
)

// In isolation mode the core opens and verifies every IPC call before the
// chain runs: the in-process front with the stage gets through (and the
// handler sees Call.Sealed); a process dialing the core's port directly is
// refused on every method, typed ones included, and no handler runs.
func TestIsolationCore(t *testing.T) {
	key, err := isolation.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	opener, err := isolation.NewOpener(key)
	if err != nil {
		t.Fatal(err)
	}
	var ran, sealedSeen int
	var mu sync.Mutex
	srv := server.New(
		server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		server.WithWireInterceptors(isolation.UnaryServerInterceptor(opener), isolation.StreamServerInterceptor(opener)),
	)
	demo.New(t.TempDir()).Register(srv)
	server.Handle(srv, "probe", func(ctx context.Context, _ struct{}) (string, error) {
		c, _ := tether.CallFromContext(ctx)
		mu.Lock()
		ran++
		if c.Sealed {
			sealedSeen++
		}
		mu.Unlock()
		return "ok", nil
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); srv.Serve(lis) }()
	defer wg.Wait()
	defer srv.Stop()

	policy, err := (&isolation.Policy{Commands: []string{"probe", "greet"}}).Hook()
	if err != nil {
		t.Fatal(err)
	}
	stage, err := isolation.NewStage(key, policy)
	if err != nil {
		t.Fatal(err)
	}
	front, err := srv.DialInProcess(
		isolation.DialOptions(stage)...)
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	fc := client.New(front)
	ctx := client.WithClientLabel(context.Background(), "main", "http://127.0.0.1:7400")
	var got string
	if err := fc.Invoke(ctx, "probe", nil, &got); err != nil || got != "ok" {
		t.Fatalf("sealed invoke: %q %v", got, err)
	}
	if err := fc.Invoke(ctx, "greet", json.RawMessage(`{"name":"Iso"}`), &got); err != nil || got != "Hello, Iso!" {
		t.Fatalf("sealed greet: %q %v", got, err)
	}
	// The policy hook blocks what it does not list, at once.
	if err := fc.Invoke(ctx, "read_file", map[string]string{"path": "x"}, nil); tether.CodeOf(err) != tether.CodePermissionDenied {
		t.Fatalf("blocked command: %v", err)
	}

	direct, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	dc := client.New(direct)
	_, typedErr := demov1.NewDemoClient(direct).Greet(context.Background(), &demov1.GreetRequest{Name: "x"})
	_, emitErr := dc.Emit(context.Background(), "frontend-event", map[string]string{"message": "x"})
	_, listenErr := dc.Listen(context.Background(), []string{"backend-event"}, func(client.Event) {})
	for name, err := range map[string]error{
		"unsealed invoke": dc.Invoke(context.Background(), "probe", nil, nil),
		"typed method":    tether.FromError(typedErr),
		"unsealed emit":   emitErr,
		"unsealed listen": listenErr,
	} {
		if c := tether.CodeOf(err); c != tether.CodePermissionDenied {
			t.Errorf("%s: %v, want permission_denied", name, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if ran != 1 || sealedSeen != 1 {
		t.Fatalf("probe ran %d times (%d sealed), want exactly the one sealed call", ran, sealedSeen)
	}
}
