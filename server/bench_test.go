package server_test

import (
	"context"
	"encoding/json"
	"testing"

	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"google.golang.org/protobuf/proto"
)

// BenchmarkGreet compares, on one server and one connection over loopback
// TCP, the direct typed gRPC call with Invoke by name (proto and JSON args).
// Compare the sub-benchmarks' ns/op for the ratios.
func BenchmarkGreet(b *testing.B) {
	e := start(b, nil)
	ctx := context.Background()
	typed := demov1.NewDemoClient(e.conn)
	ipc := e.cli.IPC()
	req := &demov1.GreetRequest{Name: "World"}
	protoArgs, _ := proto.Marshal(req)
	jsonArgs, _ := json.Marshal(map[string]string{"name": "World"})
	b.Run("typed", func(b *testing.B) {
		for b.Loop() {
			if _, err := typed.Greet(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("invoke_proto", func(b *testing.B) {
		r := &tetherv1.InvokeRequest{Command: "greet", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Proto{Proto: protoArgs}}}
		for b.Loop() {
			if _, err := ipc.Invoke(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("invoke_json", func(b *testing.B) {
		r := &tetherv1.InvokeRequest{Command: "greet", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: jsonArgs}}}
		for b.Loop() {
			if _, err := ipc.Invoke(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzInvokeArgs: whatever bytes arrive as JSON args of a proto command or a
// Go function command, the call ends in a result or invalid_argument — never
// a panic or another code.
func FuzzInvokeArgs(f *testing.F) {
	for _, s := range []string{`{"name":"x"}`, `{"a":1,"b":2}`, `{"name":5}`, `[]`, `{`, "{\"name\":\"\xff\"}", `{"a":{"a":{"a":1}}}`} {
		f.Add(s)
	}
	e := start(f, registerTestCommands(&counters{}, new(atomicBool)))
	f.Fuzz(func(t *testing.T, args string) {
		for _, cmd := range []string{"greet", "add"} {
			err := e.srv.Invoke(context.Background(), cmd, json.RawMessage(args), nil)
			if err != nil && codeOf(err) != "invalid_argument" {
				t.Fatalf("%s(%q): %v", cmd, args, err)
			}
		}
	})
}
