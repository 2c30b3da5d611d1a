package server

import (
	"context"

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
	var index uint64
	err := p.s.channel(stream.Context(), req, func(m *tetherv1.Payload) error {
		err := stream.Send(&tetherv1.ChannelMessage{Index: index, Message: m})
		index++
		return err
	})
	if err != nil {
		return err
	}
	return stream.Send(&tetherv1.ChannelMessage{Index: index, End: true})
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
		return nil, nil, tether.Errorf(tether.CodeNotFound, "unknown command %q", req.GetCommand())
	}
	if cmd.kind != kind {
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
	if len(req.GetHeaders()) > 0 {
		h := call.Header.Copy()
		if h == nil {
			h = metadata.MD{}
		}
		for k, v := range req.GetHeaders() {
			h.Append(k, v)
		}
		call.Header = h
	}
	return cmd, tether.WithCall(ctx, call), nil
}

func (s *Server) invoke(ctx context.Context, req *tetherv1.InvokeRequest) (res *tetherv1.Payload, err error) {
	cmd, ctx, err := s.resolve(ctx, req, tether.KindInvoke)
	if err != nil {
		return nil, err
	}
	defer s.recoverTo(&err, "command "+cmd.name)
	return cmd.invoke(ctx, req.GetArgs())
}

func (s *Server) channel(ctx context.Context, req *tetherv1.InvokeRequest, send func(*tetherv1.Payload) error) (err error) {
	cmd, ctx, err := s.resolve(ctx, req, tether.KindChannel)
	if err != nil {
		return err
	}
	defer s.recoverTo(&err, "channel "+cmd.name)
	return cmd.open(ctx, req.GetArgs(), send)
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
