package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/inproc"
	"github.com/tether-ipc/tether/server"
)

// A server stream asked for with inproc.Push runs on the receiving
// goroutine through the server's chains: the header (subscribed) comes
// first, then each message to Send; the caller's context ends it; the
// handler sees incoming metadata and none of the caller's values.
func TestPushListen(t *testing.T) {
	type key struct{}
	var mu sync.Mutex
	var methods []string
	var leaked any
	var md metadata.MD
	wire := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		mu.Lock()
		methods = append(methods, info.FullMethod)
		leaked = ss.Context().Value(key{})
		md, _ = metadata.FromIncomingContext(ss.Context())
		mu.Unlock()
		return h(srv, ss)
	}
	srv := server.New(server.WithWireInterceptors(nil, wire))
	defer srv.Stop()
	conn, err := srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "secret"))
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, tether.MetadataClientLabel, "main")
	header := make(chan metadata.MD, 1)
	got := make(chan *tetherv1.Event, 10)
	push := &inproc.Push{
		Header: func(md metadata.MD) error { header <- md; return nil },
		Send: func(m any) error {
			// Listen sends a proto message standing for a ListenResponse
			// (its events' cached encoding, for the wire).
			got <- m.(proto.Message).ProtoReflect().Interface().(*tetherv1.ListenResponse).GetEvent()
			return nil
		},
	}
	stream, err := tetherv1.NewIPCClient(conn).Listen(ctx, &tetherv1.ListenRequest{Events: []string{"tick"}}, push)
	if err != nil || !push.Taken {
		t.Fatalf("Listen: %v, taken %v", err, push.Taken)
	}
	ended := make(chan error, 1)
	go func() { ended <- stream.RecvMsg(new(tetherv1.ListenResponse)) }()
	select {
	case h := <-header:
		if len(h.Get(tether.MetadataSubscribed)) == 0 {
			t.Fatalf("header %v without the subscribed key", h)
		}
	case err := <-ended:
		t.Fatalf("ended before the header: %v", err)
	}
	for i := range 3 {
		id, err := srv.Emit(context.Background(), "tick", i)
		if err != nil {
			t.Fatal(err)
		}
		if ev := <-got; ev.GetId() != id || ev.GetName() != "tick" || string(ev.GetPayload().GetJson()) != string(mustJSON(t, i)) {
			t.Fatalf("event %v, want id %d payload %d", ev, id, i)
		}
	}
	cancel()
	select {
	case err := <-ended:
		if status.Code(err) != codes.Canceled {
			t.Fatalf("after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end with its context")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(methods) != 1 || methods[0] != server.ListenMethod || leaked != nil || md.Get(tether.MetadataClientLabel)[0] != "main" {
		t.Fatalf("wire chain saw %v, leaked %v, metadata %v", methods, leaked, md)
	}
}

// A refusal before the header reaches the caller as the stream's status;
// a Send error ends the handler; a channel command runs to its end with
// io.EOF; without the option the stream is an ordinary one.
func TestPushEnds(t *testing.T) {
	srv := server.New()
	defer srv.Stop()
	server.HandleChannel(srv, "three", func(ctx context.Context, _ struct{}, send func(int) error) error {
		for i := range 3 {
			if err := send(i); err != nil {
				return err
			}
		}
		return nil
	})
	server.HandleChannel(srv, "forever", func(ctx context.Context, _ struct{}, send func(int) error) error {
		for i := 0; ; i++ {
			if err := send(i); err != nil {
				return err
			}
		}
	})
	conn, err := srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ipc := tetherv1.NewIPCClient(conn)
	ctx := context.Background()

	run := func(req *tetherv1.InvokeRequest, send func(any) error) (headers int, err error) {
		push := &inproc.Push{Header: func(metadata.MD) error { headers++; return nil }, Send: send}
		stream, err := ipc.Channel(ctx, req, push)
		if err != nil {
			return 0, err
		}
		if !push.Taken {
			t.Fatal("push not taken")
		}
		return headers, stream.RecvMsg(new(tetherv1.ChannelMessage))
	}
	var n int
	h, err := run(&tetherv1.InvokeRequest{Command: "three"}, func(any) error { n++; return nil })
	if !errors.Is(err, io.EOF) || h != 1 || n != 5 { // three values, the end marker and the (empty) result
		t.Fatalf("three: %d headers, %d messages, %v", h, n, err)
	}
	_, err = run(&tetherv1.InvokeRequest{Command: "nope"}, func(any) error { return nil })
	if tether.CodeOf(err) != tether.CodeNotFound {
		t.Fatalf("unknown command: %v", err)
	}
	n = 0
	stop := errors.New("client gone")
	_, err = run(&tetherv1.InvokeRequest{Command: "forever"}, func(any) error {
		if n++; n == 5 {
			return stop
		}
		return nil
	})
	if err == nil || n != 5 {
		t.Fatalf("forever after a failed send: %d messages, %v", n, err)
	}

	stream, err := ipc.Channel(ctx, &tetherv1.InvokeRequest{Command: "three"})
	if err != nil {
		t.Fatal(err)
	}
	var plain int
	for {
		if _, err := stream.Recv(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		plain++
	}
	if plain != 5 {
		t.Fatalf("plain stream gave %d messages", plain)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The server's send limit (Limits.MaxSendBytes) and the caller's receive
// limit (grpc.MaxCallRecvMsgSize) hold for pushed messages as over the
// wire: a listen event larger than either ends the push stream with
// resource_exhausted, and Send never sees it.
func TestPushSendLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		srv  []server.Option
		call []grpc.CallOption
	}{
		{"server's send limit", []server.Option{server.WithLimits(server.Limits{MaxSendBytes: 1 << 10})}, nil},
		{"caller's receive limit", nil, []grpc.CallOption{grpc.MaxCallRecvMsgSize(1 << 10)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := server.New(tc.srv...)
			defer srv.Stop()
			conn, err := srv.DialInProcess()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ready := make(chan struct{})
			var sizes []int
			push := &inproc.Push{
				Header: func(metadata.MD) error { close(ready); return nil },
				Send:   func(m any) error { sizes = append(sizes, proto.Size(m.(proto.Message))); return nil },
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stream, err := tetherv1.NewIPCClient(conn).Listen(ctx, &tetherv1.ListenRequest{Events: []string{"big"}}, append(tc.call, push)...)
			if err != nil || !push.Taken {
				t.Fatalf("Listen: %v, taken %v", err, push.Taken)
			}
			ended := make(chan error, 1)
			go func() { ended <- stream.RecvMsg(new(tetherv1.ListenResponse)) }()
			<-ready
			if _, err := srv.Emit(context.Background(), "big", []byte("small")); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.Emit(context.Background(), "big", make([]byte, 2<<10)); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-ended:
				if status.Code(err) != codes.ResourceExhausted {
					t.Fatalf("stream ended with %v, want resource_exhausted", err)
				}
			case <-ctx.Done():
				t.Fatal("the stream did not end")
			}
			if len(sizes) != 1 || sizes[0] > 1<<10 {
				t.Fatalf("Send got messages of %v bytes, want the small one only", sizes)
			}
		})
	}
}

// EmitFilter publishes once per client label with a listener, for the
// labels keep accepts: only their listeners receive the event. A listener
// without a label is not offered (an event for "" would reach everyone).
func TestEmitFilterReachesKeptLabels(t *testing.T) {
	srv := server.New()
	defer srv.Stop()
	conn, err := srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := map[string]chan *tetherv1.Event{}
	var wg sync.WaitGroup
	for _, label := range []string{"main", "settings", ""} {
		ready := make(chan struct{})
		ch := make(chan *tetherv1.Event, 4)
		got[label] = ch
		push := &inproc.Push{
			Header: func(metadata.MD) error { close(ready); return nil },
			Send: func(m any) error {
				ch <- m.(proto.Message).ProtoReflect().Interface().(*tetherv1.ListenResponse).GetEvent()
				return nil
			},
		}
		lctx := ctx
		if label != "" {
			lctx = metadata.AppendToOutgoingContext(ctx, tether.MetadataClientLabel, label)
		}
		stream, err := tetherv1.NewIPCClient(conn).Listen(lctx, &tetherv1.ListenRequest{Events: []string{"note"}}, push)
		if err != nil || !push.Taken {
			t.Fatalf("Listen: %v, taken %v", err, push.Taken)
		}
		wg.Add(1)
		go func() { defer wg.Done(); stream.RecvMsg(new(tetherv1.ListenResponse)) }() //nolint:errcheck // ends with ctx
		<-ready
	}
	var asked []string
	ids, err := srv.EmitFilter(context.Background(), "note", "for main", func(label string) bool {
		asked = append(asked, label)
		return label == "main" || label == ""
	})
	if err != nil || len(ids) != 1 || len(asked) != 2 {
		t.Fatalf("EmitFilter: ids %v, err %v, labels asked %v", ids, err, asked)
	}
	if _, err := srv.Emit(context.Background(), "note", "for all"); err != nil {
		t.Fatal(err)
	}
	if ev := <-got["main"]; ev.GetId() != ids[0] || ev.GetTarget() != "main" {
		t.Fatalf("main got %v, want id %d targeted at main", ev, ids[0])
	}
	for label, ch := range got {
		if ev := <-ch; string(ev.GetPayload().GetJson()) != `"for all"` {
			t.Fatalf("%s got %v, want the event for all (and nothing before it but main's own)", label, ev)
		}
	}
	cancel()
	wg.Wait()
}
