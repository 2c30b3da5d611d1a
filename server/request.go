package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// Request is Tauri's tauri::ipc::Request for Go function commands: a
// command whose argument type is Request gets the invoke's body as it was
// sent — raw bytes (application/octet-stream; Raw set), or the JSON text —
// and its headers, as a Tauri command reads request.body() and
// request.headers():
//
//	server.Handle(srv, "upload", func(ctx context.Context, r server.Request) (int, error) {
//		if r.Header.Get("Authorization") != "Bearer "+secret { … }
//		return len(r.Body), nil
//	})
//
// Through the gateway, Header holds the invoke's HTTP request headers less
// those the gateway keeps to itself (see package gateway: cookies, the
// gateway's own token and protocol headers, hop-by-hop headers); over gRPC,
// the call's metadata and InvokeRequest.headers.
type Request struct {
	Body   []byte
	Raw    bool
	Header http.Header
}

func requestOf(ctx context.Context, args *tetherv1.Payload) Request {
	r := Request{Header: http.Header{}}
	switch b := args.GetBody().(type) {
	case *tetherv1.Payload_Raw:
		r.Body, r.Raw = b.Raw, true
	case *tetherv1.Payload_Json:
		r.Body = b.Json
	case *tetherv1.Payload_Proto:
		r.Body, r.Raw = b.Proto, true
	}
	if c, ok := tether.CallFromContext(ctx); ok {
		for k, vs := range c.Header {
			if strings.HasPrefix(k, ":") || strings.HasPrefix(k, "tether-") || strings.HasPrefix(k, "grpc-") {
				continue // the transport's and the gateway's, not the caller's
			}
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
	}
	return r
}
