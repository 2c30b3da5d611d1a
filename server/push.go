package server

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether/internal/inproc"
)

// directStream is the innermost stream client interceptor of
// DialInProcess. A server-streaming call made with an inproc.Push option
// runs straight through the server's stream chain and handler on the
// goroutine that receives from it, and hands each message to the push
// callbacks instead of encoding it: a gateway's SSE listener then costs one
// goroutine and no gRPC stream. Everything else goes over the in-memory
// connection.
func (s *Server) directStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	var push *inproc.Push
	// As the in-process unary path: the caller's limits, else grpc-go's
	// client default for sending and the server's send limit for receiving.
	maxSend, maxRecv := math.MaxInt32, s.opts.limits.MaxSendBytes
	for _, o := range opts {
		switch o := o.(type) {
		case *inproc.Push:
			push = o
		case grpc.MaxSendMsgSizeCallOption:
			maxSend = o.MaxSendMsgSize
		case grpc.MaxRecvMsgSizeCallOption:
			maxRecv = o.MaxRecvMsgSize
		case grpc.StaticMethodCallOption:
		default:
			return streamer(ctx, desc, cc, method, opts...)
		}
	}
	m, ok := s.streams[method]
	if push == nil || !ok || desc.ClientStreams || !desc.ServerStreams || len(s.opts.grpcOpts) > 0 {
		return streamer(ctx, desc, cc, method, opts...)
	}
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	push.Taken = true
	return &pushClient{s: s, ctx: ctx, method: method, m: m, push: push, maxSend: maxSend, maxRecv: maxRecv}, nil
}

// pushClient is the client side of a push stream: it keeps the request
// until the first RecvMsg, which runs the handler to its end.
type pushClient struct {
	s       *Server
	ctx     context.Context
	method  string
	m       streamMethod
	push    *inproc.Push
	maxSend int // the caller's send limit
	maxRecv int // the caller's receive limit

	req  proto.Message
	sent bool
	done bool
	err  error
}

func (c *pushClient) Header() (metadata.MD, error) {
	return nil, status.Error(codes.Internal, "tether: a push stream gives its header to the push callback")
}
func (c *pushClient) Trailer() metadata.MD     { return nil }
func (c *pushClient) CloseSend() error         { return nil }
func (c *pushClient) Context() context.Context { return c.ctx }

func (c *pushClient) SendMsg(m any) error {
	if c.sent {
		return status.Error(codes.Internal, "tether: a server stream takes one request")
	}
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: unexpected request type %T", m)
	}
	if err := c.s.requestFits(proto.Size(msg), c.maxSend); err != nil {
		return err
	}
	c.req, c.sent = msg, true
	return nil
}

// RecvMsg runs the stream: the server's wire chain (its transport
// interceptors, then the command chain) and handler, on this goroutine,
// until the handler returns.
func (c *pushClient) RecvMsg(any) error {
	if c.done {
		return c.err
	}
	c.done = true
	if !c.sent {
		c.err = status.Error(codes.Internal, "tether: RecvMsg before the request was sent")
		return c.err
	}
	ss := &pushServer{method: c.method, push: c.push, req: c.req, maxSend: c.s.opts.limits.MaxSendBytes, maxRecv: c.maxRecv}
	var release func()
	ss.ctx, release = handlerContext(c.ctx, (*pushTransport)(ss))
	defer release()
	err := c.s.wireStream(c.m.impl, ss, &grpc.StreamServerInfo{FullMethod: c.method, IsServerStream: true}, c.m.handler)
	switch {
	case err != nil:
		c.err = toStatus(err)
	case c.ctx.Err() != nil:
		c.err = status.FromContextError(c.ctx.Err()).Err()
	default:
		c.err = io.EOF
	}
	return c.err
}

// pushServer is the handler's side of a push stream, its grpc.ServerStream.
type pushServer struct {
	ctx     context.Context
	method  string
	push    *inproc.Push
	maxSend int // Limits.MaxSendBytes
	maxRecv int // the caller's receive limit

	mu         sync.Mutex
	req        proto.Message // nil once received
	header     metadata.MD
	headerSent bool
	md         metadata.MD // incoming
	peer       peer.Peer
}

func (s *pushServer) Context() context.Context { return s.ctx }

func (s *pushServer) SetHeader(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.headerSent {
		return errors.New("transport: the stream is done or WriteHeader was already called")
	}
	s.header = metadata.Join(s.header, md)
	return nil
}

func (s *pushServer) SendHeader(md metadata.MD) error {
	s.mu.Lock()
	if s.headerSent {
		s.mu.Unlock()
		return errors.New("transport: the stream is done or WriteHeader was already called")
	}
	h := metadata.Join(s.header, md)
	s.header, s.headerSent = nil, true
	s.mu.Unlock()
	if h == nil {
		h = metadata.MD{}
	}
	h["content-type"] = []string{"application/grpc"}
	if s.push.Header == nil {
		return nil
	}
	return s.push.Header(h)
}

// SetTrailer drops md: the consumer of a push stream takes no trailer
// (pushClient.Trailer is nil).
func (s *pushServer) SetTrailer(metadata.MD) {}

// pushTransport is a pushServer seen as the grpc.ServerTransportStream that
// grpc.SetHeader and friends find in the handler's context.
type pushTransport pushServer

func (t *pushTransport) Method() string        { return t.method }
func (t *pushTransport) incoming() metadata.MD { return t.md }
func (t *pushTransport) setIncoming(md metadata.MD) *peer.Peer {
	t.md, t.peer = md, peer.Peer{Addr: InProcessAddr{}, LocalAddr: InProcessAddr{}}
	return &t.peer
}
func (t *pushTransport) DirectInProcess()                {}
func (t *pushTransport) SetHeader(md metadata.MD) error  { return (*pushServer)(t).SetHeader(md) }
func (t *pushTransport) SendHeader(md metadata.MD) error { return (*pushServer)(t).SendHeader(md) }
func (t *pushTransport) SetTrailer(md metadata.MD) error {
	(*pushServer)(t).SetTrailer(md)
	return nil
}

func (s *pushServer) SendMsg(m any) error {
	s.mu.Lock()
	sent := s.headerSent
	s.mu.Unlock()
	if !sent {
		if err := s.SendHeader(nil); err != nil {
			return err
		}
	}
	if err := s.ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	// The server's send limit, as the wire holds it (grpc.MaxSendMsgSize).
	n := -1
	switch m := m.(type) {
	case *listenFrame:
		n = m.size()
	case proto.Message:
		n = proto.Size(m)
	}
	if n > s.maxSend {
		return status.Errorf(codes.ResourceExhausted, "grpc: trying to send message larger than max (%d vs. %d)", n, s.maxSend)
	}
	if n > s.maxRecv {
		return status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", n, s.maxRecv)
	}
	return s.push.Send(m)
}

// RecvMsg gives the request once, as a copy, then io.EOF.
func (s *pushServer) RecvMsg(m any) error {
	s.mu.Lock()
	req := s.req
	s.req = nil
	s.mu.Unlock()
	if req == nil {
		return io.EOF
	}
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpc: error while unmarshaling: unexpected message type %T", m)
	}
	proto.Merge(msg, req)
	return nil
}
