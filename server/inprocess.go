package server

import (
	"context"
	"errors"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/inproc"
)

// unaryMethod is a registered unary method, for in-process calls.
type unaryMethod struct {
	handler grpc.MethodHandler
	impl    any
}

// streamMethod is a registered server-streaming method, for in-process
// push streams.
type streamMethod struct {
	handler grpc.StreamHandler
	impl    any
}

// addMethods records the unary and server-streaming methods of a
// service registered on s.
func (s *Server) addMethods(desc *grpc.ServiceDesc, impl any) {
	if s.methods == nil {
		s.methods = map[string]unaryMethod{}
		s.streams = map[string]streamMethod{}
	}
	for i := range desc.Methods {
		md := &desc.Methods[i]
		s.methods["/"+desc.ServiceName+"/"+md.MethodName] = unaryMethod{handler: md.Handler, impl: impl}
	}
	for i := range desc.Streams {
		sd := &desc.Streams[i]
		if sd.ServerStreams && !sd.ClientStreams {
			s.streams["/"+desc.ServiceName+"/"+sd.StreamName] = streamMethod{handler: sd.Handler, impl: impl}
		}
	}
}

// inProcessAuthority is the :authority of in-process calls, as the wire
// sends it for the target of DialInProcess.
const inProcessAuthority = "tether-inprocess"

// directUnary is the innermost client interceptor of DialInProcess: it runs
// a unary call of a registered service straight through the server's
// interceptor chain — the wire interceptors, then the command chain — and
// handler, skipping HTTP/2 framing and the proto encoding of request and
// response. The handler sees what it would over the wire: a copy of the
// request, incoming metadata, the in-process peer, a context that ends with
// the caller's, and errors reach the caller as gRPC statuses. Calls it
// cannot reproduce exactly (unknown methods or call options, or a server
// with its own grpc.ServerOptions) go over the in-memory connection.
func (s *Server) directUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	m, ok := s.methods[method]
	if !ok || len(s.opts.grpcOpts) > 0 {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	in, ok1 := req.(proto.Message)
	out, ok2 := reply.(proto.Message)
	if !ok1 || !ok2 {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	var header, trailer *metadata.MD
	var peerOut *peer.Peer
	maxRecv, maxSend := s.opts.limits.MaxSendBytes, math.MaxInt32 // grpc-go's client defaults
	handOff := false
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			header = o.HeaderAddr
		case grpc.TrailerCallOption:
			trailer = o.TrailerAddr
		case grpc.PeerCallOption:
			peerOut = o.PeerAddr
		case grpc.MaxRecvMsgSizeCallOption:
			maxRecv = o.MaxRecvMsgSize
		case grpc.MaxSendMsgSizeCallOption:
			maxSend = o.MaxSendMsgSize
		case inproc.HandOff:
			handOff = true
		case grpc.StaticMethodCallOption:
		default:
			return invoker(ctx, method, req, reply, cc, opts...)
		}
	}
	if err := ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	if err := s.requestFits(proto.Size(in), maxSend); err != nil {
		return err
	}

	st := &inprocStream{method: method, keepHeader: header != nil}
	hctx, release := handlerContext(ctx, st)
	defer release()

	dec := func(m any) error {
		if handOff {
			handOver(m.(proto.Message), in)
		} else {
			proto.Merge(m.(proto.Message), in)
		}
		return nil
	}
	resp, err := m.handler(m.impl, hctx, dec, s.wireChain)
	if header != nil {
		*header = st.sentHeader()
	}
	if trailer != nil {
		*trailer = st.trailer
	}
	if peerOut != nil {
		*peerOut = st.peer
	}
	if err != nil {
		return toStatus(err)
	}
	rm, ok := resp.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: unexpected response type %T", resp)
	}
	n := proto.Size(rm)
	if n > s.opts.limits.MaxSendBytes {
		return status.Errorf(codes.ResourceExhausted, "grpc: trying to send message larger than max (%d vs. %d)", n, s.opts.limits.MaxSendBytes)
	}
	if n > maxRecv {
		return status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", n, maxRecv)
	}
	proto.Reset(out)
	if handOff {
		handOver(out, rm)
	} else {
		proto.Merge(out, rm)
	}
	return nil
}

// requestFits checks the size n of an in-process call's request, as the
// wire would: against the caller's send limit (grpc.MaxCallSendMsgSize),
// then the server's receive limit (Limits.MaxMessageBytes).
func (s *Server) requestFits(n, maxSend int) error {
	if n > maxSend {
		return status.Errorf(codes.ResourceExhausted, "grpc: trying to send message larger than max (%d vs. %d)", n, maxSend)
	}
	if n > s.opts.limits.MaxMessageBytes {
		return status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", n, s.opts.limits.MaxMessageBytes)
	}
	return nil
}

// handOver gives dst the fields of src, a message of the same type, without
// copying what they hold (see inproc.HandOff); dst is empty. Messages of
// different types are merged, and so are two implementations of one
// message (a dynamicpb message and the generated type): the values of one
// cannot be set in the other.
func handOver(dst, src proto.Message) {
	switch d := dst.(type) {
	case *tetherv1.InvokeRequest:
		if s, ok := src.(*tetherv1.InvokeRequest); ok {
			d.Command, d.Args, d.Headers, d.IdempotencyKey, d.Sealed = s.Command, s.Args, s.Headers, s.IdempotencyKey, s.Sealed
			d.ProtoReflect().SetUnknown(s.ProtoReflect().GetUnknown())
			return
		}
	case *tetherv1.InvokeResponse:
		if s, ok := src.(*tetherv1.InvokeResponse); ok {
			d.Result = s.Result
			d.ProtoReflect().SetUnknown(s.ProtoReflect().GetUnknown())
			return
		}
	}
	dm, sm := dst.ProtoReflect(), src.ProtoReflect()
	if dm.Type() != sm.Type() {
		proto.Merge(dst, src)
		return
	}
	sm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dm.Set(fd, v)
		return true
	})
	if u := sm.GetUnknown(); len(u) > 0 {
		dm.SetUnknown(u)
	}
}

// The incoming metadata keys the wire adds, with their values; shared by
// every in-process call (the handler's copies, metadata.FromIncomingContext,
// never alias them).
var (
	inprocAuthority   = []string{inProcessAuthority}
	inprocContentType = []string{"application/grpc"}
	inprocUserAgent   = []string{"grpc-go/" + grpc.Version}
)

// handlerContext is the context a handler of an in-process call sees: it
// ends with ctx but carries none of its values, only what the wire would —
// the outgoing metadata as incoming, the in-process peer, and st as the
// transport stream. st keeps the incoming metadata and the peer.
func handlerContext(ctx context.Context, st inprocTransport) (context.Context, func()) {
	inMD, _ := metadata.FromOutgoingContext(ctx) // a copy, keys and values
	if inMD == nil {
		inMD = make(metadata.MD, 3)
	}
	inMD[":authority"] = inprocAuthority
	inMD["content-type"] = inprocContentType
	inMD["user-agent"] = inprocUserAgent
	p := st.setIncoming(inMD)
	hctx, release := detach(ctx)
	hctx = metadata.NewIncomingContext(hctx, inMD)
	hctx = peer.NewContext(hctx, p)
	hctx = grpc.NewContextWithServerTransportStream(hctx, st)
	return hctx, release
}

// inprocTransport is the transport stream of a call on the direct path: it
// keeps the call's incoming metadata, which newCall reads without copying
// it, and its peer.
type inprocTransport interface {
	grpc.ServerTransportStream
	setIncoming(metadata.MD) *peer.Peer
	incoming() metadata.MD
}

// incomingMetadata is the incoming metadata of the call ctx belongs to, as
// metadata.FromIncomingContext gives it but, on the direct path, not copied:
// the caller must not change it.
func incomingMetadata(ctx context.Context) (metadata.MD, bool) {
	if st, ok := grpc.ServerTransportStreamFromContext(ctx).(inprocTransport); ok {
		if md := st.incoming(); md != nil {
			return md, true
		}
	}
	return metadata.FromIncomingContext(ctx)
}

// toStatus turns a handler's error into the status the caller would
// receive over the wire.
func toStatus(err error) error {
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.New(codes.Unknown, err.Error()).Err()
}

// detach returns a context that ends with ctx (cancelled when ctx is, at
// its deadline when ctx has one) but carries none of its values. It is an
// ordinary context of the context package, so that contexts the handler
// derives from it need no goroutine each to follow it. release frees what
// ties it to ctx; it does not cancel it.
func detach(ctx context.Context) (context.Context, func()) {
	var hctx context.Context
	var cancel context.CancelFunc
	if d, ok := ctx.Deadline(); ok {
		hctx, cancel = context.WithDeadline(context.Background(), d)
	} else {
		hctx, cancel = context.WithCancel(context.Background())
	}
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel() // a deadline is hctx's own: it ends with DeadlineExceeded
		}
	})
	return hctx, func() {
		stop()
		if hctx.Err() == nil {
			cancel()
		}
	}
}

// inprocStream is the grpc.ServerTransportStream of an in-process call: it
// collects the header and trailer the handler sets (the header only when
// the caller asked for it), and holds the call's incoming metadata and peer.
type inprocStream struct {
	method          string
	keepHeader      bool
	header, trailer metadata.MD
	md              metadata.MD
	peer            peer.Peer
}

func (s *inprocStream) Method() string { return s.method }

// DirectInProcess marks the direct path (inproc.Direct).
func (s *inprocStream) DirectInProcess() {}

// DiscardsHeader implements inproc.HeaderSink.
func (s *inprocStream) DiscardsHeader() bool { return !s.keepHeader }

func (s *inprocStream) setIncoming(md metadata.MD) *peer.Peer {
	s.md, s.peer = md, peer.Peer{Addr: InProcessAddr{}, LocalAddr: InProcessAddr{}}
	return &s.peer
}

func (s *inprocStream) incoming() metadata.MD { return s.md }

func (s *inprocStream) SetHeader(md metadata.MD) error {
	if s.keepHeader {
		s.header = metadata.Join(s.header, md)
	}
	return nil
}

func (s *inprocStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }

func (s *inprocStream) SetTrailer(md metadata.MD) error {
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}

// sentHeader is the header as the client receives it over the wire.
func (s *inprocStream) sentHeader() metadata.MD {
	h := s.header.Copy()
	if h == nil {
		h = metadata.MD{}
	}
	h["content-type"] = []string{"application/grpc"}
	return h
}
