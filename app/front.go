package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"

	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/gateway"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/interceptors/metrics"
	"github.com/tether-ipc/tether/interceptors/tracing"
	"github.com/tether-ipc/tether/internal/netaddr"
)

// front is the gateway with, in isolation mode, its isolation stage, on a
// connection to the core.
type front struct {
	url  string
	web  *http.Server
	conn *grpc.ClientConn
	done chan struct{}
}

// DialFrontend returns an in-process connection to the core as the gateway
// has it: in isolation mode through an isolation stage with the app's hooks
// (every call is checked, then sealed), otherwise plain. Use it for an
// in-process frontend of your own (a bridge to a webview, a test, a load
// program); close it before Run returns. In split mode the hooks run in the
// gateway process, so DialFrontend is not available there.
func (a *App) DialFrontend(opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	var stage *isolation.Stage
	if a.key != nil {
		var err error
		if stage, err = a.NewStage(); err != nil {
			return nil, err
		}
	}
	return a.core.DialInProcess(append(frontDialOptions(a.log, a.metrics, stage), opts...)...)
}

// frontDialOptions are the options of the gateway's connection to the
// core, in this process or in split mode's gateway process: tracing, then
// with a stage the block observer and the stage itself.
func frontDialOptions(log *slog.Logger, m *metrics.Metrics, stage *isolation.Stage) []grpc.DialOption {
	dial := []grpc.DialOption{grpc.WithChainUnaryInterceptor(tracing.UnaryClientInterceptor()), grpc.WithChainStreamInterceptor(tracing.StreamClientInterceptor())}
	if stage == nil {
		return dial
	}
	return append(append(dial, blockObserver(log, m)...), isolation.DialOptions(stage)...)
}

// NewStage returns a new isolation stage (a session of its own) with the
// app's hooks, sealing with the app's key, for a frontend in this process
// that reaches the core over another connection: put it on the connection
// with isolation.DialOptions. The key itself never leaves the app. It fails
// outside isolation mode, and in split mode, whose hooks run in the gateway
// process.
func (a *App) NewStage() (*isolation.Stage, error) {
	if a.key == nil {
		return nil, errors.New("app: no isolation stage: the pattern is not isolation")
	}
	if a.cfg.Isolation.Split {
		return nil, errors.New("app: no isolation stage here: in split mode the stage runs in the gateway process")
	}
	return isolation.NewStage(a.key, a.hooks...)
}

// startFront runs the gateway in this process over an in-process
// connection to the core.
func (a *App) startFront() (*front, error) {
	conn, err := a.DialFrontend()
	if err != nil {
		return nil, err
	}
	opts := append(a.gatewayOptions(), gateway.WithHandler("GET", "/metrics", a.metrics.Handler()))
	f, err := serveFront(a.cfg, a.log, conn, append(opts, a.o.gatewayOpts...))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return f, nil
}

// gatewayOptions are the gateway options the configuration asks for.
func (a *App) gatewayOptions() []gateway.Option {
	cfg := a.cfg
	opts := []gateway.Option{gateway.WithLogger(a.log), gateway.WithMaxBodyBytes(cfg.Gateway.MaxBodyBytes)}
	if a.tp != nil {
		opts = append(opts, gateway.WithTracerProvider(a.tp))
	}
	if cfg.Frontend != "" {
		opts = append(opts, gateway.WithFrontend(cfg.Frontend))
	}
	if len(cfg.Gateway.Origins) > 0 {
		opts = append(opts, gateway.WithOrigins(cfg.Gateway.Origins))
	}
	if len(cfg.Gateway.Hosts) > 0 {
		opts = append(opts, gateway.WithHosts(cfg.Gateway.Hosts...))
	}
	if a.secret != "" {
		opts = append(opts, gateway.WithToken(a.secret))
	}
	if len(cfg.Gateway.FrameAncestors) > 0 {
		opts = append(opts, gateway.WithFrameAncestors(cfg.Gateway.FrameAncestors...))
	}
	if csp, _ := cfg.App.Security.ContentSecurityPolicy(); csp != "" { // validated by config
		opts = append(opts, gateway.WithContentSecurityPolicy(csp))
	}
	if cfg.App.WithGlobalTauri {
		opts = append(opts, gateway.WithGlobalTauri())
	}
	if ap := cfg.App.Security.AssetProtocol; ap.Enable {
		opts = append(opts, gateway.WithAssetProtocol(ap.Scope.Allow, ap.Scope.Deny, assetVars(cfg, a.cfg.IdentifierOrDefault())))
	}
	if cfg.Gateway.Console != nil && *cfg.Gateway.Console {
		opts = append(opts, gateway.WithConsole())
	}
	return opts
}

// assetVars are the path variables of the asset protocol's scope, as
// Tauri's BaseDirectory names them: the app's folders ($APPDATA is the data
// folder; $APPCONFIG, $APPCACHE and $APPLOG follow XDG), $RESOURCE (the
// frontend folder), and the user's ($HOME, $DATA, $CONFIG, $CACHE, $TEMP,
// $DESKTOP, $DOCUMENT, $DOWNLOAD, $PICTURE, $AUDIO, $VIDEO, $PUBLIC).
func assetVars(cfg config.Config, id string) map[string]string {
	vars := map[string]string{}
	set := func(name, dir string) {
		if dir != "" && filepath.IsAbs(dir) {
			vars[name] = filepath.Clean(dir)
		}
	}
	home, _ := os.UserHomeDir()
	xdg := func(env, fallback string) string {
		if v := os.Getenv(env); filepath.IsAbs(v) {
			return v
		}
		if home == "" {
			return ""
		}
		return filepath.Join(home, fallback)
	}
	data, cfgDir, cache := xdg("XDG_DATA_HOME", ".local/share"), xdg("XDG_CONFIG_HOME", ".config"), xdg("XDG_CACHE_HOME", ".cache")
	if d, err := cfg.DataDir(); err == nil {
		set("APPDATA", d)
		set("APPLOCALDATA", d)
		set("APPLOG", filepath.Join(d, "logs"))
	}
	if cfgDir != "" {
		set("APPCONFIG", filepath.Join(cfgDir, id))
	}
	if cache != "" {
		set("APPCACHE", filepath.Join(cache, id))
	}
	set("RESOURCE", cfg.Frontend)
	set("HOME", home)
	set("DATA", data)
	set("LOCALDATA", data)
	set("CONFIG", cfgDir)
	set("CACHE", cache)
	set("TEMP", os.TempDir())
	if home != "" {
		for name, sub := range map[string]string{"DESKTOP": "Desktop", "DOCUMENT": "Documents", "DOWNLOAD": "Downloads",
			"PICTURE": "Pictures", "AUDIO": "Music", "VIDEO": "Videos", "PUBLIC": "Public"} {
			set(name, filepath.Join(home, sub))
		}
	}
	return vars
}

// serveFront serves the gateway of cfg over conn (which it then owns).
func serveFront(cfg config.Config, log *slog.Logger, conn *grpc.ClientConn, opts []gateway.Option) (*front, error) {
	gw, err := gateway.New(conn, opts...)
	if err != nil {
		return nil, fmt.Errorf("gateway: %v", err)
	}
	l, err := netaddr.Listen(cfg.HTTP)
	if err != nil {
		gw.Close()
		return nil, &config.FieldError{Field: "http", Err: hint(err)}
	}
	f := &front{conn: conn, web: gw.Server(cfg.HTTP), done: make(chan struct{})}
	f.url = "http://" + l.Addr().String()
	if l.Addr().Network() == "unix" {
		f.url = "unix://" + l.Addr().String()
	}
	go func() {
		defer close(f.done)
		if err := f.web.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("tether: HTTP server", "err", err)
		}
	}()
	return f, nil
}

// shutdown stops the gateway (ending its streams) and closes its connection.
func (f *front) shutdown(ctx context.Context) {
	f.web.Shutdown(ctx) //nolint:errcheck // best effort within the grace period
	<-f.done
	f.conn.Close()
}

// blockObserver logs and counts the calls the isolation hooks block — kind,
// command or event, client label and the hook's reason, never payloads —
// as tether_isolation_rejections_total{reason="blocked"}. It runs outside
// the stage, on the gateway's side.
func blockObserver(log *slog.Logger, m *metrics.Metrics) []grpc.DialOption {
	note := func(ctx context.Context, method string, req any, err error) {
		if isolation.ReasonOf(err) != isolation.ReasonBlocked {
			return
		}
		kind, name := describeRequest(method, req)
		m.IsolationRejected(string(isolation.ReasonBlocked))
		log.WarnContext(ctx, "tether: isolation hook blocked a call", "kind", kind, "name", name, "label", outgoingLabel(ctx), "reason", err.Error())
	}
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if err != nil {
				// A block is the stage's, before the core had the request:
				// reading it is safe even when it was handed over.
				note(ctx, method, req, err)
			}
			return err
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			s, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				note(ctx, method, nil, err)
				return nil, err
			}
			return &observedStream{ClientStream: s, note: func(req any, err error) { note(ctx, method, req, err) }}, nil
		}),
	}
}

// observedStream reports a block that the stage returns from SendMsg (a
// stream's request passes the hooks when it is sent).
type observedStream struct {
	grpc.ClientStream
	note func(req any, err error)
}

func (s *observedStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if err != nil {
		s.note(m, err)
	}
	return err
}

// describeRequest names what an IPC request carries, for logs.
func describeRequest(method string, req any) (kind, name string) {
	switch r := req.(type) {
	case *tetherv1.InvokeRequest:
		if strings.HasSuffix(method, "/Channel") {
			return "channel", r.GetCommand()
		}
		return "invoke", r.GetCommand()
	case *tetherv1.EmitRequest:
		return "emit", r.GetEvent()
	case *tetherv1.ListenRequest:
		return "listen", strings.Join(r.GetEvents(), ",")
	}
	return strings.ToLower(method[strings.LastIndexByte(method, '/')+1:]), ""
}

// outgoingLabel is the client label a gateway call carries.
func outgoingLabel(ctx context.Context) string {
	md, _ := metadata.FromOutgoingContext(ctx)
	if v := md.Get(tether.MetadataClientLabel); len(v) > 0 {
		return v[0]
	}
	return ""
}
