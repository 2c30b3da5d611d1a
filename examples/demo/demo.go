// Package demo is Tether's demo app: the commands of the demo.v1.Demo
// service plus a raw-bytes command, served by `tether serve`.
package demo

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/interceptors/capability"
	"github.com/tether-ipc/tether/server"
)

// MaxReadBytes bounds what read_file returns.
const MaxReadBytes = 1 << 20

// App implements demov1.DemoServer.
type App struct {
	demov1.UnimplementedDemoServer
	dataDir string
	// CountInterval is the pause between count messages (for a visible
	// progress bar); zero sends them as fast as the caller reads.
	CountInterval time.Duration
}

// New returns the demo app; read_file serves files below dataDir only.
func New(dataDir string) *App { return &App{dataDir: dataDir} }

// Register registers the demo's commands on s, and a backend listener that
// answers every frontend-event with a backend-event.
func (a *App) Register(s *server.Server) {
	demov1.RegisterDemoServer(s, a)
	server.Handle(s, "echo_bytes", func(_ context.Context, b []byte) ([]byte, error) { return b, nil })
	// The listener lives as long as the server's bus.
	s.Listen("frontend-event", func(e bus.Event) { //nolint:errcheck // "frontend-event" is a valid name
		var msg demov1.FrontendEvent
		text := string(e.Payload.GetJson())
		if server.DecodeEvent(e, &msg) == nil {
			switch {
			case msg.GetMessage() != "":
				text = msg.GetMessage()
			case msg.GetData() != nil:
				if b, err := protojson.Marshal(msg.GetData()); err == nil {
					text = string(b)
				}
			}
		}
		s.Emit(context.Background(), "backend-event", map[string]any{ //nolint:errcheck
			"kind": "reply", "message": "backend heard: " + text, "from": e.Source, "re": e.ID,
		})
	})
}

// Heartbeat emits a backend-event every interval until ctx ends.
func (a *App) Heartbeat(ctx context.Context, s *server.Server, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.Emit(ctx, "backend-event", map[string]any{"kind": "heartbeat", "n": n, "time": now.UTC().Format(time.RFC3339)}) //nolint:errcheck
		}
	}
}

// Greet returns "Hello, <name>!".
func (a *App) Greet(_ context.Context, r *demov1.GreetRequest) (*wrapperspb.StringValue, error) {
	return wrapperspb.String("Hello, " + r.GetName() + "!"), nil
}

// ProcessData returns "Processed: <input>".
func (a *App) ProcessData(_ context.Context, r *demov1.ProcessDataRequest) (*wrapperspb.StringValue, error) {
	return wrapperspb.String("Processed: " + r.GetInput()), nil
}

// ReadFile returns the contents of a file below the data folder. Absolute
// paths, ".." escapes and symlinks leading outside are refused with
// permission_denied: os.Root resolves the path inside the folder. When a
// capability granted the call with path scopes ({"path": "$DATA/**"}), the
// scopes decide too, deny scopes first.
func (a *App) ReadFile(ctx context.Context, r *demov1.ReadFileRequest) (*wrapperspb.StringValue, error) {
	if r.GetPath() == "" {
		return nil, tether.NewError(tether.CodeInvalidArgument, `missing argument "path"`)
	}
	f, err := a.open(ctx, r.GetPath())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "%q is a folder", clip(r.GetPath()))
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxReadBytes+1))
	if err != nil {
		return nil, tether.Errorf(tether.CodeInternal, "reading %q: %v", clip(r.GetPath()), err)
	}
	if len(b) > MaxReadBytes {
		return nil, tether.Errorf(tether.CodeResourceExhausted, "%q is larger than %d bytes", clip(r.GetPath()), MaxReadBytes)
	}
	return wrapperspb.String(string(b)), nil
}

func (a *App) open(ctx context.Context, path string) (*os.File, error) {
	if call, ok := tether.CallFromContext(ctx); ok && call.Scopes != nil {
		ps, err := capability.NewPathScope(call.Scopes, map[string]string{"DATA": a.dataDir})
		if err != nil {
			return nil, tether.Errorf(tether.CodeInternal, "read_file scope: %v", err)
		}
		f, err := ps.Open(a.dataDir, path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, tether.Errorf(tether.CodeNotFound, "no file %q in the data folder", clip(path))
		}
		if err != nil {
			return nil, tether.Errorf(tether.CodePermissionDenied, "outside the read_file scope: %s", tether.FromError(err).Message())
		}
		return f, nil
	}
	root, err := os.OpenRoot(a.dataDir)
	if err != nil {
		return nil, tether.Errorf(tether.CodeUnavailable, "data folder: %v", err)
	}
	defer root.Close()
	f, err := root.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, tether.Errorf(tether.CodeNotFound, "no file %q in the data folder", clip(path))
	case err != nil:
		return nil, tether.Errorf(tether.CodePermissionDenied, "path %q is outside the data folder", clip(path))
	}
	return f, nil
}

// clip shortens a caller's path for an error message.
func clip(s string) string {
	if len(s) > 128 {
		return s[:128] + "…"
	}
	return s
}

// FailDetails is the details value of fail's error.
type FailDetails struct {
	Reason    string `json:"reason"`
	Retryable bool   `json:"retryable"`
}

// Fail always fails with a command error carrying FailDetails.
func (a *App) Fail(_ context.Context, r *demov1.FailRequest) (*emptypb.Empty, error) {
	reason := r.GetReason()
	if reason == "" {
		reason = "the demo fails on purpose"
	}
	return nil, tether.NewError(tether.CodeFailedPrecondition, "fail: "+reason).
		WithDetails(FailDetails{Reason: reason, Retryable: false})
}

// MaxCount bounds count's `to`.
const MaxCount = 1_000_000

// Count streams {n, of} for n = 1..to.
func (a *App) Count(r *demov1.CountRequest, stream demov1.Demo_CountServer) error {
	if r.GetTo() > MaxCount {
		return tether.Errorf(tether.CodeInvalidArgument, "to must be at most %d", MaxCount)
	}
	var tick <-chan time.Time
	if a.CountInterval > 0 {
		t := time.NewTicker(a.CountInterval)
		defer t.Stop()
		tick = t.C
	}
	for n := uint32(1); n <= r.GetTo(); n++ {
		if tick != nil {
			select {
			case <-tick:
			case <-stream.Context().Done():
				return tether.FromError(stream.Context().Err())
			}
		}
		if err := stream.Send(&demov1.CountResponse{N: n, Of: r.GetTo()}); err != nil {
			return err
		}
	}
	return nil
}
