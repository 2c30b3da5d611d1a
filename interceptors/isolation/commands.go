package isolation

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/jsonargs"
)

// CommandSource returns the core's commands as its IPC service describes
// them (tether.v1.IPC/ListCommands): their names, kinds and argument
// shapes.
type CommandSource func(ctx context.Context) ([]*tetherv1.CommandInfo, error)

// CommandsFrom is the CommandSource of a connection to the core: its
// ListCommands method. A stage installed on a connection uses that
// connection by default.
func CommandsFrom(cc grpc.ClientConnInterface) CommandSource {
	ipc := tetherv1.NewIPCClient(cc)
	return func(ctx context.Context) ([]*tetherv1.CommandInfo, error) {
		res, err := ipc.ListCommands(ctx, &tetherv1.ListCommandsRequest{})
		if err != nil {
			return nil, err
		}
		return res.GetCommands(), nil
	}
}

// refreshEvery is how often at most a stage asks the core for its commands
// again, when a call names one it does not know.
const refreshEvery = time.Second

// commandSet caches the commands of the core: loaded at first use, loaded
// again (at most once per refreshEvery) when a call names an unknown one.
type commandSet struct {
	source CommandSource // nil: ask the connection of each call

	mu      sync.Mutex
	byName  map[string]*jsonargs.Shape // a command's args shape; nil: it takes raw bytes
	fetched time.Time
	loading chan struct{} // closed when the load in flight ends
}

// lookup returns the args shape of the command name (nil: raw bytes), loading the commands if needed through
// s.source or, without one, cc.
func (s *commandSet) lookup(ctx context.Context, cc grpc.ClientConnInterface, name string) (*jsonargs.Shape, error) {
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		if c, ok := s.byName[name]; ok {
			s.mu.Unlock()
			return c, nil
		}
		if s.byName != nil && (attempt > 0 || time.Since(s.fetched) < refreshEvery) {
			s.mu.Unlock()
			return nil, tether.Errorf(tether.CodeNotFound, "unknown command %q", name)
		}
		if wait := s.loading; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, tether.FromError(ctx.Err())
			}
			continue
		}
		src := s.source
		if src == nil {
			if cc == nil {
				s.mu.Unlock()
				return nil, tether.NewError(tether.CodeFailedPrecondition,
					"isolation stage: no command descriptions to put arguments in the handler's keys (install the stage on a connection to the core, or set StageOptions.Commands)")
			}
			src = CommandsFrom(cc)
		}
		done := make(chan struct{})
		s.loading = done
		s.mu.Unlock()

		infos, err := src(ctx)
		byName, perr := parseCommands(infos)
		s.mu.Lock()
		s.loading = nil
		if err == nil && perr == nil {
			s.byName, s.fetched = byName, time.Now()
		}
		s.mu.Unlock()
		close(done)
		if err != nil {
			return nil, tether.FromError(err)
		}
		if perr != nil {
			return nil, perr
		}
	}
}

func parseCommands(infos []*tetherv1.CommandInfo) (map[string]*jsonargs.Shape, error) {
	out := make(map[string]*jsonargs.Shape, len(infos))
	for _, ci := range infos {
		sh, err := jsonargs.ShapeFromProto(ci.GetArgsShape())
		if err != nil {
			return nil, tether.Errorf(tether.CodeInternal, "isolation stage: command %q: %s", ci.GetName(), tether.FromError(err).Message())
		}
		out[ci.GetName()] = sh
	}
	return out, nil
}
