package client

import (
	"context"
	"io"

	"google.golang.org/grpc"

	"github.com/tether-ipc/tether"
)

// unaryErrors turns the errors of unary calls into *tether.Error, so that
// generated typed clients on Client.Conn fail as Invoke does: errors.As(err,
// &te) holds on every path. *tether.Error keeps the gRPC status (GRPCStatus),
// so status.Code(err) still works.
func unaryErrors(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
		return tether.FromError(err)
	}
	return nil
}

// streamErrors is unaryErrors for streams; io.EOF stays io.EOF.
func streamErrors(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, tether.FromError(err)
	}
	return errorStream{s}, nil
}

type errorStream struct{ grpc.ClientStream }

func (s errorStream) RecvMsg(m any) error { return convert(s.ClientStream.RecvMsg(m)) }
func (s errorStream) SendMsg(m any) error { return convert(s.ClientStream.SendMsg(m)) }

func convert(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return tether.FromError(err)
}
