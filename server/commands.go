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
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/jsonargs"
	"github.com/tether-ipc/tether/internal/schema"
)

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }

// funcService is the service name of commands that are Go functions; their
// method is "/tether.func/<name>".
const funcService = "tether.func"

func (s *Server) protoUnaryCommand(service, name string, md *grpc.MethodDesc, mdesc protoreflect.MethodDescriptor, impl any) *command {
	c := &command{name: name, method: "/" + service + "/" + md.MethodName, kind: tether.KindInvoke}
	s.describeProto(c, mdesc)
	handler, maxDepth, shape := md.Handler, s.opts.limits.MaxDepth, c.shape
	c.invoke = func(ctx context.Context, args *tetherv1.Payload) (*tetherv1.Payload, error) {
		enc := encodingOf(args)
		dec := func(m any) error { return decodeProto(args, m.(proto.Message), maxDepth, shape) }
		out, err := handler(impl, ctx, dec, s.unary)
		if err != nil {
			return nil, err
		}
		return encodeProto(out.(proto.Message), enc)
	}
	if in := inputType(mdesc); in != nil {
		// The chain bound to the method once (bindUnary), its handler the
		// generated one without interceptor, given the decoded arguments
		// as they leave the chain (an interceptor may replace them): a
		// call makes neither the chain's functions nor the generated
		// handler's.
		info := &grpc.UnaryServerInfo{Server: impl, FullMethod: c.method}
		give := handOver // fields that hold memory are shared, not copied
		if scalarFields(mdesc.Input()) {
			give = func(dst, src proto.Message) { proto.Merge(dst, src) } // cheaper then, and the same
		}
		chain := bindUnary(s.unaries, info, func(ctx context.Context, req any) (any, error) {
			return handler(impl, ctx, func(m any) error {
				give(m.(proto.Message), req.(proto.Message))
				return nil
			}, nil)
		})
		c.invoke = func(ctx context.Context, args *tetherv1.Payload) (*tetherv1.Payload, error) {
			enc := encodingOf(args)
			req := in.New().Interface()
			if err := decodeProto(args, req, maxDepth, shape); err != nil {
				return nil, err
			}
			out, err := chain(ctx, req)
			if err != nil {
				return nil, err
			}
			return encodeProto(out.(proto.Message), enc)
		}
	}
	return c
}

// scalarFields reports whether every field of md is a scalar or a string:
// a copy of such a message shares all it holds (strings are immutable).
func scalarFields(md protoreflect.MessageDescriptor) bool {
	fs := md.Fields()
	for i := range fs.Len() {
		f := fs.Get(i)
		if f.IsList() || f.IsMap() || f.Message() != nil || f.Kind() == protoreflect.BytesKind {
			return false
		}
	}
	return true
}

// inputType is the Go type of a method's request message, or nil when it
// is not known (a service without registered descriptors).
func inputType(md protoreflect.MethodDescriptor) protoreflect.MessageType {
	if md == nil {
		return nil
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
	if err != nil {
		return nil
	}
	return mt
}

func (s *Server) protoChannelCommand(service, name string, sd *grpc.StreamDesc, mdesc protoreflect.MethodDescriptor, impl any) *command {
	c := &command{name: name, method: "/" + service + "/" + sd.StreamName, kind: tether.KindChannel}
	s.describeProto(c, mdesc)
	info := &grpc.StreamServerInfo{FullMethod: c.method, IsServerStream: true}
	handler, maxDepth, shape := sd.Handler, s.opts.limits.MaxDepth, c.shape
	c.open = func(ctx context.Context, args *tetherv1.Payload, send func(*tetherv1.Payload) error) error {
		enc := encodingOf(args)
		ss := &channelStream{
			ctx:  ctx,
			recv: func(m any) error { return decodeProto(args, m.(proto.Message), maxDepth, shape) },
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

func (s *Server) describeProto(c *command, md protoreflect.MethodDescriptor) {
	if md == nil {
		return
	}
	c.shape = jsonargs.ShapeOfMessage(md.Input()).Strict(s.opts.strictArgs(c.name))
	c.argsSchema = schema.ForMessage(md.Input())
	c.resSchema = schema.ForMessage(md.Output())
	c.description = schema.Comment(md)
}

// Handle registers fn as the command name. Its arguments arrive as JSON (or,
// when A is a proto message, JSON or proto) and are decoded as Tauri does:
// the top-level keys of a struct A match fields by JSON name, lowerCamelCase
// or snake_case; a field is optional when it is a pointer or tagged
// omitempty. Below the top level, keys bind as encoding/json binds them, but
// exactly (no case-insensitive matches). Keys A does not bind are ignored
// (see WithStrictArgs); one field under two spellings is invalid_argument.
// When A is []byte it receives the raw request body; when R is []byte the
// result is sent as raw bytes. A returned *tether.Error reaches the caller
// with its code and details.
//
// The command runs through the server's interceptor chain with
// info.FullMethod "/tether.func/<name>" and the decoded A as the request.
// Registering a name twice, or an invalid name, panics.
//
// r is the Server, or a Plugin of it for a plugin command
// (plugin:<plugin>|<name>).
func Handle[A, R any](r Registrar, name string, fn func(context.Context, A) (R, error)) {
	s, full, method, plugin := r.qualify(name)
	c := &command{name: full, method: method, kind: tether.KindInvoke, plugin: plugin,
		argsSchema: schema.ForType(reflect.TypeFor[A]()), resSchema: schema.ForResult(reflect.TypeFor[R]()),
		shape: jsonargs.ShapeOf(reflect.TypeFor[A]()).Strict(s.opts.strictArgs(full))}
	info := &grpc.UnaryServerInfo{FullMethod: c.method}
	handler := func(ctx context.Context, req any) (any, error) { return fn(ctx, req.(A)) }
	chain := bindUnary(s.unaries, info, handler)
	maxDepth, shape := s.opts.limits.MaxDepth, c.shape
	c.invoke = func(ctx context.Context, args *tetherv1.Payload) (*tetherv1.Payload, error) {
		var a A
		if rp, ok := any(&a).(*Request); ok {
			*rp = requestOf(ctx, args)
		} else if err := decodeValue(args, &a, maxDepth, shape); err != nil {
			return nil, err
		}
		bindChannels(ctx, reflect.ValueOf(&a).Elem())
		out, err := chain(ctx, a)
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
func HandleChannel[A, M any](r Registrar, name string, fn func(ctx context.Context, args A, send func(M) error) error) {
	s, full, method, plugin := r.qualify(name)
	c := &command{name: full, method: method, kind: tether.KindChannel, plugin: plugin,
		argsSchema: schema.ForType(reflect.TypeFor[A]()), resSchema: schema.ForResult(reflect.TypeFor[M]()),
		shape: jsonargs.ShapeOf(reflect.TypeFor[A]()).Strict(s.opts.strictArgs(full))}
	info := &grpc.StreamServerInfo{FullMethod: c.method, IsServerStream: true}
	handler := func(_ any, ss grpc.ServerStream) error {
		var a A
		if err := ss.RecvMsg(&a); err != nil {
			return err
		}
		return fn(ss.Context(), a, func(m M) error { return ss.SendMsg(m) })
	}
	maxDepth, shape := s.opts.limits.MaxDepth, c.shape
	c.open = func(ctx context.Context, args *tetherv1.Payload, send func(*tetherv1.Payload) error) error {
		enc := encodingOf(args)
		ss := &channelStream{
			ctx: ctx,
			recv: func(m any) error {
				return decodeValue(args, m.(*A), maxDepth, shape)
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
