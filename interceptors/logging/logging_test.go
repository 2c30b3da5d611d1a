package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/interceptors/internal/coretest"
	"github.com/tether-ipc/tether/interceptors/logging"
	"github.com/tether-ipc/tether/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// records is a concurrency-safe sink of JSON log records.
type records struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *records) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *records) all(t *testing.T) []map[string]any {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad record %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func (r *records) raw() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

func start(t *testing.T, opts ...logging.Option) (*coretest.Core, *records) {
	t.Helper()
	rec := &records{}
	l := slog.New(slog.NewJSONHandler(rec, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := coretest.Start(t, func(s *server.Server) {
		server.Handle(s, "whoami", func(ctx context.Context, _ struct{}) (string, error) {
			return logging.RequestID(ctx), nil
		})
	},
		server.WithInterceptors(logging.UnaryServerInterceptor(l, opts...)),
		server.WithStreamInterceptors(logging.StreamServerInterceptor(l, opts...)),
	)
	return c, rec
}

func TestRecords(t *testing.T) {
	tests := []struct {
		name  string
		run   func(ctx context.Context, c *coretest.Core) error
		kind  string
		cmd   string
		code  string
		level string
	}{
		{"ok", func(ctx context.Context, c *coretest.Core) error {
			return c.Client.Invoke(ctx, "echo", coretest.EchoArgs{Text: "secret-arg"}, nil)
		}, "invoke", "echo", "ok", "INFO"},
		{"client error", func(ctx context.Context, c *coretest.Core) error {
			return c.Client.Invoke(ctx, "fail", coretest.FailArgs{Code: "not_found"}, nil)
		}, "invoke", "fail", "not_found", "WARN"},
		{"permission denied", func(ctx context.Context, c *coretest.Core) error {
			return c.Client.Invoke(ctx, "fail", coretest.FailArgs{Code: "permission_denied"}, nil)
		}, "invoke", "fail", "permission_denied", "WARN"},
		{"internal", func(ctx context.Context, c *coretest.Core) error {
			return c.Client.Invoke(ctx, "fail", coretest.FailArgs{Code: "internal"}, nil)
		}, "invoke", "fail", "internal", "ERROR"},
		{"data loss", func(ctx context.Context, c *coretest.Core) error {
			return c.Client.Invoke(ctx, "fail", coretest.FailArgs{Code: "data_loss"}, nil)
		}, "invoke", "fail", "data_loss", "ERROR"},
		{"emit", func(ctx context.Context, c *coretest.Core) error {
			_, err := c.Client.Emit(ctx, "some-event", map[string]string{"k": "secret-arg"})
			return err
		}, "emit", "some-event", "ok", "INFO"},
		{"channel", func(ctx context.Context, c *coretest.Core) error {
			return c.Client.Channel(ctx, "count", coretest.CountArgs{N: 3}, func(client.ChannelMessage) error { return nil })
		}, "channel", "count", "ok", "INFO"},
		{"in-process", func(ctx context.Context, c *coretest.Core) error {
			return c.Srv.Invoke(ctx, "echo", coretest.EchoArgs{Text: "secret-arg"}, nil)
		}, "invoke", "echo", "ok", "INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := start(t)
			_ = tt.run(coretest.Labelled("main"), c)
			rs := rec.all(t)
			if len(rs) != 1 {
				t.Fatalf("got %d records, want 1: %s", len(rs), rec.raw())
			}
			r := rs[0]
			want := map[string]string{"kind": tt.kind, "name": tt.cmd, "code": tt.code, "level": tt.level, "client_label": "main"}
			if tt.name == "in-process" {
				want["client_label"] = ""
			}
			for k, v := range want {
				if r[k] != v {
					t.Errorf("%s = %v, want %q (record %v)", k, r[k], v, r)
				}
			}
			if id, _ := r["request_id"].(string); len(id) != 16 {
				t.Errorf("request_id = %q, want 16 hex characters", id)
			}
			if _, ok := r["duration"]; !ok {
				t.Errorf("no duration in %v", r)
			}
			if strings.Contains(rec.raw(), "secret-arg") {
				t.Errorf("the payload reached the log: %s", rec.raw())
			}
		})
	}
}

func TestListenLoggedAtEnd(t *testing.T) {
	c, rec := start(t)
	ctx, cancel := context.WithCancel(coretest.Labelled("win"))
	sub, err := c.Client.Listen(ctx, []string{"tick"}, func(client.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.all(t)); n != 0 {
		t.Fatalf("%d records while the stream is open, want 0", n)
	}
	cancel()
	sub.Unlisten()
	<-sub.Done()
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.all(t)) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	rs := rec.all(t)
	if len(rs) != 1 || rs[0]["kind"] != "listen" || rs[0]["name"] != "tick" || rs[0]["client_label"] != "win" {
		t.Fatalf("records = %v", rs)
	}
}

func TestRequestID(t *testing.T) {
	c, rec := start(t)
	tests := []struct {
		name     string
		incoming string
		keep     bool
	}{
		{"generated", "", false},
		{"from a front", "gw-0123456789abcdef", true},
		{"malformed is replaced", "bad id with spaces", false},
		{"too long is replaced", strings.Repeat("a", 65), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.incoming != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, logging.HeaderRequestID, tt.incoming)
			}
			var header metadata.MD
			var seen string
			err := c.Client.Invoke(ctx, "whoami", nil, &seen, client.WithGRPCCallOptions(grpc.Header(&header)))
			if err != nil {
				t.Fatal(err)
			}
			got := header.Get(logging.HeaderRequestID)
			if len(got) != 1 || got[0] != seen {
				t.Fatalf("header %v, handler saw %q", got, seen)
			}
			if tt.keep && seen != tt.incoming || !tt.keep && (seen == tt.incoming || len(seen) != 16) {
				t.Fatalf("request id %q (incoming %q)", seen, tt.incoming)
			}
			rs := rec.all(t)
			if last := rs[len(rs)-1]; last["request_id"] != seen {
				t.Fatalf("record id %v, handler saw %q", last["request_id"], seen)
			}
		})
	}
	t.Run("on errors too", func(t *testing.T) {
		var header metadata.MD
		err := c.Client.Invoke(context.Background(), "fail", coretest.FailArgs{Code: "not_found"}, nil, client.WithGRPCCallOptions(grpc.Header(&header)))
		if err == nil {
			t.Fatal("no error")
		}
		if len(header.Get(logging.HeaderRequestID)) != 1 {
			t.Fatalf("header = %v", header)
		}
	})
	t.Run("unique", func(t *testing.T) {
		seen := map[string]bool{}
		for range 100 {
			id := logging.NewRequestID()
			if seen[id] {
				t.Fatalf("duplicate id %s", id)
			}
			seen[id] = true
		}
	})
}

func TestArgSizes(t *testing.T) {
	c, rec := start(t, logging.WithArgSizes())
	var out string
	if err := c.Client.Invoke(context.Background(), "echo", coretest.EchoArgs{Text: "hi"}, &out); err != nil {
		t.Fatal(err)
	}
	rs := rec.all(t)
	if _, ok := rs[len(rs)-1]["args_bytes"]; ok {
		t.Errorf("args_bytes logged for a Go struct argument: %v", rs[len(rs)-1])
	}
	if err := c.Client.Invoke(context.Background(), "upper", wrapperspb.String("abc"), nil); err != nil {
		t.Fatal(err)
	}
	rs = rec.all(t)
	if got := rs[len(rs)-1]["args_bytes"]; got != float64(5) {
		t.Errorf("args_bytes = %v, want 5 (record %v)", got, rs[len(rs)-1])
	}
}

func TestLevels(t *testing.T) {
	rec := &records{}
	l := slog.New(slog.NewJSONHandler(rec, nil)) // info and above
	c := coretest.Start(t, nil, server.WithInterceptors(logging.UnaryServerInterceptor(l,
		logging.WithLevels(func(code tether.Code) slog.Level {
			if code == tether.CodeOK {
				return slog.LevelDebug
			}
			return slog.LevelInfo
		}))))
	ctx := context.Background()
	_ = c.Client.Invoke(ctx, "echo", coretest.EchoArgs{Text: "x"}, nil)
	_ = c.Client.Invoke(ctx, "fail", coretest.FailArgs{Code: "internal"}, nil)
	rs := rec.all(t)
	if len(rs) != 1 || rs[0]["code"] != "internal" || rs[0]["level"] != "INFO" {
		t.Fatalf("records = %v", rs)
	}
}

func TestDefaultLevel(t *testing.T) {
	for _, code := range tether.Codes() {
		want := slog.LevelWarn
		switch code.String() {
		case "ok", "canceled":
			want = slog.LevelInfo
		case "unknown", "internal", "data_loss", "unimplemented":
			want = slog.LevelError
		}
		if got := logging.DefaultLevel(code); got != want {
			t.Errorf("DefaultLevel(%s) = %v, want %v", code, got, want)
		}
	}
}
