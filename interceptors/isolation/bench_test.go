package isolation_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
)

const mib = 1 << 20

// BenchmarkSealOpen1MiB seals and opens an invoke whose raw args are 1 MiB:
// serialize, encrypt, decrypt, parse, replay check.
func BenchmarkSealOpen1MiB(b *testing.B) {
	key, _ := isolation.NewKey()
	sealer, _ := isolation.NewSealer(key)
	opener, _ := isolation.NewOpener(key)
	data := make([]byte, mib)
	_, _ = rand.Read(data)
	b.SetBytes(mib)
	b.ReportAllocs()
	for b.Loop() {
		req := &tetherv1.InvokeRequest{Command: "upload", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: data}}}
		if err := sealer.Seal(tether.KindInvoke, "main", req); err != nil {
			b.Fatal(err)
		}
		if err := opener.Open(tether.KindInvoke, "main", req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawAESGCM1MiB is the floor: AES-256-GCM seal and open of 1 MiB.
func BenchmarkRawAESGCM1MiB(b *testing.B) {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	block, _ := aes.NewCipher(k)
	aead, _ := cipher.NewGCM(block)
	data := make([]byte, mib)
	nonce := make([]byte, 12)
	b.SetBytes(mib)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = rand.Read(nonce)
		ct := aead.Seal(nil, nonce, data, []byte("ad"))
		if _, err := aead.Open(nil, nonce, ct, []byte("ad")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStage1KiB runs a 1 KiB invoke through a stage with a Policy hook
// (hooks + seal), and the same without hooks, to show the hook overhead.
func BenchmarkStage1KiB(b *testing.B) {
	key, _ := isolation.NewKey()
	args, _ := json.Marshal(map[string]string{"path": "docs/readme.md", "text": strings.Repeat("x", 960)})
	policy, _ := (&isolation.Policy{Commands: []string{"save"}, BlockedPaths: []string{"/etc", ".."}}).Hook()
	for _, bc := range []struct {
		name  string
		hooks []isolation.Hook
	}{{"seal-only", nil}, {"policy+seal", []isolation.Hook{policy}}} {
		b.Run(bc.name, func(b *testing.B) {
			stage, _ := isolation.NewStage(key, bc.hooks...)
			base := &tetherv1.InvokeRequest{Command: "save", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: args}}}
			b.SetBytes(int64(len(args)))
			b.ReportAllocs()
			for b.Loop() {
				req := proto.Clone(base)
				if err := stage.Process(context.Background(), tether.KindInvoke, req, isolation.Client{Label: "main"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWire1KiB is the isolation path of a 1 KiB JSON invoke without the
// network: the client interceptor (stage without hooks: seal), the gRPC
// codec's marshal and unmarshal, the core's interceptor (open, verify,
// replay check) and a handler that reads the args. "plain" is the same
// without isolation, so the difference is everything isolation adds.
func BenchmarkWire1KiB(b *testing.B) {
	key, _ := isolation.NewKey()
	stage, _ := isolation.NewStage(key)
	opener, _ := isolation.NewOpener(key)
	args, _ := json.Marshal(map[string]string{"input": strings.Repeat("x", 1024-len(`{"input":""}`))})
	ctx := metadata.AppendToOutgoingContext(context.Background(), tether.MetadataClientLabel, "main")
	sctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(tether.MetadataClientLabel, "main"))
	info := &grpc.UnaryServerInfo{FullMethod: tetherv1.IPC_Invoke_FullMethodName}
	handler := func(_ context.Context, req any) (any, error) {
		if len(req.(*tetherv1.InvokeRequest).GetArgs().GetJson()) != len(args) {
			return nil, errors.New("wrong args")
		}
		return nil, nil
	}
	codec := encoding.GetCodecV2(grpcproto.Name)
	// wire is what grpc does with a request between the two interceptor
	// chains: encode, then decode into a new message.
	wire := func(req any) (*tetherv1.InvokeRequest, error) {
		data, err := codec.Marshal(req)
		if err != nil {
			return nil, err
		}
		in := new(tetherv1.InvokeRequest)
		err = codec.Unmarshal(data, in)
		data.Free()
		return in, err
	}
	for _, bc := range []struct {
		name   string
		client grpc.UnaryClientInterceptor
		server grpc.UnaryServerInterceptor
	}{
		{"plain",
			func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				return invoker(ctx, method, req, reply, cc, opts...)
			},
			func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
				return handler(ctx, req)
			}},
		{"isolation", isolation.UnaryClientInterceptor(stage), isolation.UnaryServerInterceptor(opener)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			invoker := func(_ context.Context, _ string, req, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
				in, err := wire(req)
				if err != nil {
					return err
				}
				_, err = bc.server(sctx, in, info, handler)
				return err
			}
			b.SetBytes(int64(len(args)))
			b.ReportAllocs()
			for b.Loop() {
				req := &tetherv1.InvokeRequest{Command: "process_data", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: args}}}
				if err := bc.client(ctx, tetherv1.IPC_Invoke_FullMethodName, req, nil, nil, invoker); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnaryClientInterceptor1KiB is the stage alone, as a client
// interceptor without hooks (seal only), on a 1 KiB JSON invoke.
func BenchmarkUnaryClientInterceptor1KiB(b *testing.B) {
	key, _ := isolation.NewKey()
	stage, _ := isolation.NewStage(key)
	interceptor := isolation.UnaryClientInterceptor(stage)
	args, _ := json.Marshal(map[string]string{"input": strings.Repeat("x", 1024-len(`{"input":""}`))})
	ctx := metadata.AppendToOutgoingContext(context.Background(), tether.MetadataClientLabel, "main")
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	req := &tetherv1.InvokeRequest{Command: "process_data", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: args}}}
	b.SetBytes(int64(len(args)))
	b.ReportAllocs()
	for b.Loop() {
		if err := interceptor(ctx, tetherv1.IPC_Invoke_FullMethodName, req, nil, nil, invoker); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplayWindowParallel is the replay check alone, from parallel
// callers of one session: it must not become a point of contention.
func BenchmarkReplayWindowParallel(b *testing.B) {
	key, _ := isolation.NewKey()
	sealer, _ := isolation.NewSealer(key)
	opener, _ := isolation.NewOpener(key)
	var seq atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			// A goroutine descheduled between Add and the check may come
			// back stale; a replay would be a bug.
			if r := isolation.AcceptForTest(opener, sealer.Session(), seq.Add(1)); r == isolation.ReasonReplay {
				b.Fatal(r)
			}
		}
	})
}
