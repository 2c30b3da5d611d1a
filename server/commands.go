package server

import (
	"context"
	"io"
	"reflect"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/schema"
)

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }

// funcService is the service name of commands that are Go functions; their
// method is "/tether.func/<name>".
const funcService = "tether.func"

func (s *Server) protoUnaryCommand(service, name string, md *grpc.MethodDesc, mdesc protoreflect.MethodDescriptor, impl any) *command {
	c := &command{name: name, method: "/" + service + "/" + md.MethodName, kind: tether.KindInvoke}
	describeProto(c, mdesc)
	handler, maxDepth := md.Handler, s.opts.limits.MaxDepth
	c.invoke = func(ctx context.Context, args *tetherv1.Payload) (*tetherv1.Payload, error) {
		enc := encodingOf(args)
		dec := func(m any) error { return decodeProto(args, m.(proto.Message), maxDepth) }
		out, err := handler(impl, ctx, dec, s.unary)
		if err != nil {
			return nil, err
		}
		return encodeProto(out.(proto.Message), enc)
	}
	return c
}

func (s *Server) protoChannelCommand(service, name string, sd *grpc.StreamDesc, mdesc protoreflect.MethodDescriptor, impl any) *command {
	c := &command{name: name, method: "/" + service + "/" + sd.StreamName, kind: tether.KindChannel}
	describeProto(c, mdesc)
	info := &grpc.StreamServerInfo{FullMethod: c.method, IsServerStream: true}
	handler, maxDepth := sd.Handler, s.opts.limits.MaxDepth
	c.open = func(ctx context.Context, args *tetherv1.Payload, send func(*tetherv1.Payload) error) error {
		enc := encodingOf(args)
		ss := &channelStream{
			ctx:  ctx,
			recv: func(m any) error { return decodeProto(args, m.(proto.Message), maxDepth) },
			send: func(m any) error {
				p, err := encodeProto(m.(proto.Message), enc)
				if err != nil {
					return err
				}
				return send(p)
			},
		}
		return s.stream(impl, ss, info, handler)
	}
	return c
}

func describeProto(c *command, md protoreflect.MethodDescriptor) {
	if md == nil {
		return
	}
	c.argsSchema = schema.ForMessage(md.Input())
	c.resSchema = schema.ForMessage(md.Output())
	c.description = schema.Comment(md)
}

// Handle registers fn as the command name. Its arguments arrive as JSON (or,
// when A is a proto message, JSON or proto) and are decoded as Tauri does:
// the top-level keys of a struct A match fields by JSON name, lowerCamelCase
// or snake_case; a field is optional when it is a pointer or tagged
// omitempty. When A is []byte it receives the raw request body; when R is
// []byte the result is sent as raw bytes. A returned *tether.Error reaches the
// caller with its code and details.
//
// The command runs through the server's interceptor chain with
// info.FullMethod "/tether.func/<name>" and the decoded A as the request.
// Registering a name twice, or an invalid name, panics.
func Handle[A, R any](s *Server, name string, fn func(context.Context, A) (R, error)) {
	c := &command{name: name, method: "/" + funcService + "/" + name, kind: tether.KindInvoke,
		argsSchema: schema.ForType(reflect.TypeFor[A]()), resSchema: schema.ForResult(reflect.TypeFor[R]())}
	info := &grpc.UnaryServerInfo{FullMethod: c.method}
	handler := func(ctx context.Context, req any) (any, error) { return fn(ctx, req.(A)) }
	maxDepth := s.opts.limits.MaxDepth
	c.invoke = func(ctx context.Context, args *tetherv1.Payload) (*tetherv1.Payload, error) {
		var a A
		if err := decodeValue(args, &a, maxDepth); err != nil {
			return nil, err
		}
		out, err := s.unary(ctx, a, info, handler)
		if err != nil {
			return nil, err
		}
		return encodeValue(out, encodingOf(args))
	}
	s.reg.add(c)
}

// HandleChannel registers fn as the channel command name: it sends ordered
// messages to its caller through send, which fails once the caller has gone
// (its context is then done too). Returning nil ends the channel with an end
// marker; returning an error ends it with that error. Arguments decode as
// for Handle.
func HandleChannel[A, M any](s *Server, name string, fn func(ctx context.Context, args A, send func(M) error) error) {
	c := &command{name: name, method: "/" + funcService + "/" + name, kind: tether.KindChannel,
		argsSchema: schema.ForType(reflect.TypeFor[A]()), resSchema: schema.ForResult(reflect.TypeFor[M]())}
	info := &grpc.StreamServerInfo{FullMethod: c.method, IsServerStream: true}
	handler := func(_ any, ss grpc.ServerStream) error {
		var a A
		if err := ss.RecvMsg(&a); err != nil {
			return err
		}
		return fn(ss.Context(), a, func(m M) error { return ss.SendMsg(m) })
	}
	maxDepth := s.opts.limits.MaxDepth
	c.open = func(ctx context.Context, args *tetherv1.Payload, send func(*tetherv1.Payload) error) error {
		enc := encodingOf(args)
		ss := &channelStream{
			ctx: ctx,
			recv: func(m any) error {
				return decodeValue(args, m.(*A), maxDepth)
			},
			send: func(m any) error {
				p, err := encodeValue(m, enc)
				if err != nil {
					return err
				}
				return send(p)
			},
		}
		return s.stream(nil, ss, info, handler)
	}
	s.reg.add(c)
}

// channelStream adapts a channel command, reached by name, to the
// grpc.ServerStream its handler and the stream chain expect.
type channelStream struct {
	ctx   context.Context
	recv  func(m any) error
	send  func(m any) error
	recvd bool
}

func (c *channelStream) Context() context.Context     { return c.ctx }
func (c *channelStream) SetHeader(metadata.MD) error  { return nil }
func (c *channelStream) SendHeader(metadata.MD) error { return nil }
func (c *channelStream) SetTrailer(metadata.MD)       {}
func (c *channelStream) SendMsg(m any) error {
	if err := c.ctx.Err(); err != nil {
		return tether.FromError(err)
	}
	return c.send(m)
}
func (c *channelStream) RecvMsg(m any) error {
	if c.recvd {
		return io.EOF
	}
	c.recvd = true
	return c.recv(m)
}
