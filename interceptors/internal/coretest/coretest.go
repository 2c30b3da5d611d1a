// Package coretest starts a real Tether core for the interceptor packages'
// tests: server.New with the given options, a few commands, and a client
// connected in-process (a trusted front, so client labels are believed).
package coretest

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/server"
)

// Core is a running server and a client connected to it.
type Core struct {
	Srv    *server.Server
	Conn   *grpc.ClientConn
	Client *client.Client
}

// EchoArgs are the arguments of the "echo" command.
type EchoArgs struct {
	Text string `json:"text"`
}

// FailArgs are the arguments of the "fail" command.
type FailArgs struct {
	Code string `json:"code"`
}

// CountArgs are the arguments of the "count" channel command.
type CountArgs struct {
	N int `json:"n"`
}

// Commands registers the test commands:
//   - echo({text}) → text
//   - upper(StringValue) → StringValue (a proto command)
//   - fail({code}) → an error with that code
//   - count({n}) → a channel of 0..n-1
func Commands(s *server.Server) {
	server.Handle(s, "echo", func(_ context.Context, a EchoArgs) (string, error) { return a.Text, nil })
	server.Handle(s, "upper", func(_ context.Context, a *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		return wrapperspb.String("<" + a.GetValue() + ">"), nil
	})
	server.Handle(s, "fail", func(_ context.Context, a FailArgs) (struct{}, error) {
		code, ok := tether.ParseCode(a.Code)
		if !ok {
			code = tether.CodeUnknown
		}
		return struct{}{}, tether.NewError(code, "failed as asked")
	})
	server.HandleChannel(s, "count", func(_ context.Context, a CountArgs, send func(int) error) error {
		for i := range min(a.N, 1000) {
			if err := send(i); err != nil {
				return err
			}
		}
		return nil
	})
}

// Start starts a core with opts, registers Commands and then register (if
// not nil), and connects a client in-process. Everything stops when the
// test ends.
func Start(t testing.TB, register func(*server.Server), opts ...server.Option) *Core {
	t.Helper()
	quiet := server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := server.New(append([]server.Option{quiet}, opts...)...)
	Commands(srv)
	if register != nil {
		register(srv)
	}
	conn, err := srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	return &Core{Srv: srv, Conn: conn, Client: client.New(conn)}
}

// Labelled returns a context whose calls carry the client label.
func Labelled(label string) context.Context {
	return client.WithClientLabel(context.Background(), label, "")
}
