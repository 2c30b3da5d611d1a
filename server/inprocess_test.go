package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/examples/demo"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/inproc"
	"github.com/tether-ipc/tether/server"
)

// A unary call on an in-process connection sees what it would over the
// wire: the wire interceptors with the IPC method, a copy of the request,
// incoming metadata with the transport's keys, no values of the caller's
// context, the caller's deadline, and errors as statuses; oversized
// requests fail as the server's limit says.
func TestInProcessUnaryLikeWire(t *testing.T) {
	type key struct{}
	var methods []string
	var md metadata.MD
	var leaked any
	var hasDeadline bool
	wire := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		methods = append(methods, info.FullMethod)
		md, _ = metadata.FromIncomingContext(ctx)
		leaked = ctx.Value(key{})
		_, hasDeadline = ctx.Deadline()
		if r, ok := req.(*tetherv1.InvokeRequest); ok {
			r.Command = r.Command + "" // a copy: changing it must not reach the caller
			r.IdempotencyKey = "changed"
		}
		return h(ctx, req)
	}
	srv := server.New(server.WithWireInterceptors(wire, nil), server.WithLimits(server.Limits{MaxMessageBytes: 1 << 10}))
	server.Handle(srv, "fail", func(context.Context, struct{}) (string, error) {
		return "", tether.NewError(tether.CodeNotFound, "nope").WithDetails(map[string]int{"n": 1})
	})
	server.Handle(srv, "ok", func(context.Context, struct{}) (string, error) { return "yes", nil })
	conn, err := srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), key{}, "secret"), time.Minute)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "x-tether-a", "1")
	req := &tetherv1.InvokeRequest{Command: "ok"}
	var header metadata.MD
	res, err := tetherv1.NewIPCClient(conn).Invoke(ctx, req, grpc.Header(&header))
	if err != nil || string(res.GetResult().GetJson()) != `"yes"` {
		t.Fatalf("ok: %v %v", res, err)
	}
	if req.IdempotencyKey != "" {
		t.Fatal("the server changed the caller's request")
	}
	if len(methods) != 1 || methods[0] != "/tether.v1.IPC/Invoke" {
		t.Fatalf("wire interceptor saw %v", methods)
	}
	if leaked != nil || !hasDeadline {
		t.Fatalf("handler context: caller value %v, deadline %v", leaked, hasDeadline)
	}
	for _, k := range []string{"x-tether-a", ":authority", "content-type", "user-agent"} {
		if len(md.Get(k)) == 0 {
			t.Fatalf("incoming metadata %v lacks %s", md, k)
		}
	}
	if len(header.Get("content-type")) == 0 {
		t.Fatalf("header %v", header)
	}

	err = client.New(conn).Invoke(context.Background(), "fail", nil, nil)
	if te := tether.FromError(err); te.Code() != tether.CodeNotFound || string(te.Details()) != `{"n":1}` {
		t.Fatalf("fail: %v", err)
	}
	if _, ok := status.FromError(err); !ok {
		t.Fatalf("fail: not a status: %T", err)
	}

	big := &tetherv1.InvokeRequest{Command: "ok", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: make([]byte, 2<<10)}}}
	if _, err := tetherv1.NewIPCClient(conn).Invoke(context.Background(), big); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized request: %v", err)
	}
}

// With inproc.HandOff the request and the reply cross the direct path
// without copies: the wire interceptors get the caller's payload itself,
// and the caller the reply's result as the core made it.
func TestInProcessHandOffShares(t *testing.T) {
	var seen *tetherv1.Payload
	var sent *tetherv1.Payload
	wire := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		seen = req.(*tetherv1.InvokeRequest).GetArgs()
		res, err := h(ctx, req)
		if r, ok := res.(*tetherv1.InvokeResponse); ok {
			sent = r.GetResult()
		}
		return res, err
	}
	srv := server.New(server.WithWireInterceptors(wire, nil))
	server.Handle(srv, "echo", func(_ context.Context, b []byte) ([]byte, error) { return b, nil })
	conn, err := srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	defer conn.Close()
	args := &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: []byte("abc")}}
	for _, handOff := range []bool{false, true} {
		var opts []grpc.CallOption
		if handOff {
			opts = append(opts, inproc.HandOff{})
		}
		res, err := tetherv1.NewIPCClient(conn).Invoke(context.Background(), &tetherv1.InvokeRequest{Command: "echo", Args: args}, opts...)
		if err != nil || string(res.GetResult().GetRaw()) != "abc" {
			t.Fatalf("handOff %v: %v %v", handOff, res, err)
		}
		if (seen == args) != handOff || (res.GetResult() == sent) != handOff {
			t.Errorf("handOff %v: request shared %v, reply shared %v", handOff, seen == args, res.GetResult() == sent)
		}
	}
}

// The command chain of a proto command, bound once to its method, sees the
// decoded arguments, its info, and hands the handler the request as the
// chain leaves it: an interceptor that replaces the request is heard.
func TestProtoCommandChainReplacesRequest(t *testing.T) {
	var methods []string
	rewrite := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		methods = append(methods, info.FullMethod)
		if r, ok := req.(*demov1.GreetRequest); ok {
			req = &demov1.GreetRequest{Name: r.GetName() + " (checked)"}
		}
		return h(ctx, req)
	}
	srv := server.New(server.WithInterceptors(rewrite))
	demov1.RegisterDemoServer(srv, demo.New(t.TempDir()))
	defer srv.Stop()
	for range 2 {
		var out string
		if err := srv.Invoke(context.Background(), "greet", map[string]string{"name": "World"}, &out); err != nil {
			t.Fatal(err)
		}
		if out != "Hello, World (checked)!" {
			t.Fatalf("greet: %q", out)
		}
	}
	if len(methods) != 2 || methods[0] != "/demo.v1.Demo/Greet" {
		t.Fatalf("interceptor saw %v", methods)
	}
}

// The caller's send limit (grpc.MaxCallSendMsgSize) holds on the direct
// paths as over the wire: a unary call and a push stream with a larger
// request fail with resource_exhausted, and the handler never runs.
func TestInProcessCallerSendLimit(t *testing.T) {
	ran := 0
	srv := server.New()
	server.Handle(srv, "ok", func(context.Context, struct{}) (string, error) { ran++; return "yes", nil })
	conn, err := srv.DialInProcess(grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	defer conn.Close()
	big := &tetherv1.InvokeRequest{Command: "ok", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: make([]byte, 100)}}}
	for _, handOff := range []bool{false, true} {
		var opts []grpc.CallOption
		if handOff {
			opts = append(opts, inproc.HandOff{})
		}
		if _, err := tetherv1.NewIPCClient(conn).Invoke(context.Background(), big, opts...); status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("unary (hand-off %v) over the caller's send limit: %v", handOff, err)
		}
	}
	push := &inproc.Push{Send: func(any) error { return nil }}
	listen := &tetherv1.ListenRequest{Events: []string{strings.Repeat("e", 100)}}
	stream, err := tetherv1.NewIPCClient(conn).Listen(context.Background(), listen, push)
	if !push.Taken {
		t.Fatal("the push stream was not taken")
	}
	if err == nil {
		err = stream.RecvMsg(new(tetherv1.ListenResponse))
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("push stream over the caller's send limit: %v", err)
	}
	if ran != 0 {
		t.Fatalf("the handler ran %d times", ran)
	}
	if _, err := tetherv1.NewIPCClient(conn).Invoke(context.Background(), &tetherv1.InvokeRequest{Command: "ok"}); err != nil {
		t.Fatalf("a small call: %v", err)
	}
}
