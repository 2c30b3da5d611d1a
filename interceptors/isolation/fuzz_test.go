package isolation_test

import (
	"context"
	"encoding/json"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
)

// FuzzOpen feeds random sealed bodies (and random whole requests) to an
// opener: it must never panic and never verify.
func FuzzOpen(f *testing.F) {
	key, _ := isolation.NewKey()
	sealer, _ := isolation.NewSealer(key)
	opener, _ := isolation.NewOpener(key)
	req := &tetherv1.InvokeRequest{Command: "greet", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(`{}`)}}}
	_ = sealer.Seal(tether.KindInvoke, "main", req)
	valid, _ := proto.Marshal(req)
	f.Add(valid, "main", uint8(1))
	f.Add(req.Sealed.Ciphertext, "", uint8(3))
	f.Add([]byte{}, "x", uint8(4))
	f.Fuzz(func(t *testing.T, b []byte, label string, kind uint8) {
		k := tether.Kind(kind%5 + 1)
		msgs := []proto.Message{new(tetherv1.InvokeRequest), new(tetherv1.EmitRequest), new(tetherv1.ListenRequest)}
		for _, m := range msgs {
			if proto.Unmarshal(b, m) != nil {
				continue
			}
			// The one valid seal of the corpus is opened first once below by
			// the seed; anything else must fail.
			if err := opener.Open(k, label, m); err == nil && !proto.Equal(m, mustOpen(opener, key)) {
				t.Fatalf("random input verified: %x", b)
			}
		}
		s := &tetherv1.InvokeRequest{Command: "greet", Sealed: &tetherv1.Sealed{Session: sealer.Session(), Seq: uint64(len(b)) + 1<<40, Nonce: b[:min(len(b), 12)], Ciphertext: b}}
		if err := opener.Open(tether.KindInvoke, label, s); err == nil {
			t.Fatalf("random ciphertext verified: %x", b)
		}
	})
}

// FuzzServerInterceptor feeds random requests to the core's unary
// interceptor, which opens in place over the received message: it must never
// panic and never reach the handler with anything but the one valid seal.
func FuzzServerInterceptor(f *testing.F) {
	key, _ := isolation.NewKey()
	sealer, _ := isolation.NewSealer(key)
	opener, _ := isolation.NewOpener(key)
	interceptor := isolation.UnaryServerInterceptor(opener)
	req := &tetherv1.InvokeRequest{Command: "greet", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(`{}`)}}}
	_ = sealer.Seal(tether.KindInvoke, "main", req)
	valid, _ := proto.Marshal(req)
	f.Add(valid, "main", false)
	f.Add(valid[:len(valid)-1], "main", false)
	f.Add([]byte{}, "", true)
	f.Fuzz(func(t *testing.T, b []byte, label string, emit bool) {
		var m proto.Message = new(tetherv1.InvokeRequest)
		method := tetherv1.IPC_Invoke_FullMethodName
		if emit {
			m, method = new(tetherv1.EmitRequest), tetherv1.IPC_Emit_FullMethodName
		}
		if proto.Unmarshal(b, m) != nil {
			return
		}
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(tether.MetadataClientLabel, label))
		_, err := interceptor(ctx, m, &grpc.UnaryServerInfo{FullMethod: method}, func(ctx context.Context, got any) (any, error) {
			if !isolation.FromSealed(ctx) || !proto.Equal(got.(proto.Message), mustOpen(opener, key)) {
				t.Fatalf("handler reached with %v", got)
			}
			return nil, nil
		})
		if err != nil && isolation.ReasonOf(err) == "" {
			t.Fatalf("refusal without a reason: %v", err)
		}
	})
}

// mustOpen returns what the seed's valid request opens to, for comparison.
func mustOpen(*isolation.Opener, *isolation.Key) proto.Message {
	return &tetherv1.InvokeRequest{Command: "greet", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(`{}`)}}}
}

// FuzzApplyPayload decodes arbitrary hook output into requests: never a panic.
func FuzzApplyPayload(f *testing.F) {
	f.Add([]byte(`{"cmd":"invoke","message":{"cmd":"greet","args":{"$bytes":"AAEC"}},"client":{"label":"","origin":""}}`))
	f.Add([]byte(`{"cmd":"emit","event":"e","payload":{"$proto":"!!"}}`))
	f.Add([]byte(`{"cmd":"invoke","message":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got isolation.Payload
		if err := jsonUnmarshal(b, &got); err != nil {
			return
		}
		for _, req := range []proto.Message{&tetherv1.InvokeRequest{Command: "greet"}, &tetherv1.EmitRequest{Event: "e"}, &tetherv1.ListenRequest{Events: []string{"e"}}} {
			var kind tether.Kind
			switch req.(type) {
			case *tetherv1.InvokeRequest:
				kind = tether.KindInvoke
			case *tetherv1.EmitRequest:
				kind = tether.KindEmit
			default:
				kind = tether.KindListen
			}
			ps, err := isolation.PayloadsOf(kind, req, isolation.Client{})
			if err != nil {
				t.Fatal(err)
			}
			_ = isolation.ApplyPayload(req, ps[0], &got)
		}
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
