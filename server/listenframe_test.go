package server

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// publishAll publishes events with the given payload sizes and returns them
// as a subscriber receives them (with their shared encodings).
func publishAll(t *testing.T, sizes ...int) []*bus.Event {
	t.Helper()
	b := bus.NewMemory(bus.WithQueueSize(len(sizes) + 1))
	t.Cleanup(func() { b.Close() })
	sub, err := b.Subscribe(context.Background(), bus.Filter{Names: []string{"f"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range sizes {
		p := &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: []byte(strings.Repeat(string(rune('a'+i%26)), n))}}
		if _, err := b.Publish(context.Background(), bus.Event{Name: "f", Payload: p, Source: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	msgs := sub.Poll(nil, len(sizes))
	evs := make([]*bus.Event, len(msgs))
	for i, m := range msgs {
		evs[i] = m.Event
	}
	return evs
}

// The codec's encoding of a frame is exactly the proto encoding of the
// ListenResponse it stands for, for one event and for batches, small and
// large enough to take a pooled buffer.
func TestListenFrameEncoding(t *testing.T) {
	for _, sizes := range [][]int{{10}, {0, 5}, {100, 200, 300}, {5000, 3000, 70000}} {
		evs := publishAll(t, sizes...)
		f := &listenFrame{events: evs}
		data, err := listenCodec{}.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		got := data.Materialize()
		data.Free()
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal((&listenFrame{events: evs}).message())
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("sizes %v: codec wrote %d bytes, proto.Marshal %d, and they differ", sizes, len(got), len(want))
		}
		if n := (&listenFrame{events: evs}).size(); n != len(want) {
			t.Fatalf("sizes %v: size() %d, encoding %d", sizes, n, len(want))
		}
		var r tetherv1.ListenResponse
		if err := proto.Unmarshal(got, &r); err != nil {
			t.Fatal(err)
		}
		if len(evs) == 1 && r.GetEvent().GetId() != evs[0].ID || len(evs) > 1 && len(r.GetBatch().GetEvents()) != len(evs) {
			t.Fatalf("decoded %v", &r)
		}
	}
	// Other messages go to the proto codec.
	data, err := listenCodec{}.Marshal(&tetherv1.Lagged{Dropped: 3})
	if err != nil {
		t.Fatal(err)
	}
	var l tetherv1.Lagged
	if err := (listenCodec{}).Unmarshal(data, &l); err != nil || l.GetDropped() != 3 {
		t.Fatalf("round trip through the codec: %v %v", &l, err)
	}
	if _, err := (listenCodec{}).Marshal("not a message"); err == nil {
		t.Fatal("the codec marshalled a string")
	}
}

// An event whose encoding fails (a string field that is not UTF-8) fails
// the send with the proto codec's error, as before frames existed.
func TestListenFrameEncodingError(t *testing.T) {
	bad := &bus.Event{Name: "f", Source: "\xff"}
	for _, evs := range [][]*bus.Event{{bad}, {publishAll(t, 1)[0], bad}} {
		if _, err := (listenCodec{}).Marshal(&listenFrame{events: evs}); err == nil || !strings.Contains(err.Error(), "UTF-8") {
			t.Fatalf("Marshal of an invalid event: %v", err)
		}
	}
}

// sendListen cuts runs of events into frames of at most maxBatch events
// and maxBatchBytes, and sends each Lagged notice alone, in order.
func TestSendListenSplits(t *testing.T) {
	render := func(msgs []bus.Message, maxBatch int) string {
		var out []string
		s := &Server{}
		err := s.sendListen(msgs, maxBatch, "f", func(m any) error {
			switch m := m.(type) {
			case *listenFrame:
				ids := make([]string, len(m.events))
				for i, e := range m.events {
					ids[i] = fmt.Sprint(e.ID)
				}
				out = append(out, "["+strings.Join(ids, ",")+"]")
			case *tetherv1.ListenResponse:
				out = append(out, fmt.Sprintf("lagged(%d)", m.GetLagged().GetDropped()))
			default:
				t.Fatalf("sent %T", m)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, " ")
	}
	evs := publishAll(t, 1, 1, 1, 1, 1, 1)
	ev := func(i int) bus.Message { return bus.Message{Event: evs[i]} }
	lag := bus.Message{Lagged: &bus.Lagged{Dropped: 7}}
	msgs := []bus.Message{ev(0), ev(1), lag, ev(2), ev(3), ev(4), lag, lag, ev(5)}
	if got, want := render(msgs, 2), "[1,2] lagged(7) [3,4] [5] lagged(7) lagged(7) [6]"; got != want {
		t.Fatalf("maxBatch 2: %s, want %s", got, want)
	}
	if got, want := render(msgs, 1), "[1] [2] lagged(7) [3] [4] [5] lagged(7) lagged(7) [6]"; got != want {
		t.Fatalf("maxBatch 1: %s, want %s", got, want)
	}
	big := publishAll(t, 100, maxBatchBytes/2, maxBatchBytes/2, 10, maxBatchBytes*2, 10)
	var bm []bus.Message
	for _, e := range big {
		bm = append(bm, bus.Message{Event: e})
	}
	if got, want := render(bm, 100), "[1,2] [3,4] [5] [6]"; got != want {
		t.Fatalf("byte limit: %s, want %s", got, want)
	}
}

// The server's codec is not one of its grpc.ServerOptions, so in-process
// unary calls still run directly (no HTTP/2, no encoding).
func TestInProcessStaysDirect(t *testing.T) {
	srv := New()
	defer srv.Stop()
	var stream string
	Handle(srv, "probe", func(ctx context.Context, _ struct{}) (string, error) {
		stream = fmt.Sprintf("%T", grpc.ServerTransportStreamFromContext(ctx))
		return "ok", nil
	})
	conn, err := srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := tetherv1.NewIPCClient(conn).Invoke(context.Background(), &tetherv1.InvokeRequest{Command: "probe"}); err != nil {
		t.Fatal(err)
	}
	if stream != "*server.inprocStream" {
		t.Fatalf("in-process invoke ran on %s, want the direct path (*server.inprocStream)", stream)
	}
}

// Over a real socket the frames reach the wire as their events' cached
// encodings: the server's codec is listenCodec (a codec forced after it, or
// one that reflects on every message, would build each frame's message).
func TestFramesSentWithoutBuildingMessages(t *testing.T) {
	var sent, built atomic.Int32
	peek := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &peekStream{ServerStream: ss, sent: &sent, built: &built})
	}
	srv := New(WithStreamInterceptors(peek))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	defer func() { srv.Stop(); <-done }()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var first uint64
	for i := range 20 {
		id, err := srv.Emit(context.Background(), "w", i)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = id
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := tetherv1.NewIPCClient(conn).Listen(ctx, &tetherv1.ListenRequest{Events: []string{"w"}, AfterId: first - 1, MaxBatch: 8})
	if err != nil {
		t.Fatal(err)
	}
	for got := 0; got < 20; {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got += len(m.GetBatch().GetEvents())
		if m.GetEvent() != nil {
			got++
		}
	}
	if sent.Load() == 0 || built.Load() != 0 {
		t.Fatalf("%d frames sent, %d of them built as messages on the way out", sent.Load(), built.Load())
	}
}

type peekStream struct {
	grpc.ServerStream
	sent, built *atomic.Int32
}

func (s *peekStream) SendMsg(m any) error {
	err := s.ServerStream.SendMsg(m)
	if f, ok := m.(*listenFrame); ok {
		s.sent.Add(1)
		if f.msg.Load() != nil {
			s.built.Add(1)
		}
	}
	return err
}
