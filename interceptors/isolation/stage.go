package isolation

import (
	"context"
	"errors"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/inproc"
	"github.com/tether-ipc/tether/internal/jsonargs"
)

// Stage is the isolation stage: it runs the hook chain on each request and
// seals the result for the core. The gateway runs one in-process; a Go
// client installs it with UnaryClientInterceptor and StreamClientInterceptor.
// A Stage is safe for concurrent use.
//
// Before its hooks see an invoke, the stage puts the arguments in the keys
// the command's handler binds, as the core will (see jsonargs): a key the
// handler does not bind is dropped (or, for a strict command, refused), one
// argument under two spellings is refused with invalid_argument, and nested
// keys bind exactly. So what a hook checks is what the handler gets. The
// stage learns how each command binds its arguments from the core's
// ListCommands, asked over the connection the stage is installed on (in
// process or across processes alike) or through StageOptions.Commands, once
// and again when a call names a command it does not know.
type Stage struct {
	sealer    *Sealer
	hook      Hook // nil when there are no hooks: requests are only sealed
	commands  commandSet
	onRefusal func(context.Context, Refusal)
}

// StageOptions configure a Stage beyond its key.
type StageOptions struct {
	// Hooks run in order on each request (see Chain). With none, requests
	// are only sealed.
	Hooks []Hook
	// Commands describes the core's commands, for putting arguments in their
	// handlers' keys. Default: the core's ListCommands over the connection
	// the stage is installed on; Process without a connection needs it.
	Commands CommandSource
	// OnRefusal, if set, is called for every request the stage refuses,
	// with what an app may log and count — never arguments or payloads.
	OnRefusal func(context.Context, Refusal)
}

// Refusal describes a request the stage refused.
type Refusal struct {
	Kind tether.Kind
	// Name is the command or event, Label the client label.
	Name, Label string
	// Code is the refusal's code: permission_denied for a hook's block,
	// invalid_argument for arguments, not_found for an unknown command.
	Code tether.Code
	// Reason is ReasonBlocked for a hook's block ("" otherwise).
	Reason Reason
	// Limit reports a block because a hook exceeded a sandbox limit (time,
	// memory, stack, a regular expression's budget).
	Limit bool
	// Detail is the refusal's message, cut to 256 bytes; a hook's block
	// carries the hook's own words.
	Detail string
}

// NewStage returns a stage that seals with key after running hooks in order
// (see Chain). With no hooks every request passes the stage unchanged.
func NewStage(key *Key, hooks ...Hook) (*Stage, error) {
	return NewStageWith(key, StageOptions{Hooks: hooks})
}

// NewStageWith returns a stage configured by opts.
func NewStageWith(key *Key, opts StageOptions) (*Stage, error) {
	s, err := NewSealer(key)
	if err != nil {
		return nil, err
	}
	st := &Stage{sealer: s, commands: commandSet{source: opts.Commands}, onRefusal: opts.OnRefusal}
	if len(opts.Hooks) > 0 {
		st.hook = Chain(opts.Hooks...)
	}
	return st, nil
}

// Session returns the stage's session id.
func (s *Stage) Session() string { return s.sealer.Session() }

// Process runs the hooks on req (an *InvokeRequest, *EmitRequest or
// *ListenRequest of the given kind) for client, applies their changes and
// seals it in place. A blocked call returns a permission_denied
// *tether.Error and leaves req unsealed; arguments the handler cannot bind
// return invalid_argument. With hooks, Process needs StageOptions.Commands.
func (s *Stage) Process(ctx context.Context, kind tether.Kind, req proto.Message, client Client) error {
	return s.process(ctx, kind, req, client, nil)
}

func (s *Stage) process(ctx context.Context, kind tether.Kind, req proto.Message, client Client, cc grpc.ClientConnInterface) error {
	return s.report(ctx, kind, req, client.Label, s.run(ctx, kind, req, client, cc))
}

// report passes err, a refusal of req (or nil), to OnRefusal, and returns it.
func (s *Stage) report(ctx context.Context, kind tether.Kind, req proto.Message, label string, err error) error {
	if err != nil && s.onRefusal != nil {
		s.onRefusal(ctx, refusalOf(kind, req, label, err))
	}
	return err
}

func (s *Stage) run(ctx context.Context, kind tether.Kind, req proto.Message, client Client, cc grpc.ClientConnInterface) error {
	if s.hook == nil {
		// Nothing can change the request: skip building hook payloads.
		if err := noEvent(kind, req); err != nil {
			return err
		}
		return s.sealer.Seal(kind, client.Label, req)
	}
	inv, isInvoke := req.(*tetherv1.InvokeRequest)
	raw := false // the hooks see the args as sent: the command is not the core's
	if isInvoke {
		known, err := s.canonical(ctx, cc, inv, "")
		if err != nil {
			return err
		}
		raw = !known
	}
	ps, err := PayloadsOf(kind, req, client)
	if err != nil {
		return err
	}
	if kind == tether.KindListen && len(ps) == 0 {
		return refuse(ReasonBlocked, "listen names no event")
	}
	var before *tetherv1.Payload
	var name string
	if isInvoke {
		before, name = inv.GetArgs(), inv.GetCommand()
	}
	events := make([]string, 0, len(ps))
	for _, p := range ps {
		got, err := s.hook(ctx, p.Clone())
		if err != nil {
			return blocked(err)
		}
		if err := ApplyPayload(req, p, got); err != nil {
			return err
		}
		if got != nil {
			events = append(events, got.Event)
		}
	}
	if lr, ok := req.(*tetherv1.ListenRequest); ok {
		lr.Events = events
	}
	if isInvoke && (raw || inv.GetArgs() != before || inv.GetCommand() != name) {
		// The hooks changed the arguments or the command: in the keys of
		// the command's handler, again. Arguments the hooks saw as sent
		// (of a command the core does not have, renamed by a hook) must
		// already be in those keys: a hook that looked for one spelling
		// cannot have let another through.
		from := ""
		if raw {
			from = name
		}
		known, err := s.canonical(ctx, cc, inv, from)
		if err != nil {
			return err
		}
		if !known {
			return tether.Errorf(tether.CodeNotFound, "unknown command %q", inv.GetCommand())
		}
	}
	return s.sealer.Seal(kind, client.Label, req)
}

// canonical puts the JSON args of inv in the keys its handler binds, and
// reports whether the core has the command. With from set (the hooks saw
// the args of the command from as they were sent), a key in another
// spelling is refused rather than put in the handler's.
func (s *Stage) canonical(ctx context.Context, cc grpc.ClientConnInterface, inv *tetherv1.InvokeRequest, from string) (bool, error) {
	shape, err := s.commands.lookup(ctx, cc, inv.GetCommand())
	if tether.CodeOf(err) == tether.CodeNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	js, ok := inv.GetArgs().GetBody().(*tetherv1.Payload_Json)
	if !ok || shape == nil {
		return true, nil
	}
	out, renamed, err := shape.CanonicalRenames(js.Json, 0)
	if err != nil {
		return true, tether.Errorf(tether.CodeInvalidArgument, "command %s: %s", inv.GetCommand(), tether.FromError(err).Message())
	}
	if from != "" && renamed != "" {
		return true, tether.Errorf(tether.CodeInvalidArgument,
			"command %s (a hook's name for %s): argument %q is not in the keys its handler binds", inv.GetCommand(), from, jsonargs.Shorten(renamed, 64))
	}
	if len(out) != len(js.Json) || (len(out) > 0 && &out[0] != &js.Json[0]) {
		inv.Args = &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: out}}
	}
	return true, nil
}

// connOf is cc as an interface, nil for a nil cc.
func connOf(cc *grpc.ClientConn) grpc.ClientConnInterface {
	if cc == nil {
		return nil
	}
	return cc
}

// refusalOf describes err, a refusal of req.
func refusalOf(kind tether.Kind, req proto.Message, label string, err error) Refusal {
	te := tether.FromError(err)
	r := Refusal{Kind: kind, Label: label, Code: te.Code(), Reason: ReasonOf(err), Detail: te.Message()}
	var re *reasonError
	r.Limit = errors.As(err, &re) && re.limit
	switch m := req.(type) {
	case *tetherv1.InvokeRequest:
		r.Name = m.GetCommand()
	case *tetherv1.EmitRequest:
		r.Name = m.GetEvent()
	case *tetherv1.ListenRequest:
		r.Name = strings.Join(m.GetEvents(), ",")
	}
	r.Name = jsonargs.Shorten(r.Name, 256)
	r.Detail = jsonargs.Shorten(r.Detail, 256)
	return r
}

// noEvent refuses a listen request that names no event, as the hooks
// would.
func noEvent(kind tether.Kind, req proto.Message) error {
	if lr, ok := req.(*tetherv1.ListenRequest); ok && kind == tether.KindListen && len(lr.GetEvents()) == 0 {
		return refuse(ReasonBlocked, "listen names no event")
	}
	return nil
}

// processCopy is Process for a request the caller still owns: it returns
// the sealed request to send and leaves req as it is. Without hooks, req is
// serialized straight into the sealed buffer, never copied; with hooks, the
// hooks work on a copy. A non-nil sb lends the buffer (see sealCopy).
func (s *Stage) processCopy(ctx context.Context, kind tether.Kind, req proto.Message, sb *sealBuf, cc grpc.ClientConnInterface) (proto.Message, error) {
	if s.hook == nil {
		if err := noEvent(kind, req); err != nil {
			return nil, s.report(ctx, kind, req, outgoingLabel(ctx), err)
		}
		return s.sealer.sealCopy(kind, outgoingLabel(ctx), req, sb)
	}
	req = proto.Clone(req)
	if err := s.process(ctx, kind, req, outgoingClient(ctx), cc); err != nil {
		return nil, err
	}
	return req, nil
}

// The methods of the IPC service.
const (
	methodInvoke       = tetherv1.IPC_Invoke_FullMethodName
	methodChannel      = tetherv1.IPC_Channel_FullMethodName
	methodEmit         = tetherv1.IPC_Emit_FullMethodName
	methodListen       = tetherv1.IPC_Listen_FullMethodName
	methodListCommands = tetherv1.IPC_ListCommands_FullMethodName
)

func kindOf(fullMethod string) (tether.Kind, bool) {
	switch fullMethod {
	case methodInvoke:
		return tether.KindInvoke, true
	case methodChannel:
		return tether.KindChannel, true
	case methodEmit:
		return tether.KindEmit, true
	case methodListen:
		return tether.KindListen, true
	}
	return 0, false
}

// passes reports whether a method needs no seal: ListCommands, health and
// reflection.
func passes(fullMethod string) bool {
	return fullMethod == methodListCommands ||
		strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

func errTyped(fullMethod string) error {
	return refuse(ReasonMethod, "typed methods are not available in isolation mode through this stage: "+fullMethod)
}

func outgoingClient(ctx context.Context) Client {
	return Client{Label: outgoingLabel(ctx), Origin: firstOutgoing(ctx, tether.MetadataOrigin)}
}

// outgoingLabel returns the first tether-client-label of the outgoing
// metadata: the label the core will read.
func outgoingLabel(ctx context.Context) string {
	return firstOutgoing(ctx, tether.MetadataClientLabel)
}

// firstOutgoing reads one key of the outgoing metadata without copying all
// of it, as metadata.FromOutgoingContext would.
func firstOutgoing(ctx context.Context, key string) string {
	if v := metadata.ValueFromOutgoingContext(ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// UnaryClientInterceptor returns a client interceptor that puts Invoke and
// Emit calls through stage: hooks, then seal. The client label and origin
// come from the outgoing metadata keys tether.MetadataClientLabel and
// tether.MetadataOrigin. ListCommands, health and reflection pass; any other
// method (a typed user method) is refused with permission_denied. The
// caller's request is never modified: interceptors after this one and the
// invoker get a new, sealed request, which like any unary request is not
// theirs to keep once the call returns (its buffer is reused) — unless the
// call hands its request over (Tether's gateway does, on the direct
// in-process path): that request itself is then changed and sealed.
func UnaryClientInterceptor(stage *Stage) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if passes(method) {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		kind, ok := kindOf(method)
		if !ok {
			return errTyped(method)
		}
		msg, ok := req.(proto.Message)
		if !ok {
			return errTyped(method)
		}
		// The sealed request's buffer is borrowed for the call: once invoker
		// returns, gRPC has encoded and sent the request and is done with it,
		// as it is with any request a caller reuses after a unary call.
		if handedOff(opts) {
			// The caller gave the request up (inproc.HandOff): it is processed
			// and sealed in place, into buffers of its own, which the core
			// may keep.
			if err := stage.process(ctx, kind, msg, outgoingClient(ctx), connOf(cc)); err != nil {
				return err
			}
			return invoker(ctx, method, msg, reply, cc, opts...)
		}
		sb := sealBufs.Get().(*sealBuf)
		defer sealBufs.Put(sb)
		sealed, err := stage.processCopy(ctx, kind, msg, sb, connOf(cc))
		if err != nil {
			return err
		}
		return invoker(ctx, method, sealed, reply, cc, opts...)
	}
}

func handedOff(opts []grpc.CallOption) bool {
	for _, o := range opts {
		if _, ok := o.(inproc.HandOff); ok {
			return true
		}
	}
	return false
}

// DialOptions puts stage on a client connection: both of its client
// interceptors, unary and stream.
func DialOptions(stage *Stage) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(UnaryClientInterceptor(stage)),
		grpc.WithChainStreamInterceptor(StreamClientInterceptor(stage)),
	}
}

// StreamClientInterceptor returns a client interceptor that puts the request
// of Channel and Listen calls through stage. The stream is opened at once;
// the hooks run when the request is sent, and a blocked request fails that
// SendMsg (and so the generated client method) with permission_denied and
// cancels the stream. Other streaming methods are refused, except health and
// reflection.
func StreamClientInterceptor(stage *Stage) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if passes(method) {
			return streamer(ctx, desc, cc, method, opts...)
		}
		kind, ok := kindOf(method)
		if !ok || (kind != tether.KindChannel && kind != tether.KindListen) {
			return nil, errTyped(method)
		}
		ctx, cancel := context.WithCancel(ctx)
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			cancel()
			return nil, err
		}
		return &sealingStream{ClientStream: cs, ctx: ctx, cancel: cancel, stage: stage, kind: kind, cc: cc}, nil
	}
}

type sealingStream struct {
	grpc.ClientStream
	ctx    context.Context
	cancel context.CancelFunc
	stage  *Stage
	kind   tether.Kind
	cc     *grpc.ClientConn

	mu   sync.Mutex
	sent bool
}

func (s *sealingStream) SendMsg(m any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent {
		s.cancel()
		return refuse(ReasonMethod, "isolation stage sends one request per stream")
	}
	s.sent = true
	msg, ok := m.(proto.Message)
	if !ok {
		s.cancel()
		return refuse(ReasonMalformed, "request is not a proto message")
	}
	// A stream's message may be used after SendMsg returns (stats handlers,
	// tracing): its buffer is its own.
	sealed, err := s.stage.processCopy(s.ctx, s.kind, msg, nil, connOf(s.cc))
	if err != nil {
		s.cancel()
		return err
	}
	return s.ClientStream.SendMsg(sealed)
}

func (s *sealingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.cancel()
	}
	return err
}
