package demo_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The demo answers each frontend-event with a backend-event, and its
// heartbeat emits backend-events until stopped.
func TestDemoEvents(t *testing.T) {
	srv := server.New(server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	app := demo.New(t.TempDir())
	app.Register(srv)
	conn, err := srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	defer conn.Close()
	c := client.New(conn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	got := make(chan map[string]any, 16)
	sub, err := c.Listen(ctx, []string{"backend-event"}, func(e client.Event) {
		var m map[string]any
		e.Decode(&m)
		got <- m
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unlisten()
	if _, err := c.Emit(ctx, "frontend-event", map[string]string{"message": "ping"}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m["kind"] != "reply" || !strings.Contains(m["message"].(string), "ping") {
			t.Fatalf("reply %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply to frontend-event")
	}
	// The seed's own example: emit('frontend-event', { data: 'value' }).
	if _, err := c.Emit(ctx, "frontend-event", map[string]string{"data": "value"}); err != nil {
		t.Fatalf("the seed's emit: %v", err)
	}
	select {
	case m := <-got:
		if m["kind"] != "reply" || !strings.Contains(m["message"].(string), `"value"`) {
			t.Fatalf("reply %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply to the seed's frontend-event")
	}
	// A backend emit of the typed event is checked as a frontend's is.
	if _, err := srv.Emit(ctx, "frontend-event", "a string"); tether.CodeOf(err) != tether.CodeInvalidArgument {
		t.Fatalf("backend emit of a string as frontend-event: %v", err)
	}
	if _, err := srv.Emit(ctx, "frontend-event", map[string]string{"message": "typed"}); err != nil {
		t.Fatalf("backend emit of a good frontend-event: %v", err)
	}
	<-got
	hb, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { app.Heartbeat(hb, srv, 10*time.Millisecond); close(done) }()
	select {
	case m := <-got:
		if m["kind"] != "heartbeat" {
			t.Fatalf("heartbeat %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat")
	}
	stop()
	<-done
}
