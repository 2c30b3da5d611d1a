package server_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tether-ipc/tether"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/server"
)

// recorder is a test interceptor that records what the chain saw.
type recorder struct {
	mu    sync.Mutex
	calls []seen
}

type seen struct {
	method, command string
	req             proto.Message
}

func (r *recorder) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	call, _ := tether.CallFromContext(ctx)
	m, _ := req.(proto.Message)
	r.mu.Lock()
	r.calls = append(r.calls, seen{info.FullMethod, call.Name, m})
	r.mu.Unlock()
	return h(ctx, req)
}

// One command reached three ways (and in-process) gives one result, and one
// interceptor sees every call with the same method and decoded request.
func TestOneCommandEveryPathOneChain(t *testing.T) {
	rec := &recorder{}
	e := start(t, nil, server.WithInterceptors(rec.unary))
	ctx := context.Background()

	typed, err := demov1.NewDemoClient(e.conn).Greet(ctx, &demov1.GreetRequest{Name: "World"})
	if err != nil {
		t.Fatal(err)
	}
	var byJSON string
	if err := e.cli.Invoke(ctx, "greet", map[string]string{"name": "World"}, &byJSON); err != nil {
		t.Fatal(err)
	}
	byProto := &wrapperspb.StringValue{}
	if err := e.cli.Invoke(ctx, "greet", &demov1.GreetRequest{Name: "World"}, byProto); err != nil {
		t.Fatal(err)
	}
	var inProc string
	if err := e.srv.Invoke(ctx, "greet", json.RawMessage(`{"name":"World"}`), &inProc); err != nil {
		t.Fatal(err)
	}
	for _, got := range []string{typed.GetValue(), byJSON, byProto.GetValue(), inProc} {
		if got != "Hello, World!" {
			t.Errorf("result %q, want %q", got, "Hello, World!")
		}
	}
	if len(rec.calls) != 4 {
		t.Fatalf("interceptor saw %d calls, want 4", len(rec.calls))
	}
	for i, c := range rec.calls {
		if c.method != "/demo.v1.Demo/Greet" || c.command != "greet" {
			t.Errorf("call %d: method %q command %q", i, c.method, c.command)
		}
		if !proto.Equal(c.req, &demov1.GreetRequest{Name: "World"}) {
			t.Errorf("call %d: interceptor saw request %v", i, c.req)
		}
	}
}

// An interceptor's refusal holds on every path: nothing reaches the handler.
func TestInterceptorRefusalHoldsOnEveryPath(t *testing.T) {
	deny := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if c, _ := tether.CallFromContext(ctx); c.Name == "greet" {
			return nil, tether.NewError(tether.CodePermissionDenied, "no greeting")
		}
		return h(ctx, req)
	}
	e := start(t, nil, server.WithInterceptors(deny))
	ctx := context.Background()
	_, err := demov1.NewDemoClient(e.conn).Greet(ctx, &demov1.GreetRequest{Name: "x"})
	errs := []error{
		tether.FromError(err),
		e.cli.Invoke(ctx, "greet", map[string]string{"name": "x"}, nil),
		e.cli.Invoke(ctx, "greet", &demov1.GreetRequest{Name: "x"}, nil),
		e.srv.Invoke(ctx, "greet", nil, nil),
	}
	for i, err := range errs {
		if tether.CodeOf(err) != tether.CodePermissionDenied {
			t.Errorf("path %d: got %v, want permission_denied", i, err)
		}
	}
	var s string
	if err := e.cli.Invoke(ctx, "process_data", map[string]string{"input": "test"}, &s); err != nil || s != "Processed: test" {
		t.Fatalf("process_data = %q, %v", s, err)
	}
}

// JSON arguments match by lowerCamelCase and snake_case, as Tauri's do.
func TestArgumentKeyStyles(t *testing.T) {
	type args struct {
		InvokeMessage string `json:"invoke_message"`
		Count         int    `json:"count,omitempty"`
	}
	e := start(t, func(s *server.Server) {
		server.Handle(s, "say", func(_ context.Context, a args) (string, error) { return a.InvokeMessage, nil })
	})
	for _, body := range []string{`{"invokeMessage":"a"}`, `{"invoke_message":"a"}`} {
		var got string
		if err := e.cli.Invoke(context.Background(), "say", json.RawMessage(body), &got); err != nil || got != "a" {
			t.Errorf("%s: got %q, %v", body, got, err)
		}
	}
	// protojson accepts both forms for proto commands too.
	var got string
	if err := e.cli.Invoke(context.Background(), "greet", json.RawMessage(`{"name":"A"}`), &got); err != nil || got != "Hello, A!" {
		t.Errorf("greet: %q %v", got, err)
	}
}

// A command's own error reaches the caller with its code and details.
func TestCommandErrorDetails(t *testing.T) {
	e := start(t, nil)
	err := e.cli.Invoke(context.Background(), "fail", map[string]string{"reason": "boom"}, nil)
	te := tether.FromError(err)
	if te.Code() != tether.CodeFailedPrecondition || te.Message() != "fail: boom" {
		t.Fatalf("got %v", err)
	}
	var d struct {
		Reason    string `json:"reason"`
		Retryable bool   `json:"retryable"`
	}
	if err := te.DecodeDetails(&d); err != nil || d.Reason != "boom" {
		t.Fatalf("details %s: %+v %v", te.Details(), d, err)
	}
	// The typed path carries the same details.
	_, err = demov1.NewDemoClient(e.conn).Fail(context.Background(), &demov1.FailRequest{Reason: "boom"})
	if got := tether.FromError(err); string(got.Details()) != string(te.Details()) {
		t.Fatalf("typed details %s, by name %s", got.Details(), te.Details())
	}
}

// An emit's target reaches the chain as Call.Target, so interceptors
// (capabilities) can decide on it; an interceptor that sends the emit
// elsewhere after the checks is refused.
func TestEmitTargetReachesTheChain(t *testing.T) {
	var mu sync.Mutex
	var targets []string
	redirect := false
	e := start(t, nil, server.WithInterceptors(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		call, _ := tether.CallFromContext(ctx)
		mu.Lock()
		targets = append(targets, call.Target)
		moved := redirect
		mu.Unlock()
		if r, ok := req.(*tetherv1.EmitRequest); ok && moved {
			r.Target = "elsewhere"
		}
		return h(ctx, req)
	}))
	ctx := context.Background()
	if _, err := e.cli.EmitTo(ctx, "peer", "chat", "hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.Emit(ctx, "chat", "all"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	redirect = true
	mu.Unlock()
	_, err := e.cli.EmitTo(ctx, "peer", "chat", "moved")
	if tether.CodeOf(err) != tether.CodeFailedPrecondition {
		t.Fatalf("a target changed after the checks: %v, want failed_precondition", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(targets) != 3 || targets[0] != "peer" || targets[1] != "" || targets[2] != "peer" {
		t.Fatalf("the chain saw targets %q", targets)
	}
}

// KnownEvent: declared events and those a backend listener asked for;
// never a name a caller made up.
func TestKnownEvent(t *testing.T) {
	e := start(t, nil)
	e.srv.DeclareEvent("typed-event", &wrapperspb.StringValue{})
	if _, err := e.cli.Emit(context.Background(), "made-up", "x"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"frontend-event": true, "typed-event": true, "made-up": false, "*": false} {
		if got := e.srv.KnownEvent(name); got != want {
			t.Errorf("KnownEvent(%q) = %v, want %v", name, got, want)
		}
	}
}
