package isolation_test

import (
	"bytes"
	"context"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/internal/jsonargs"
)

// regexp2's match clock, which a hook's regular expressions start, stops by
// itself a second after the last match with a time limit.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/dlclark/regexp2/v2.runClock"))
}

// fakeIPC is a tiny IPC service that records each request its handlers ran
// for, and whether the interceptor marked it sealed.
type fakeIPC struct {
	tetherv1.UnimplementedIPCServer
	demov1.UnimplementedDemoServer

	runs     atomic.Int64
	mu       sync.Mutex
	invokes  []*tetherv1.InvokeRequest
	emits    []*tetherv1.EmitRequest
	listens  []*tetherv1.ListenRequest
	sealedOK []bool
}

func (f *fakeIPC) ran(ctx context.Context) {
	f.runs.Add(1)
	f.mu.Lock()
	f.sealedOK = append(f.sealedOK, isolation.FromSealed(ctx))
	f.mu.Unlock()
}

func (f *fakeIPC) Invoke(ctx context.Context, r *tetherv1.InvokeRequest) (*tetherv1.InvokeResponse, error) {
	f.ran(ctx)
	f.mu.Lock()
	f.invokes = append(f.invokes, r)
	f.mu.Unlock()
	if r.GetCommand() == "echo" { // the args it got, copied
		return &tetherv1.InvokeResponse{Result: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: bytes.Clone(r.GetArgs().GetJson())}}}, nil
	}
	return &tetherv1.InvokeResponse{Result: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(`"ok"`)}}}, nil
}

func (f *fakeIPC) Channel(r *tetherv1.InvokeRequest, s grpc.ServerStreamingServer[tetherv1.ChannelMessage]) error {
	f.ran(s.Context())
	f.mu.Lock()
	f.invokes = append(f.invokes, r)
	f.mu.Unlock()
	return s.Send(&tetherv1.ChannelMessage{Index: 0, End: true})
}

func (f *fakeIPC) Emit(ctx context.Context, r *tetherv1.EmitRequest) (*tetherv1.EmitResponse, error) {
	f.ran(ctx)
	f.mu.Lock()
	f.emits = append(f.emits, r)
	f.mu.Unlock()
	return &tetherv1.EmitResponse{Id: 1}, nil
}

func (f *fakeIPC) Listen(r *tetherv1.ListenRequest, s grpc.ServerStreamingServer[tetherv1.ListenResponse]) error {
	f.ran(s.Context())
	f.mu.Lock()
	f.listens = append(f.listens, r)
	f.mu.Unlock()
	return nil
}

// fakeCommands describes the commands the tests call: the demo's, with their
// real argument shapes, and others that bind any JSON.
func fakeCommands() []*tetherv1.CommandInfo {
	msg := func(m proto.Message) *tetherv1.ArgShape {
		return jsonargs.ShapeOfMessage(m.ProtoReflect().Descriptor()).Proto()
	}
	anyArgs := &tetherv1.ArgShape{Nodes: []*tetherv1.ArgNode{{}}}
	out := []*tetherv1.CommandInfo{
		{Name: "greet", Kind: tetherv1.CommandInfo_KIND_UNARY, ArgsShape: msg(&demov1.GreetRequest{})},
		{Name: "read_file", Kind: tetherv1.CommandInfo_KIND_UNARY, ArgsShape: msg(&demov1.ReadFileRequest{})},
		{Name: "process_data", Kind: tetherv1.CommandInfo_KIND_UNARY, ArgsShape: msg(&demov1.ProcessDataRequest{})},
		{Name: "count", Kind: tetherv1.CommandInfo_KIND_CHANNEL, ArgsShape: msg(&demov1.CountRequest{})},
		{Name: "upload", Kind: tetherv1.CommandInfo_KIND_UNARY}, // raw bytes
	}
	for _, name := range []string{"echo", "c", "e", "h", "n", "p", "rm", "save", "spawn", "up"} {
		out = append(out, &tetherv1.CommandInfo{Name: name, Kind: tetherv1.CommandInfo_KIND_UNARY, ArgsShape: anyArgs})
	}
	return out
}

func (f *fakeIPC) ListCommands(context.Context, *tetherv1.ListCommandsRequest) (*tetherv1.ListCommandsResponse, error) {
	return &tetherv1.ListCommandsResponse{Commands: fakeCommands()}, nil
}

func (f *fakeIPC) Greet(ctx context.Context, r *demov1.GreetRequest) (*wrapperspb.StringValue, error) {
	f.ran(ctx)
	return &wrapperspb.StringValue{}, nil
}

// core is a gRPC server with the isolation server interceptors and a fake
// IPC service, reachable through conn (no client interceptors: the tests
// play the attacker or add the stage themselves).
type core struct {
	fake   *fakeIPC
	key    *isolation.Key
	opener *isolation.Opener
	dial   func(t *testing.T, opts ...grpc.DialOption) *grpc.ClientConn
}

func newCore(t *testing.T, unix bool, sopts ...isolation.ServerOption) *core {
	t.Helper()
	key, err := isolation.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	opener, err := isolation.NewOpener(key)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeIPC{}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(isolation.UnaryServerInterceptor(opener, sopts...)),
		grpc.ChainStreamInterceptor(isolation.StreamServerInterceptor(opener, sopts...)),
	)
	tetherv1.RegisterIPCServer(srv, fake)
	demov1.RegisterDemoServer(srv, fake)

	var lis net.Listener
	var target string
	var dialer func(context.Context, string) (net.Conn, error)
	if unix {
		path := filepath.Join(t.TempDir(), "core.sock")
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		lis, target = l, "unix://"+path
	} else {
		bl := bufconn.Listen(1 << 20)
		lis, target = bl, "passthrough:///bufnet"
		dialer = func(ctx context.Context, _ string) (net.Conn, error) { return bl.DialContext(ctx) }
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	c := &core{fake: fake, key: key, opener: opener}
	c.dial = func(t *testing.T, opts ...grpc.DialOption) *grpc.ClientConn {
		t.Helper()
		opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
		if dialer != nil {
			opts = append(opts, grpc.WithContextDialer(dialer))
		}
		cc, err := grpc.NewClient(target, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		return cc
	}
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
