package isolation_test

import (
	"context"
	"io"
	"testing"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
)

func jsonPayload(s string) *tetherv1.Payload {
	return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(s)}}
}

func withLabel(ctx context.Context, label string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, tether.MetadataClientLabel, label)
}

// drain receives a server stream to its end and returns the first error
// other than io.EOF.
func drain[T any](recv func() (T, error)) error {
	for range 100 {
		if _, err := recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
	return nil
}

func TestBypassAttempts(t *testing.T) {
	for _, transport := range []struct {
		name string
		unix bool
	}{{"bufconn", false}, {"unix", true}} {
		t.Run(transport.name, func(t *testing.T) { runBypassTable(t, transport.unix) })
	}
}

func runBypassTable(t *testing.T, unix bool) {
	c := newCore(t, unix)
	cc := c.dial(t)
	ipc := tetherv1.NewIPCClient(cc)
	ctx := withLabel(testCtx(t), "main")

	sealer, err := isolation.NewSealer(c.key)
	if err != nil {
		t.Fatal(err)
	}
	sealInvoke := func(t *testing.T, kind tether.Kind, cmd, label string) *tetherv1.InvokeRequest {
		t.Helper()
		req := &tetherv1.InvokeRequest{Command: cmd, Args: jsonPayload(`{"name":"x"}`)}
		if err := sealer.Seal(kind, label, req); err != nil {
			t.Fatal(err)
		}
		return req
	}
	invoke := func(req *tetherv1.InvokeRequest) error {
		_, err := ipc.Invoke(ctx, req)
		return err
	}

	// A valid request goes through and is marked sealed: the baseline.
	good := sealInvoke(t, tether.KindInvoke, "greet", "main")
	if err := invoke(proto.Clone(good).(*tetherv1.InvokeRequest)); err != nil {
		t.Fatalf("valid sealed invoke: %v", err)
	}
	if got := c.fake.runs.Load(); got != 1 || !c.fake.sealedOK[0] {
		t.Fatalf("handler runs = %d, want 1 marked sealed", got)
	}

	// Stale: seal one request, let more than ReplayWindow seqs pass (a newer
	// request is delivered), then deliver the old one. recent, delivered
	// last, is replayed within the window.
	stale := sealInvoke(t, tether.KindInvoke, "greet", "main")
	for range isolation.ReplayWindow + 5 {
		sealInvoke(t, tether.KindInvoke, "greet", "main")
	}
	newer := sealInvoke(t, tether.KindInvoke, "greet", "main")
	recent := sealInvoke(t, tether.KindInvoke, "greet", "main")
	for _, req := range []*tetherv1.InvokeRequest{newer, proto.Clone(recent).(*tetherv1.InvokeRequest)} {
		if err := invoke(req); err != nil {
			t.Fatalf("valid sealed invoke: %v", err)
		}
	}

	otherKey, _ := isolation.NewKey()
	otherSealer, _ := isolation.NewSealer(otherKey)

	flip := func(i int) func() error {
		return func() error {
			req := sealInvoke(t, tether.KindInvoke, "greet", "main")
			ct := req.Sealed.Ciphertext
			idx := i
			if idx < 0 {
				idx = len(ct) + i
			}
			ct[idx] ^= 0x01
			return invoke(req)
		}
	}

	type attempt struct {
		name   string
		call   func() error
		code   tether.Code
		reason isolation.Reason
	}
	attempts := []attempt{
		{"unsealed invoke", func() error {
			return invoke(&tetherv1.InvokeRequest{Command: "greet", Args: jsonPayload(`{}`)})
		}, tether.CodePermissionDenied, isolation.ReasonUnsealed},
		{"unsealed emit", func() error {
			_, err := ipc.Emit(ctx, &tetherv1.EmitRequest{Event: "x", Payload: jsonPayload(`{}`)})
			return err
		}, tether.CodePermissionDenied, isolation.ReasonUnsealed},
		{"unsealed channel", func() error {
			s, err := ipc.Channel(ctx, &tetherv1.InvokeRequest{Command: "count"})
			if err != nil {
				return err
			}
			return drain(s.Recv)
		}, tether.CodePermissionDenied, isolation.ReasonUnsealed},
		{"unsealed listen", func() error {
			s, err := ipc.Listen(ctx, &tetherv1.ListenRequest{Events: []string{"x"}})
			if err != nil {
				return err
			}
			return drain(s.Recv)
		}, tether.CodePermissionDenied, isolation.ReasonUnsealed},
		{"typed method", func() error {
			_, err := demov1.NewDemoClient(cc).Greet(ctx, &demov1.GreetRequest{})
			return err
		}, tether.CodePermissionDenied, isolation.ReasonMethod},
		{"empty sealed body", func() error {
			return invoke(&tetherv1.InvokeRequest{Command: "greet", Sealed: &tetherv1.Sealed{}})
		}, tether.CodeUnauthenticated, isolation.ReasonEmpty},
		{"empty ciphertext with valid header", func() error {
			req := sealInvoke(t, tether.KindInvoke, "greet", "main")
			req.Sealed.Ciphertext = nil
			return invoke(req)
		}, tether.CodeUnauthenticated, isolation.ReasonEmpty},
		{"tampered ciphertext byte 0", flip(0), tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"tampered ciphertext byte 3", flip(3), tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"tampered ciphertext byte 10", flip(10), tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"tampered GCM tag first byte", flip(-16), tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"tampered GCM tag last byte", flip(-1), tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"tampered nonce", func() error {
			req := sealInvoke(t, tether.KindInvoke, "greet", "main")
			req.Sealed.Nonce[0] ^= 0x80
			return invoke(req)
		}, tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"tampered seq", func() error {
			req := sealInvoke(t, tether.KindInvoke, "greet", "main")
			req.Sealed.Seq += 100
			return invoke(req)
		}, tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"tampered session", func() error {
			req := sealInvoke(t, tether.KindInvoke, "greet", "main")
			req.Sealed.Session = "attacker"
			return invoke(req)
		}, tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"truncated ciphertext", func() error {
			req := sealInvoke(t, tether.KindInvoke, "greet", "main")
			req.Sealed.Ciphertext = req.Sealed.Ciphertext[:len(req.Sealed.Ciphertext)-1]
			return invoke(req)
		}, tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"truncated nonce", func() error {
			req := sealInvoke(t, tether.KindInvoke, "greet", "main")
			req.Sealed.Nonce = req.Sealed.Nonce[:11]
			return invoke(req)
		}, tether.CodeUnauthenticated, isolation.ReasonMalformed},
		{"wrong key", func() error {
			req := &tetherv1.InvokeRequest{Command: "greet", Args: jsonPayload(`{}`)}
			if err := otherSealer.Seal(tether.KindInvoke, "main", req); err != nil {
				return err
			}
			return invoke(req)
		}, tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"replayed", func() error {
			return invoke(proto.Clone(recent).(*tetherv1.InvokeRequest))
		}, tether.CodeUnauthenticated, isolation.ReasonReplay},
		{"moved to another command", func() error {
			req := sealInvoke(t, tether.KindInvoke, "greet", "main")
			req.Command = "delete_everything"
			return invoke(req)
		}, tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"moved to another client label", func() error {
			req := sealInvoke(t, tether.KindInvoke, "greet", "main")
			_, err := ipc.Invoke(withLabel(testCtx(t), "admin"), req)
			return err
		}, tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"moved from invoke to channel", func() error {
			req := sealInvoke(t, tether.KindInvoke, "count", "main")
			s, err := ipc.Channel(ctx, req)
			if err != nil {
				return err
			}
			return drain(s.Recv)
		}, tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"listen moved to other events", func() error {
			req := &tetherv1.ListenRequest{Events: []string{"public"}}
			if err := sealer.Seal(tether.KindListen, "main", req); err != nil {
				return err
			}
			req.Events = []string{"secret"}
			s, err := ipc.Listen(ctx, req)
			if err != nil {
				return err
			}
			return drain(s.Recv)
		}, tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"emit moved to another event", func() error {
			req := &tetherv1.EmitRequest{Event: "chat", Payload: jsonPayload(`{}`)}
			if err := sealer.Seal(tether.KindEmit, "main", req); err != nil {
				return err
			}
			req.Event = "admin:shutdown"
			_, err := ipc.Emit(ctx, req)
			return err
		}, tether.CodeUnauthenticated, isolation.ReasonVerify},
		{"stale seq", func() error { return invoke(stale) }, tether.CodeUnauthenticated, isolation.ReasonStale},
	}

	baseline := c.fake.runs.Load()
	rejected := 0
	for _, a := range attempts {
		before := c.fake.runs.Load()
		err := a.call()
		if err == nil {
			t.Errorf("%s: accepted", a.name)
			continue
		}
		if got := tether.CodeOf(err); got != a.code {
			t.Errorf("%s: code %s, want %s (%v)", a.name, got, a.code, err)
			continue
		}
		if got := isolation.ReasonOf(err); got != a.reason {
			t.Errorf("%s: reason %q, want %q (%v)", a.name, got, a.reason, err)
			continue
		}
		if c.fake.runs.Load() != before {
			t.Errorf("%s: handler ran", a.name)
			continue
		}
		rejected++
	}
	if got := c.fake.runs.Load(); got != baseline {
		t.Errorf("handler ran %d times during the attempts", got-baseline)
	}
	t.Logf("%d/%d bypass attempts rejected", rejected, len(attempts))
	if rejected != len(attempts) {
		t.Fail()
	}
}
