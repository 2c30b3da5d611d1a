package server_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/server"
)

// A reflection client (what grpcurl does) lists the services, resolves
// demo.v1.Demo from the server alone, and calls Greet with a dynamic message.
func TestReflectionListsAndCalls(t *testing.T) {
	e := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := rpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.CloseSend()
	ask := func(req *rpb.ServerReflectionRequest) *rpb.ServerReflectionResponse {
		if err := st.Send(req); err != nil {
			t.Fatal(err)
		}
		res, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	list := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}})
	names := map[string]bool{}
	for _, s := range list.GetListServicesResponse().GetService() {
		names[s.GetName()] = true
	}
	for _, want := range []string{"demo.v1.Demo", "tether.v1.IPC", "grpc.health.v1.Health"} {
		if !names[want] {
			t.Errorf("reflection does not list %s (got %v)", want, names)
		}
	}
	res := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "demo.v1.Demo"}})
	// Build the descriptors only from what the server sent (plus their deps).
	var fds descriptorpb.FileDescriptorSet
	for _, b := range res.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(b, fd); err != nil {
			t.Fatal(err)
		}
		fds.File = append(fds.File, fd)
	}
	files, err := protodesc.NewFiles(&fds)
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName("demo.v1.Demo")
	if err != nil {
		t.Fatal(err)
	}
	greet := d.(protoreflect.ServiceDescriptor).Methods().ByName("Greet")
	in := dynamicpb.NewMessage(greet.Input())
	in.Set(greet.Input().Fields().ByName("name"), protoreflect.ValueOfString("Reflection"))
	out := dynamicpb.NewMessage(greet.Output())
	if err := e.conn.Invoke(ctx, "/demo.v1.Demo/Greet", in, out); err != nil {
		t.Fatal(err)
	}
	if got := out.Get(greet.Output().Fields().ByName("value")).String(); got != "Hello, Reflection!" {
		t.Fatalf("got %q", got)
	}
}

// A Unix socket is created mode 0600, serves, and is removed on close.
func TestUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "tether")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "core.sock")
	srv := server.New()
	srv.RegisterService(&demov1.Demo_ServiceDesc, &greeter{})
	lis, err := server.Listen("unix://" + path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v, want 0600 socket", fi.Mode())
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); srv.Serve(lis) }()
	c, err := client.Dial("unix://" + path)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	err = c.Invoke(context.Background(), "greet", map[string]string{"name": "Unix"}, &got)
	c.Close()
	srv.Stop()
	wg.Wait()
	if err != nil || got != "Hi Unix" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind after close: %v", err)
	}
}

type greeter struct{ demov1.UnimplementedDemoServer }

func (greeter) Greet(_ context.Context, r *demov1.GreetRequest) (*wrapperspbString, error) {
	return wrapString("Hi " + r.GetName()), nil
}

// Shutdown lets an in-flight call finish, refuses new ones, and reports
// NOT_SERVING on the health service meanwhile.
func TestGracefulShutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	e := start(t, func(s *server.Server) {
		server.Handle(s, "wait", func(context.Context, struct{}) (string, error) {
			close(started)
			<-release
			return "finished", nil
		})
	})
	hc := healthpb.NewHealthClient(e.conn)
	if r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health before: %v %v", r, err)
	}
	var got string
	var callErr error
	done := make(chan struct{})
	go func() {
		callErr = e.cli.Invoke(context.Background(), "wait", nil, &got)
		close(done)
	}()
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- e.srv.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond) // let GracefulStop begin; the call is still running
	close(release)
	<-done
	if callErr != nil || got != "finished" {
		t.Fatalf("in-flight call: %q, %v", got, callErr)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	err := e.cli.Invoke(context.Background(), "greet", nil, nil)
	if tether.CodeOf(err) != tether.CodeUnavailable {
		t.Fatalf("call after shutdown: %v, want unavailable", err)
	}
}

// Shutdown past its deadline cancels what is left.
func TestShutdownDeadlineCancels(t *testing.T) {
	var sawCancel atomic.Bool
	started := make(chan struct{})
	e := start(t, func(s *server.Server) {
		server.Handle(s, "hang", func(ctx context.Context, _ struct{}) (string, error) {
			close(started)
			<-ctx.Done()
			sawCancel.Store(true)
			return "", ctx.Err()
		})
	})
	go e.cli.Invoke(context.Background(), "hang", nil, nil) //nolint:errcheck
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v", err)
	}
	if !sawCancel.Load() {
		t.Fatal("handler was not cancelled")
	}
}

// A channel command reached by name delivers 10k ordered messages, an end
// marker and an empty result; the typed streaming call gives the same
// messages.
func TestChannelOrderAndEnd(t *testing.T) {
	e := start(t, nil)
	st, err := e.cli.IPC().Channel(context.Background(), &tetherv1.InvokeRequest{Command: "count", Args: jsonArgs(`{"to":10000}`)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		m, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.GetResult() != nil {
			if n != 10001 || m.GetResult().GetResult() != nil {
				t.Fatalf("result %v after %d messages", m.GetResult(), n)
			}
			continue
		}
		if m.GetIndex() != uint64(n) {
			t.Fatalf("message %d has index %d", n, m.GetIndex())
		}
		if m.GetEnd() {
			if n != 10000 {
				t.Fatalf("end after %d messages", n)
			}
			n++
			continue
		}
		var got demov1.CountResponse
		if err := jsonIn(m.GetMessage(), &got); err != nil || got.GetN() != uint32(n+1) {
			t.Fatalf("message %d: %v %v", n, &got, err)
		}
		n++
	}
	if n != 10001 {
		t.Fatalf("got %d messages including end", n)
	}
	ts, err := demov1.NewDemoClient(e.conn).Count(context.Background(), &demov1.CountRequest{To: 5})
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for {
		m, err := ts.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		k++
		if m.GetN() != uint32(k) {
			t.Fatalf("typed message %d: %v", k, m)
		}
	}
	if k != 5 {
		t.Fatalf("typed stream gave %d", k)
	}
}

// A caller that cancels stops the channel's handler.
func TestChannelCancelStopsHandler(t *testing.T) {
	stopped := make(chan error, 1)
	e := start(t, func(s *server.Server) {
		server.HandleChannel(s, "forever", func(ctx context.Context, _ struct{}, send func(int) error) error {
			for i := 0; ; i++ {
				if err := send(i); err != nil {
					stopped <- err
					return err
				}
				if i > 10_000_000 {
					stopped <- errors.New("never cancelled")
					return nil
				}
			}
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	st, err := e.cli.IPC().Channel(ctx, &tetherv1.InvokeRequest{Command: "forever"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	select {
	case err := <-stopped:
		if tether.CodeOf(err) != tether.CodeCanceled && tether.CodeOf(err) != tether.CodeUnavailable {
			t.Fatalf("handler stopped with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler still running 5s after cancel")
	}
}

// A failure mid-channel ends the stream with the structured error.
func TestChannelErrorMidStream(t *testing.T) {
	e := start(t, func(s *server.Server) {
		server.HandleChannel(s, "half", func(ctx context.Context, _ struct{}, send func(string) error) error {
			send("one")
			return tether.NewError(tether.CodeAborted, "half way").WithDetails(map[string]int{"sent": 1})
		})
	})
	st, err := e.cli.IPC().Channel(context.Background(), &tetherv1.InvokeRequest{Command: "half"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := st.Recv(); err != nil || string(m.GetMessage().GetJson()) != `"one"` {
		t.Fatalf("first: %v %v", m, err)
	}
	_, err = st.Recv()
	te := tether.FromError(err)
	if te.Code() != tether.CodeAborted || string(te.Details()) != `{"sent":1}` {
		t.Fatalf("got %v details %s", err, te.Details())
	}
}

// An in-process connection reaches the same server without a socket and is
// trusted to name its client label.
func TestInProcessConnTrustedLabel(t *testing.T) {
	var label string
	srv := server.New()
	server.Handle(srv, "whoami", func(ctx context.Context, _ struct{}) (string, error) {
		c, _ := tether.CallFromContext(ctx)
		label = c.ClientLabel
		return c.ClientLabel, nil
	})
	conn, err := srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(conn)
	var got string
	err = c.Invoke(client.WithClientLabel(context.Background(), "main", "http://localhost"), "whoami", nil, &got)
	conn.Close()
	srv.Stop()
	if err != nil || got != "main" || label != "main" {
		t.Fatalf("got %q (%q), %v", got, label, err)
	}
}

// Over TCP the label metadata is not believed by default.
func TestTCPLabelNotTrusted(t *testing.T) {
	e := start(t, func(s *server.Server) {
		server.Handle(s, "whoami", func(ctx context.Context, _ struct{}) (string, error) {
			c, _ := tether.CallFromContext(ctx)
			return c.ClientLabel, nil
		})
	})
	var got string
	if err := e.cli.Invoke(client.WithClientLabel(context.Background(), "admin", ""), "whoami", nil, &got); err != nil || got != "" {
		t.Fatalf("TCP caller claimed label %q (%v)", got, err)
	}
}
