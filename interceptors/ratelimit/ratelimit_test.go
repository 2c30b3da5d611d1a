package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/metadata"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/internal/coretest"
	"github.com/tether-ipc/tether/interceptors/ratelimit"
	"github.com/tether-ipc/tether/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, lim ratelimit.Limits, register func(*server.Server)) (*coretest.Core, *ratelimit.Limiter) {
	t.Helper()
	l, err := ratelimit.New(lim)
	if err != nil {
		t.Fatal(err)
	}
	c := coretest.Start(t, register,
		server.WithInterceptors(l.UnaryServerInterceptor()),
		server.WithStreamInterceptors(l.StreamServerInterceptor()))
	return c, l
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		lim  ratelimit.Limits
		ok   bool
	}{
		{"nothing set is refused: off by default", ratelimit.Limits{}, false},
		{"rate without burst", ratelimit.Limits{Rate: 1}, false},
		{"negative", ratelimit.Limits{Rate: -1, Burst: 1}, false},
		{"negative listeners", ratelimit.Limits{MaxListeners: -1}, false},
		{"rate", ratelimit.Limits{Rate: 1, Burst: 1}, true},
		{"listeners only", ratelimit.Limits{MaxListeners: 1}, true},
		{"lifetime only", ratelimit.Limits{MaxStreamLifetime: time.Minute}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ratelimit.New(tt.lim)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%+v) = %v, want ok=%v", tt.lim, err, tt.ok)
			}
			if err != nil && tether.CodeOf(err) != tether.CodeInvalidArgument {
				t.Fatalf("code %v", tether.CodeOf(err))
			}
		})
	}
}

func TestRate(t *testing.T) {
	// A rate so slow that no token comes back during the test.
	c, _ := start(t, ratelimit.Limits{Rate: 0.001, Burst: 3}, nil)
	call := map[string]func(ctx context.Context) error{
		"invoke": func(ctx context.Context) error {
			return c.Client.Invoke(ctx, "echo", coretest.EchoArgs{Text: "x"}, nil)
		},
		"emit": func(ctx context.Context) error {
			_, err := c.Client.Emit(ctx, "evt", nil)
			return err
		},
		"channel": func(ctx context.Context) error {
			return c.Client.Channel(ctx, "count", coretest.CountArgs{N: 1}, func(client.ChannelMessage) error { return nil })
		},
		"in-process": func(ctx context.Context) error { return c.Srv.Invoke(ctx, "echo", coretest.EchoArgs{Text: "x"}, nil) },
	}
	for _, kind := range []string{"invoke", "emit", "channel"} {
		t.Run(kind, func(t *testing.T) {
			ctx := coretest.Labelled("client-" + kind)
			for i := range 3 {
				if err := call[kind](ctx); err != nil {
					t.Fatalf("call %d within the burst: %v", i, err)
				}
			}
			err := call[kind](ctx)
			var te *tether.Error
			if !errors.As(err, &te) || te.Code() != tether.CodeResourceExhausted {
				t.Fatalf("over the limit: %v, want resource_exhausted", err)
			}
			if !strings.Contains(te.Message(), "rate limit exceeded") || !strings.Contains(te.Message(), "retry after") {
				t.Errorf("message %q", te.Message())
			}
			var d struct {
				RetryAfterMS int64 `json:"retry_after_ms"`
			}
			if err := te.DecodeDetails(&d); err != nil || d.RetryAfterMS <= 0 {
				t.Errorf("details %s: %v", te.Details(), err)
			}
			// Another client is not affected.
			if err := call[kind](coretest.Labelled("other-" + kind)); err != nil {
				t.Fatalf("other client: %v", err)
			}
		})
	}
	t.Run("in-process shares one key", func(t *testing.T) {
		var errs int
		for range 5 {
			if call["in-process"](context.Background()) != nil {
				errs++
			}
		}
		if errs != 2 {
			t.Fatalf("%d of 5 in-process calls refused, want 2", errs)
		}
	})
}

func TestRateRefills(t *testing.T) {
	c, _ := start(t, ratelimit.Limits{Rate: 50, Burst: 1}, nil)
	ctx := coretest.Labelled("a")
	if err := c.Client.Invoke(ctx, "echo", coretest.EchoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Client.Invoke(ctx, "echo", coretest.EchoArgs{}, nil); tether.CodeOf(err) != tether.CodeResourceExhausted {
		t.Fatalf("second call: %v", err)
	}
	time.Sleep(60 * time.Millisecond) // 50/s: a token every 20ms
	if err := c.Client.Invoke(ctx, "echo", coretest.EchoArgs{}, nil); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
}

func TestMaxListeners(t *testing.T) {
	c, _ := start(t, ratelimit.Limits{MaxListeners: 2}, nil)
	listen := func(label string) (*client.Subscription, error) {
		return c.Client.Listen(coretest.Labelled(label), []string{"evt"}, func(client.Event) {})
	}
	var subs []*client.Subscription
	defer func() {
		for _, s := range subs {
			s.Unlisten()
			<-s.Done()
		}
	}()
	for i := range 2 {
		s, err := listen("a")
		if err != nil {
			t.Fatalf("listener %d: %v", i, err)
		}
		subs = append(subs, s)
	}
	if _, err := listen("a"); tether.CodeOf(err) != tether.CodeResourceExhausted {
		t.Fatalf("third listener: %v, want resource_exhausted", err)
	}
	s, err := listen("b")
	if err != nil {
		t.Fatalf("other client: %v", err)
	}
	subs = append(subs, s)
	// Closing one frees its place (once the server sees the stream end).
	subs[0].Unlisten()
	<-subs[0].Done()
	subs = subs[1:]
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := listen("a")
		if err == nil {
			subs = append(subs, s)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("place not freed: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStreamLifetime(t *testing.T) {
	const life = 200 * time.Millisecond
	c, _ := start(t, ratelimit.Limits{MaxStreamLifetime: life}, func(s *server.Server) {
		server.HandleChannel(s, "forever", func(ctx context.Context, _ struct{}, send func(int) error) error {
			<-ctx.Done()
			return ctx.Err()
		})
	})
	tests := []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"listen", func(ctx context.Context) error {
			st, err := c.Client.IPC().Listen(ctx, &tetherv1.ListenRequest{Events: []string{"evt"}})
			if err != nil {
				return err
			}
			for range 100 {
				if _, err := st.Recv(); err != nil {
					return err
				}
			}
			return fmt.Errorf("stream did not end")
		}},
		{"channel", func(ctx context.Context) error {
			return c.Client.Channel(ctx, "forever", nil, func(client.ChannelMessage) error { return nil })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			begin := time.Now()
			err := tt.run(ctx)
			took := time.Since(begin)
			te := tether.FromError(err)
			if te.Code() != tether.CodeUnavailable || !strings.Contains(te.Message(), "stream lifetime exceeded, reconnect") {
				t.Fatalf("err = %v, want unavailable: stream lifetime exceeded", err)
			}
			if took < life*9/10 || took > 5*life {
				t.Fatalf("ended after %v, want about %v", took, life)
			}
		})
	}
}

func TestBoundedMemory(t *testing.T) {
	t.Run("max clients", func(t *testing.T) {
		c, l := start(t, ratelimit.Limits{Rate: 100, Burst: 10, MaxClients: 5}, nil)
		for i := range 20 {
			if err := c.Client.Invoke(coretest.Labelled(fmt.Sprint("label-", i)), "echo", coretest.EchoArgs{}, nil); err != nil {
				t.Fatal(err)
			}
			if n := l.Clients(); n > 5 {
				t.Fatalf("%d buckets held, bound 5", n)
			}
		}
	})
	t.Run("idle", func(t *testing.T) {
		c, l := start(t, ratelimit.Limits{Rate: 100, Burst: 10, IdleTimeout: 30 * time.Millisecond}, nil)
		for _, label := range []string{"a", "b", "c"} {
			_ = c.Client.Invoke(coretest.Labelled(label), "echo", coretest.EchoArgs{}, nil)
		}
		time.Sleep(60 * time.Millisecond)
		_ = c.Client.Invoke(coretest.Labelled("d"), "echo", coretest.EchoArgs{}, nil)
		if n := l.Clients(); n != 1 {
			t.Fatalf("%d buckets held, want 1 after the others went idle", n)
		}
	})
}

func TestDefaultKey(t *testing.T) {
	tcp := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}
	tests := []struct {
		call *tether.Call
		want string
	}{
		{nil, ""},
		{&tether.Call{}, ""},
		{&tether.Call{ClientLabel: "main", Peer: tcp}, "main"},
		{&tether.Call{ClientLabel: "main", Peer: tcp, Caller: "session:abc"}, "main@session:abc"},
		{&tether.Call{Caller: "pid:42"}, "peer:pid:42"},
		{&tether.Call{Peer: tcp}, "peer:127.0.0.1"},
		{&tether.Call{Peer: server.InProcessAddr{}}, "peer:in-process"},
	}
	for _, tt := range tests {
		if got := ratelimit.DefaultKey(context.Background(), tt.call); got != tt.want {
			t.Errorf("DefaultKey(%+v) = %q, want %q", tt.call, got, tt.want)
		}
	}
}

// Callers that share a label (a page and a local process, both "main")
// each have their own listeners: one that takes all its slots does not
// lock the other out.
func TestMaxListenersPerCaller(t *testing.T) {
	c, _ := start(t, ratelimit.Limits{MaxListeners: 2}, nil)
	listen := func(caller string) (*client.Subscription, error) {
		ctx := metadata.AppendToOutgoingContext(coretest.Labelled("main"), tether.MetadataCaller, caller)
		return c.Client.Listen(ctx, []string{"evt"}, func(client.Event) {})
	}
	var subs []*client.Subscription
	defer func() {
		for _, s := range subs {
			s.Unlisten()
			<-s.Done()
		}
	}()
	for i := range 2 {
		s, err := listen("pid:4242")
		if err != nil {
			t.Fatalf("listener %d: %v", i, err)
		}
		subs = append(subs, s)
	}
	if _, err := listen("pid:4242"); tether.CodeOf(err) != tether.CodeResourceExhausted {
		t.Fatalf("third listener of one caller: %v, want resource_exhausted", err)
	}
	s, err := listen("session:page")
	if err != nil {
		t.Fatalf("the page, another caller of label main: %v", err)
	}
	subs = append(subs, s)
}
