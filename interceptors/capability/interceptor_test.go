package capability_test

import (
	"context"
	"errors"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"io"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/tether-ipc/tether"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/interceptors/capability"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// commandNames maps the demo's methods to command names, as the server's
// registry does.
var commandNames = map[string]string{
	"/demo.v1.Demo/Greet":       "greet",
	"/demo.v1.Demo/ReadFile":    "read_file",
	"/demo.v1.Demo/ProcessData": "process_data",
	"/demo.v1.Demo/Count":       "count",
}

const noCallHeader = "test-no-call"

// callFor stands in for the server: it describes the call from the method
// and the label header (trusted here, as a trusted front would set it).
func callFor(ctx context.Context, method string, kind tether.Kind) (context.Context, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get(noCallHeader)) > 0 {
		return ctx, false
	}
	c := &tether.Call{Kind: kind, Name: commandNames[method], Method: method, Header: md}
	if v := md.Get(tether.MetadataClientLabel); len(v) > 0 {
		c.ClientLabel = v[0]
	}
	return tether.WithCall(ctx, c), true
}

func fakeServerUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, _ = callFor(ctx, info.FullMethod, tether.KindInvoke)
	return handler(ctx, req)
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }

func fakeServerStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, _ := callFor(ss.Context(), info.FullMethod, tether.KindChannel)
	return handler(srv, ctxStream{ss, ctx})
}

type demoServer struct {
	demov1.UnimplementedDemoServer
	ran     atomic.Int32
	dataDir string
}

func (d *demoServer) Greet(ctx context.Context, req *demov1.GreetRequest) (*wrapperspb.StringValue, error) {
	d.ran.Add(1)
	return wrapperspb.String("Hello, " + req.GetName()), nil
}

// ReadFile enforces its path scope, as a real handler must.
func (d *demoServer) ReadFile(ctx context.Context, req *demov1.ReadFileRequest) (*wrapperspb.StringValue, error) {
	d.ran.Add(1)
	call, _ := tether.CallFromContext(ctx)
	ps, err := capability.NewPathScope(call.Scopes, map[string]string{"DATA": d.dataDir})
	if err != nil {
		return nil, tether.Errorf(tether.CodeInternal, "%v", err)
	}
	f, err := ps.Open(d.dataDir, req.GetPath())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return wrapperspb.String(string(b)), nil
}

func (d *demoServer) Count(req *demov1.CountRequest, stream grpc.ServerStreamingServer[demov1.CountResponse]) error {
	d.ran.Add(1)
	for i := uint32(1); i <= req.GetTo(); i++ {
		if err := stream.Send(&demov1.CountResponse{N: i, Of: req.GetTo()}); err != nil {
			return err
		}
	}
	return nil
}

func startServer(t *testing.T, set *capability.Set) (demov1.DemoClient, *demoServer) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(fakeServerUnary, capability.UnaryServerInterceptor(set)),
		grpc.ChainStreamInterceptor(fakeServerStream, capability.StreamServerInterceptor(set)),
	)
	impl := &demoServer{dataDir: t.TempDir()}
	demov1.RegisterDemoServer(srv, impl)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		<-done
	})
	return demov1.NewDemoClient(conn), impl
}

func as(label string, extra ...string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), append([]string{tether.MetadataClientLabel, label}, extra...)...)
}

func wantCode(t *testing.T, err error, code codes.Code, what string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: got %v, want %v", what, err, code)
	}
}

func TestInterceptors(t *testing.T) {
	set := parse(t, map[string]string{
		"main.json": `{"identifier": "main", "windows": ["main"], "permissions": ["allow-greet", "allow-count",
			{"identifier": "allow-read-file", "allow": [{"path": "$DATA/docs/**"}], "deny": [{"path": "docs/secret"}]}]}`,
		"deny.json": `{"identifier": "no-count", "windows": ["guest"], "permissions": ["allow-greet", "deny-count"]}`,
	})
	client, impl := startServer(t, set)
	writeFile(t, filepath.Join(impl.dataDir, "docs", "a.txt"), "A")
	writeFile(t, filepath.Join(impl.dataDir, "docs", "secret", "key"), "K")
	writeFile(t, filepath.Join(impl.dataDir, "top.txt"), "T")

	t.Run("allowed unary", func(t *testing.T) {
		resp, err := client.Greet(as("main"), &demov1.GreetRequest{Name: "a"})
		if err != nil || resp.GetValue() != "Hello, a" {
			t.Fatalf("Greet = %v, %v", resp, err)
		}
	})

	denials := []struct {
		name  string
		label string
		call  func(ctx context.Context) error
		msg   string
	}{
		{"ungranted unary", "main", func(ctx context.Context) error {
			_, err := client.ProcessData(ctx, &demov1.ProcessDataRequest{})
			return err
		}, `command "process_data" not allowed for client "main"`},
		{"unknown label", "stranger", func(ctx context.Context) error {
			_, err := client.Greet(ctx, &demov1.GreetRequest{})
			return err
		}, `command "greet" not allowed for client "stranger"`},
		{"denied stream", "guest", func(ctx context.Context) error {
			st, err := client.Count(ctx, &demov1.CountRequest{To: 3})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}, `command "count" denied for client "guest": denied by capability "no-count" (deny-count)`},
	}
	for _, tt := range denials {
		t.Run(tt.name, func(t *testing.T) {
			before := impl.ran.Load()
			err := tt.call(as(tt.label))
			wantCode(t, err, codes.PermissionDenied, tt.name)
			if got := status.Convert(err).Message(); got != tt.msg {
				t.Errorf("message = %q, want %q", got, tt.msg)
			}
			if impl.ran.Load() != before {
				t.Error("handler ran for a denied call")
			}
		})
	}

	t.Run("allowed stream", func(t *testing.T) {
		st, err := client.Count(as("main"), &demov1.CountRequest{To: 3})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			_, err := st.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 3 {
			t.Fatalf("got %d messages", n)
		}
	})

	t.Run("no call in context fails closed", func(t *testing.T) {
		before := impl.ran.Load()
		_, err := client.Greet(as("main", noCallHeader, "1"), &demov1.GreetRequest{})
		wantCode(t, err, codes.PermissionDenied, "unary")
		st, err := client.Count(as("main", noCallHeader, "1"), &demov1.CountRequest{To: 1})
		if err == nil {
			_, err = st.Recv()
		}
		wantCode(t, err, codes.PermissionDenied, "stream")
		if impl.ran.Load() != before {
			t.Error("handler ran")
		}
	})

	t.Run("scopes reach the handler", func(t *testing.T) {
		resp, err := client.ReadFile(as("main"), &demov1.ReadFileRequest{Path: "docs/a.txt"})
		if err != nil || resp.GetValue() != "A" {
			t.Fatalf("ReadFile(docs/a.txt) = %v, %v", resp, err)
		}
		for _, p := range []string{"top.txt", "docs/secret/key", "../x", filepath.Join(impl.dataDir, "top.txt")} {
			_, err := client.ReadFile(as("main"), &demov1.ReadFileRequest{Path: p})
			wantCode(t, err, codes.PermissionDenied, "ReadFile("+p+")")
		}
	})
}

func TestInterceptorsWithoutCapabilities(t *testing.T) {
	client, impl := startServer(t, nil)
	if _, err := client.Greet(as(""), &demov1.GreetRequest{}); err != nil {
		t.Fatalf("Greet without ACL: %v", err)
	}
	// Even without an ACL, a context with no call means a mis-wired chain.
	_, err := client.Greet(as("", noCallHeader, "1"), &demov1.GreetRequest{})
	wantCode(t, err, codes.PermissionDenied, "no call")
	if impl.ran.Load() != 1 {
		t.Fatalf("handler ran %d times", impl.ran.Load())
	}
}
