package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/jsonargs"
	"github.com/tether-ipc/tether/internal/payload"
	"github.com/tether-ipc/tether/internal/schema"
)

// Full methods of the IPC event calls, as interceptors see them.
const (
	EmitMethod   = "/tether.v1.IPC/Emit"
	ListenMethod = "/tether.v1.IPC/Listen"
)

// maxListenNames bounds the event names of one Listen call.
const maxListenNames = 64

// WithBus sets the event bus (for instance natsbus, to span core
// replicas). The default is an in-memory bus; the server closes whichever
// it uses when it stops.
func WithBus(b bus.Bus) Option {
	return func(o *options) { o.bus = b }
}

// EventObserver is told of each event delivered to a listen stream and of
// each gap a slow listener's queue caused (metrics.Metrics is one).
type EventObserver interface {
	Delivered(n uint64)
	Dropped(event string, n uint64)
}

// WithEventObserver sets an EventObserver.
func WithEventObserver(o EventObserver) Option {
	return func(opts *options) { opts.events = o }
}

// Bus returns the server's event bus.
func (s *Server) Bus() bus.Bus { return s.bus }

// Emit publishes an event from the backend to every listener. payload may
// be a proto message (sent as its JSON form, so that JSON listeners read it
// and Go listeners decode it with DecodeEvent), []byte (raw), a
// json.RawMessage, nil, or any value encoding/json accepts.
func (s *Server) Emit(ctx context.Context, event string, payload any) (uint64, error) {
	return s.EmitTo(ctx, "", event, payload)
}

// EmitTo publishes an event that only listeners with the client label
// target receive. The payload is checked as a frontend's is: an event
// declared with a type (DeclareEvent, or the tether.v1.event option) must
// carry that type, or the emit fails with invalid_argument; so is the
// target, which must be a valid event name (bus.ValidName), as every bus
// can carry it.
func (s *Server) EmitTo(ctx context.Context, target, event string, v any) (uint64, error) {
	if err := validTarget(target); err != nil {
		return 0, err
	}
	p, err := s.backendPayload(event, v)
	if err != nil {
		return 0, err
	}
	return s.bus.Publish(ctx, bus.Event{Name: event, Payload: p, Target: target})
}

// backendPayload encodes a payload the backend emits and checks it against
// the event's declared type.
func (s *Server) backendPayload(event string, v any) (*tetherv1.Payload, error) {
	if err := bus.ValidName(event); err != nil {
		return nil, err
	}
	p, err := payload.Event(v)
	if err != nil {
		return nil, err
	}
	if _, typed := s.events.Load(event); typed {
		if err := s.checkEventPayload(event, p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// EmitFilter publishes an event to each client label, among those with a
// listener on this server, for which keep returns true (Tauri's
// emit_filter). It returns the ids given, one per label. Listeners without
// a label, or with one no bus can target (possible with a custom
// IdentityFunc), are not offered to keep: an event for them would reach
// every listener, or fail.
func (s *Server) EmitFilter(ctx context.Context, event string, v any, keep func(label string) bool) ([]uint64, error) {
	p, err := s.backendPayload(event, v)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, label := range s.listeners.labels() {
		if label == "" || validTarget(label) != nil || !keep(label) {
			continue
		}
		id, err := s.bus.Publish(ctx, bus.Event{Name: event, Payload: p, Target: label})
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Listen calls h, on a goroutine of the bus (never the emitter's), for
// every untargeted event named event — emitted by frontends, services or
// the backend — until unlisten is called. bus.Wildcard listens to all.
func (s *Server) Listen(event string, h bus.Handler) (unlisten func(), err error) {
	s.noteBackendEvent(event)
	return s.bus.Listen(event, h)
}

// Once is Listen for the first such event only.
func (s *Server) Once(event string, h bus.Handler) (unlisten func(), err error) {
	s.noteBackendEvent(event)
	return s.bus.Once(event, h)
}

// KnownEvent reports whether name is an event the app itself knows:
// declared with a type (DeclareEvent, or the tether.v1.event option), or
// ever listened to by a backend listener (Listen, Once). Callers cannot
// add names to it, so it suits bounds such as metrics label values
// (metrics.WithKnownEvents).
func (s *Server) KnownEvent(name string) bool {
	if _, ok := s.events.Load(name); ok {
		return true
	}
	_, ok := s.backendEvents.Load(name)
	return ok
}

func (s *Server) noteBackendEvent(name string) {
	if name != bus.Wildcard && bus.ValidName(name) == nil {
		s.backendEvents.Store(name, struct{}{})
	}
}

// DecodeEvent decodes an event's payload into out: a proto message (from
// its JSON form or proto), *[]byte, or anything encoding/json decodes into.
func DecodeEvent(ev bus.Event, out any) error { return payload.Decode(ev.Payload, out) }

// DeclareEvent declares that events named name carry msg's type: emitted
// payloads must decode into it (and pass its protovalidate rules), or the
// emit fails with invalid_argument. Messages in the files of registered
// services that set option (tether.v1.event) are declared by
// RegisterService.
func (s *Server) DeclareEvent(name string, msg proto.Message) {
	if err := bus.ValidName(name); err != nil {
		panic(fmt.Sprintf("tether/server: DeclareEvent: %v", err))
	}
	s.events.Store(name, msg.ProtoReflect().Type())
}

// declareEvents declares the event messages of the file of a service.
func (s *Server) declareEvents(file protoreflect.FileDescriptor) {
	msgs := file.Messages()
	for i := 0; i < msgs.Len(); i++ {
		md := msgs.Get(i)
		name := schema.EventName(md)
		if name == "" {
			continue
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
		if err != nil {
			continue
		}
		s.DeclareEvent(name, mt.New().Interface())
	}
}

// checkEventPayload checks an emitted payload as arguments are checked —
// well-formed JSON, valid UTF-8, no deeper than the depth limit — and
// against its declared type, if any, before any listener sees it.
func (s *Server) checkEventPayload(name string, p *tetherv1.Payload) error {
	if j, ok := p.GetBody().(*tetherv1.Payload_Json); ok {
		if err := jsonargs.Check(j.Json, s.opts.limits.MaxDepth); err != nil {
			return tether.Errorf(tether.CodeInvalidArgument, "payload of event %q: %s", name, tether.FromError(err).Message())
		}
		if len(j.Json) > 0 && !jsonargs.Valid(j.Json) {
			return tether.Errorf(tether.CodeInvalidArgument, "payload of event %q is not well-formed JSON", name)
		}
	}
	v, ok := s.events.Load(name)
	if !ok {
		return nil
	}
	m := v.(protoreflect.MessageType).New().Interface()
	if err := decodeProto(p, m, s.opts.limits.MaxDepth, nil); err != nil {
		return tether.Errorf(tether.CodeInvalidArgument, "payload of event %q: %s", name, tether.FromError(err).Message())
	}
	if s.validator != nil {
		if err := s.validator.Check(m); err != nil {
			te := tether.FromError(err)
			return tether.Errorf(tether.CodeInvalidArgument, "payload of event %q: %s", name, te.Message()).WithDetails(te.Details())
		}
	}
	return nil
}

func (p *ipcService) Emit(ctx context.Context, req *tetherv1.EmitRequest) (*tetherv1.EmitResponse, error) {
	s := p.s
	if err := bus.ValidName(req.GetEvent()); err != nil {
		return nil, err
	}
	if err := validTarget(req.GetTarget()); err != nil {
		return nil, err
	}
	call, err := s.newCall(ctx, tether.KindEmit, req.GetEvent(), EmitMethod)
	if err != nil {
		return nil, err
	}
	call.Target = req.GetTarget()
	ctx = tether.WithCall(ctx, call)
	handler := func(ctx context.Context, r any) (any, error) {
		req := r.(*tetherv1.EmitRequest)
		if err := bus.ValidName(req.GetEvent()); err != nil { // an interceptor may have changed it
			return nil, err
		}
		if req.GetTarget() != call.Target {
			// The capabilities checked call.Target: an emit may not be
			// sent elsewhere after them.
			return nil, tether.NewError(tether.CodeFailedPrecondition, "the emit's target changed after it was checked")
		}
		if err := s.checkEventPayload(req.GetEvent(), req.GetPayload()); err != nil {
			return nil, err
		}
		id, err := s.bus.Publish(ctx, bus.Event{Name: req.GetEvent(), Payload: req.GetPayload(), Target: req.GetTarget(), Source: call.ClientLabel})
		if err != nil {
			return nil, err
		}
		return &tetherv1.EmitResponse{Id: id}, nil
	}
	res, err := s.unary(ctx, req, &grpc.UnaryServerInfo{Server: p, FullMethod: EmitMethod}, handler)
	return asEmit(res), err
}

// validTarget checks the target label of an emit: none, or one that is a
// valid event name (natsbus puts it in a subject).
func validTarget(t string) error {
	if t != "" && bus.ValidName(t) != nil {
		return tether.Errorf(tether.CodeInvalidArgument, "invalid target label %q", clipName(t))
	}
	return nil
}

func asEmit(v any) *tetherv1.EmitResponse {
	r, _ := v.(*tetherv1.EmitResponse)
	return r
}

func (p *ipcService) Listen(req *tetherv1.ListenRequest, stream tetherv1.IPC_ListenServer) error {
	s := p.s
	if len(req.GetEvents()) == 0 {
		return tether.NewError(tether.CodeInvalidArgument, "listen needs at least one event name")
	}
	if len(req.GetEvents()) > maxListenNames {
		return tether.Errorf(tether.CodeInvalidArgument, "listen takes at most %d event names", maxListenNames)
	}
	for _, name := range req.GetEvents() {
		if name == bus.Wildcard {
			continue
		}
		if err := bus.ValidName(name); err != nil {
			return err
		}
	}
	call, err := s.newCall(stream.Context(), tether.KindListen, req.GetEvents()[0], ListenMethod)
	if err != nil {
		return err
	}
	call.Events = req.GetEvents()
	ctx, cancel := context.WithCancel(tether.WithCall(stream.Context(), call))
	defer cancel()
	stopDrain := context.AfterFunc(s.draining, cancel)
	defer stopDrain()

	ss := &channelStream{
		ctx: ctx,
		recv: func(m any) error {
			proto.Merge(m.(proto.Message), req)
			return nil
		},
		send: stream.SendMsg, // a *tetherv1.ListenResponse or a *listenFrame
	}
	handler := func(_ any, ss grpc.ServerStream) error {
		r := &tetherv1.ListenRequest{}
		if err := ss.RecvMsg(r); err != nil {
			return err
		}
		// The header tells the caller its subscription exists: events
		// emitted after that reach it.
		ready := func() error { return stream.SendHeader(metadata.Pairs(tether.MetadataSubscribed, "1")) }
		return s.serveListen(ss.Context(), call.ClientLabel, r, ready, ss.SendMsg)
	}
	err = s.stream(p, ss, &grpc.StreamServerInfo{FullMethod: ListenMethod, IsServerStream: true}, handler)
	if s.draining.Err() != nil && stream.Context().Err() == nil {
		return tether.NewError(tether.CodeUnavailable, "server is shutting down: reconnect and resume")
	}
	return err
}

func (s *Server) serveListen(ctx context.Context, label string, req *tetherv1.ListenRequest, ready func() error, send func(any) error) error {
	sub, err := s.bus.Subscribe(ctx, bus.Filter{Names: req.GetEvents(), Label: label, AfterID: req.GetAfterId()})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	// Known before the caller is told it is subscribed: an EmitFilter
	// made after that reaches its label.
	s.listeners.add(label)
	defer s.listeners.remove(label)
	if err := ready(); err != nil {
		return err
	}
	maxBatch := int(min(max(req.GetMaxBatch(), 1), maxListenBatch))
	var one [1]bus.Message
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return tether.FromError(ctx.Err())
			}
			if errors.Is(err, bus.ErrClosed) {
				return tether.NewError(tether.CodeUnavailable, "server is shutting down: reconnect and resume")
			}
			return err
		}
		// What queued up behind it goes out with it, batched for a
		// listener that asked for batches. The slice is made for this
		// batch, so an idle listener holds none.
		msgs := append(one[:0], msg)
		if maxBatch > 1 {
			if n := sub.Pending(); n > 0 {
				msgs = append(make([]bus.Message, 0, 1+min(n, maxBatch-1)), msg)
			}
			msgs = sub.Poll(msgs, maxBatch-1)
		}
		err = s.sendListen(msgs, maxBatch, req.GetEvents()[0], send)
		one[0] = bus.Message{}
		if err != nil {
			return err
		}
	}
}

// Batching bounds: events per response (whatever the listener asks) and the
// encoded size a batch grows to; a larger event goes in a response of its
// own.
const (
	maxListenBatch = 1024
	maxBatchBytes  = 256 << 10
)

// sendListen sends msgs in order: runs of events as listenFrames of up to
// maxBatch events, each Lagged notice on its own between them.
func (s *Server) sendListen(msgs []bus.Message, maxBatch int, name string, send func(any) error) error {
	obs := s.opts.events
	for len(msgs) > 0 {
		if l := msgs[0].Lagged; l != nil {
			if err := send(msgs[0].Proto()); err != nil {
				return err
			}
			if obs != nil && l.Dropped > 0 {
				obs.Dropped(name, l.Dropped)
			}
			msgs = msgs[1:]
			continue
		}
		n, size := 0, 0
		for n < len(msgs) && n < maxBatch && msgs[n].Event != nil {
			_, ev, err := msgs[n].Event.Encoded()
			if err == nil {
				size += len(ev) + 8
			}
			if n > 0 && size > maxBatchBytes {
				break
			}
			n++
		}
		f := &listenFrame{events: make([]*bus.Event, n)}
		for i := range n {
			f.events[i] = msgs[i].Event
		}
		if err := send(f); err != nil {
			return err
		}
		if obs != nil {
			obs.Delivered(uint64(n))
		}
		msgs = msgs[n:]
	}
	return nil
}

// labelSet counts the live listeners of each client label, for EmitFilter.
type labelSet struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *labelSet) add(label string) {
	l.mu.Lock()
	if l.n == nil {
		l.n = map[string]int{}
	}
	l.n[label]++
	l.mu.Unlock()
}

func (l *labelSet) remove(label string) {
	l.mu.Lock()
	if l.n[label]--; l.n[label] <= 0 {
		delete(l.n, label)
	}
	l.mu.Unlock()
}

func (l *labelSet) labels() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.n))
	for k := range l.n {
		out = append(out, k)
	}
	return out
}
