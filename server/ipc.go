package server

import (
	"context"
	"strings"
	"sync"

	"google.golang.org/grpc/metadata"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/payload"
)

// ipcService implements tether.v1.IPC on top of the registry.
type ipcService struct {
	tetherv1.UnimplementedIPCServer
	s *Server
}

func (p *ipcService) Invoke(ctx context.Context, req *tetherv1.InvokeRequest) (*tetherv1.InvokeResponse, error) {
	res, err := p.s.invoke(ctx, req)
	if err != nil {
		return nil, err
	}
	return &tetherv1.InvokeResponse{Result: res}, nil
}

func (p *ipcService) Channel(req *tetherv1.InvokeRequest, stream tetherv1.IPC_ChannelServer) error {
	return p.s.channelCall(stream.Context(), req, stream.Send)
}

func (p *ipcService) ListCommands(context.Context, *tetherv1.ListCommandsRequest) (*tetherv1.ListCommandsResponse, error) {
	return &tetherv1.ListCommandsResponse{Commands: p.s.Commands()}, nil
}

// resolve finds the command of req and builds its call context.
func (s *Server) resolve(ctx context.Context, req *tetherv1.InvokeRequest, kind tether.Kind) (*command, context.Context, error) {
	if err := validCommandName(req.GetCommand()); err != nil {
		return nil, nil, err
	}
	cmd, ok := s.reg.lookup(req.GetCommand())
	if !ok {
		return nil, nil, s.unknownCommand(req.GetCommand())
	}
	if kind == 0 {
		kind = cmd.kind
	} else if cmd.kind != kind {
		if kind == tether.KindInvoke {
			return nil, nil, tether.Errorf(tether.CodeFailedPrecondition, "command %q is a channel command: call it with a channel", cmd.name)
		}
		return nil, nil, tether.Errorf(tether.CodeFailedPrecondition, "command %q is not a channel command: invoke it", cmd.name)
	}
	call, err := s.newCall(ctx, kind, cmd.name, cmd.method)
	if err != nil {
		return nil, nil, err
	}
	call.IdempotencyKey = req.GetIdempotencyKey()
	call.Plugin, call.PluginDefault = pluginOf(cmd)
	if hs := req.GetHeaders(); len(hs) > 0 {
		call.Header = withHeaders(call.Header, hs)
	}
	return cmd, tether.WithCall(ctx, call), nil
}

// withHeaders is md with the caller's own headers of an Invoke request (a
// page's, through the gateway) over the transport's keys, in a new map; the
// values of md are shared, not copied (a Call's Header is read-only).
func withHeaders(md metadata.MD, hs map[string]string) metadata.MD {
	h := make(metadata.MD, len(md)+len(hs))
	for k, v := range md {
		h[k] = v
	}
	vals := make([]string, 0, len(hs)) // one array for every value
	for k, v := range hs {
		vals = append(vals, v)
		h[strings.ToLower(k)] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	return h
}

func (s *Server) invoke(ctx context.Context, req *tetherv1.InvokeRequest) (res *tetherv1.Payload, err error) {
	cmd, ctx, err := s.resolve(ctx, req, tether.KindInvoke)
	if err != nil {
		return nil, err
	}
	defer s.recoverTo(&err, "command "+cmd.name)
	return cmd.invoke(ctx, req.GetArgs())
}

// channelCall runs the Channel method: a channel command, whose messages
// go to the channel its arguments name (if any), then its end and an empty
// result; or a command whose arguments hold channels (Channel), whose
// result is sent when its handler returns and whose call goes on until its
// channels are closed, the caller goes, or the server stops.
func (s *Server) channelCall(ctx context.Context, req *tetherv1.InvokeRequest, send func(*tetherv1.ChannelMessage) error) (err error) {
	cmd, cctx, err := s.resolve(ctx, req, 0)
	if err != nil {
		return err
	}
	if cmd.kind == tether.KindChannel {
		args, id := stripChannels(req.GetArgs())
		var index uint64
		err := func() (err error) {
			defer s.recoverTo(&err, "channel "+cmd.name)
			return cmd.open(cctx, args, func(m *tetherv1.Payload) error {
				err := send(&tetherv1.ChannelMessage{Channel: id, Index: index, Message: m})
				index++
				return err
			})
		}()
		if err != nil {
			return err
		}
		if err := send(&tetherv1.ChannelMessage{Channel: id, Index: index, End: true}); err != nil {
			return err
		}
		return send(&tetherv1.ChannelMessage{Result: &tetherv1.InvokeResponse{}})
	}
	call, _ := tether.CallFromContext(cctx)
	release, err := s.kept.take(call.ClientLabel)
	if err != nil {
		return err
	}
	defer release()
	cc := newChannelCall(send)
	cctx = context.WithValue(cctx, channelCallKey{}, cc)
	res, err := func() (res *tetherv1.Payload, err error) {
		defer s.recoverTo(&err, "command "+cmd.name)
		return cmd.invoke(cctx, req.GetArgs())
	}()
	if err == nil {
		err = cc.write(&tetherv1.ChannelMessage{Result: &tetherv1.InvokeResponse{Result: res}})
	}
	if err != nil {
		cc.end(err)
		return err
	}
	select {
	case <-cc.waitIdle():
	case <-ctx.Done():
		err = tether.FromError(ctx.Err())
	case <-s.draining.Done():
		err = tether.NewError(tether.CodeUnavailable, "server is shutting down")
	}
	cc.end(err)
	return err
}

// keptCalls counts the calls with channels of each client label.
type keptCalls struct {
	mu sync.Mutex
	n  map[string]int
}

func (k *keptCalls) take(label string) (func(), error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.n == nil {
		k.n = map[string]int{}
	}
	if k.n[label] >= MaxKeptCallsPerClient {
		return nil, tether.Errorf(tether.CodeResourceExhausted, "client has %d calls with open channels: close some channels first", MaxKeptCallsPerClient)
	}
	k.n[label]++
	return func() {
		k.mu.Lock()
		if k.n[label]--; k.n[label] <= 0 {
			delete(k.n, label)
		}
		k.mu.Unlock()
	}, nil
}

// Invoke runs a command in-process, through the same chain as remote calls
// (but not the wire interceptors: the caller is the backend itself). args
// may be a proto message, []byte (raw), json.RawMessage, nil, or any value
// encoding/json accepts; result may be a proto message, *[]byte,
// *json.RawMessage, or a pointer encoding/json decodes into, or nil.
func (s *Server) Invoke(ctx context.Context, command string, args, result any) error {
	p, err := payload.Of(args)
	if err != nil {
		return err
	}
	res, err := s.invoke(ctx, &tetherv1.InvokeRequest{Command: command, Args: p})
	if err != nil {
		return tether.FromError(err)
	}
	return payload.Decode(res, result)
}

// Commands describes every registered command, sorted by name.
func (s *Server) Commands() []*tetherv1.CommandInfo {
	cmds := s.reg.list()
	out := make([]*tetherv1.CommandInfo, len(cmds))
	for i, c := range cmds {
		kind := tetherv1.CommandInfo_KIND_UNARY
		if c.kind == tether.KindChannel {
			kind = tetherv1.CommandInfo_KIND_CHANNEL
		}
		out[i] = &tetherv1.CommandInfo{Name: c.name, Kind: kind, Method: c.method,
			ArgsSchema: string(c.argsSchema), ResultSchema: string(c.resSchema), Description: c.description,
			ArgsShape: c.shape.Proto()}
	}
	return out
}
