package app_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/tether-ipc/tether/app"
	"github.com/tether-ipc/tether/internal/inproc"
	"github.com/tether-ipc/tether/server"
)

// directProbe records whether calls ran on the core's direct in-process
// path: a command for invokes, a stream interceptor for listen streams.
type directProbe struct{ invoke, listen atomic.Int32 } // 0 unseen, 1 direct, 2 not

func mark(v *atomic.Int32, ctx context.Context) {
	if _, ok := grpc.ServerTransportStreamFromContext(ctx).(inproc.Direct); ok {
		v.Store(1)
	} else {
		v.Store(2)
	}
}

func (p *directProbe) options() []app.Option {
	return []app.Option{app.WithServerOptions(server.WithStreamInterceptors(
		func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			mark(&p.listen, ss.Context())
			return h(srv, ss)
		}))}
}

// The app as shipped — metrics, per-call logs, and tracing exported over
// OTLP — keeps the gateway's calls on the core's fast paths: unary invokes
// run directly through the chain (no HTTP/2 framing, no proto encoding),
// and SSE listeners are pushed (no gRPC stream, no goroutine of their own).
// A grpc.ServerOption in the app's assembly (otelgrpc's stats handler, say)
// would switch both off: the second half shows that this test notices.
func TestGatewayFastPathsHoldAsShipped(t *testing.T) {
	sink := httpSink(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")

	for _, tc := range []struct {
		name   string
		extra  []app.Option
		direct bool
	}{
		{"as shipped", nil, true},
		{"with a grpc.ServerOption", []app.Option{app.WithServerOptions(server.WithGRPCOptions(grpc.StatsHandler(nopStats{})))}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &directProbe{}
			opts := append(p.options(), tc.extra...)
			opts = append(opts, app.WithServerOptions(server.WithInterceptors(
				func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
					if info.FullMethod == "/demo.v1.Demo/Greet" {
						mark(&p.invoke, ctx)
					}
					return h(ctx, req)
				})))
			_, r := run(t, baseConfig(t), io.Discard, opts...)
			if code, body := post(t, r.Token, r.HTTP+"/ipc/invoke/greet", `{"name":"fast"}`); code != 200 {
				t.Fatalf("greet: %d %s", code, body)
			}
			res, err := bearerClient(r.Token).Get(r.HTTP + "/ipc/listen?event=fast")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bufio.NewReader(res.Body).ReadByte(); err != nil { // the stream has started
				t.Fatal(err)
			}
			res.Body.Close()
			want := int32(2)
			if tc.direct {
				want = 1
			}
			if got := p.invoke.Load(); got != want {
				t.Errorf("invoke through the gateway: direct=%v, want %v", got == 1, tc.direct)
			}
			if got := p.listen.Load(); got != want {
				t.Errorf("SSE listener: pushed=%v, want %v", got == 1, tc.direct)
			}
		})
	}
}

type nopStats struct{}

func (nopStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (nopStats) HandleRPC(context.Context, stats.RPCStats)                         {}
func (nopStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (nopStats) HandleConn(context.Context, stats.ConnStats)                       {}

// httpSink is an OTLP/HTTP endpoint that accepts every export.
func httpSink(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	})}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	return "http://" + l.Addr().String()
}
