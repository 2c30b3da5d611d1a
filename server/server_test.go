package server_test

import (
	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a real server on a real loopback socket, with the demo app, and a
// client connected to it.
type env struct {
	srv  *server.Server
	cli  *client.Client
	conn *grpc.ClientConn
	data string
}

func start(t testing.TB, register func(*server.Server), opts ...server.Option) *env {
	t.Helper()
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "hello.txt"), []byte("hi there"), 0o600); err != nil {
		t.Fatal(err)
	}
	quiet := server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := server.New(append([]server.Option{quiet}, opts...)...)
	demo.New(data).Register(srv)
	if register != nil {
		register(srv)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		wg.Wait()
	})
	return &env{srv: srv, cli: client.New(conn), conn: conn, data: data}
}

type (
	grpcUnaryInfo    = grpc.UnaryServerInfo
	grpcUnaryHandler = grpc.UnaryHandler
)

type wrapperspbString = wrapperspb.StringValue

func wrapString(s string) *wrapperspb.StringValue { return wrapperspb.String(s) }

func jsonIn(p *tetherv1.Payload, m proto.Message) error {
	return protojson.Unmarshal(p.GetJson(), m)
}

type atomicBool = atomic.Bool

func codeOf(err error) string { return tether.CodeOf(err).String() }
