package server_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/server"
)

// Over gRPC a raw-body command's Request carries the body and the call's
// headers: its metadata and InvokeRequest.headers, without the transport's
// and identity's own keys.
func TestRequestOverGRPC(t *testing.T) {
	e := start(t, func(s *server.Server) {
		server.Handle(s, "upload", func(ctx context.Context, r server.Request) (map[string]any, error) {
			return map[string]any{"body": string(r.Body), "raw": r.Raw, "auth": r.Header.Get("Authorization"),
				"meta": r.Header.Get("X-Meta"), "label": r.Header.Get("Tether-Client-Label")}, nil
		})
	})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-meta", "m", "tether-client-label", "spoof")
	res, err := e.cli.IPC().Invoke(ctx, &tetherv1.InvokeRequest{Command: "upload",
		Args:    &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: []byte("abc")}},
		Headers: map[string]string{"authorization": "Bearer t"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.GetResult().GetJson()); got != `{"auth":"Bearer t","body":"abc","label":"","meta":"m","raw":true}` {
		t.Fatalf("the command saw %s", got)
	}
}
