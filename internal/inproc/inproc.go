// Package inproc holds what the gateway and the server share for calls
// that stay inside one process.
package inproc

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Push is a grpc.CallOption for a server-streaming call on a connection
// made by server.DialInProcess. A connection that honours it sets Taken
// when the stream is created; the stream then runs on the goroutine that
// first calls RecvMsg, which returns when the handler does (io.EOF after a
// clean end, else the status error). Meanwhile the handler's header is
// given to Header once, before the first message, and each message it
// sends to Send, as the handler's own value, valid only during the call.
// (Listen's messages are proto messages whose ProtoReflect is a
// tetherv1.ListenResponse, not always a *tetherv1.ListenResponse itself.)
// An error from either ends the stream: the handler's send fails with it.
//
// Push lets a consumer that writes messages straight out (the gateway's
// SSE listeners) run a stream with one goroutine and no copy of the
// messages. Connections that do not know it ignore it and leave Taken
// false; the stream is then an ordinary one.
type Push struct {
	grpc.EmptyCallOption
	Header func(metadata.MD) error
	Send   func(any) error
	Taken  bool
}

// Direct is implemented by the grpc.ServerTransportStream of a call that
// runs on the server's direct in-process path (a unary call of
// server.DialInProcess, or a Push stream), so that tests can tell that the
// fast path held: grpc.ServerTransportStreamFromContext(ctx).(inproc.Direct).
type Direct interface{ DirectInProcess() }

// HandOff is a grpc.CallOption for a unary call on a connection made by
// server.DialInProcess: the caller hands the request over — it neither
// reads nor changes it, nor reuses its memory, once the call has started —
// and takes the reply as the handler's own value, which it only reads. The
// direct path then gives the handler the request's fields without copying
// them, and the caller the reply's. Connections that do not know it ignore
// it, and calls without it are copied both ways, as over the wire.
//
// The gateway makes every unary call with it: its requests are built for
// one call, and its replies are written out and dropped.
type HandOff struct{ grpc.EmptyCallOption }

// HeaderSink is implemented by the transport stream of a direct unary call:
// Discards reports that no one will read the call's response header (the
// caller did not ask for it), so that interceptors need not build one.
type HeaderSink interface{ DiscardsHeader() bool }
