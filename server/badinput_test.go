package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ipc/tether"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/server"
)

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

// counters count handler runs per command.
type counters struct{ add, panics, slow, raw atomic.Int32 }

func registerTestCommands(c *counters, slowSawCancel *atomic.Bool) func(*server.Server) {
	return func(s *server.Server) {
		server.Handle(s, "add", func(_ context.Context, a addArgs) (int, error) {
			c.add.Add(1)
			return a.A + a.B, nil
		})
		server.Handle(s, "explode", func(context.Context, struct{}) (string, error) {
			c.panics.Add(1)
			panic("kaboom")
		})
		server.Handle(s, "slow", func(ctx context.Context, _ struct{}) (string, error) {
			c.slow.Add(1)
			select {
			case <-ctx.Done():
				slowSawCancel.Store(true)
				return "", tether.FromError(ctx.Err())
			case <-time.After(10 * time.Second):
				return "too late", nil
			}
		})
		server.Handle(s, "say", func(_ context.Context, a struct {
			InvokeMessage string `json:"invoke_message"`
		}) (string, error) {
			c.add.Add(1)
			return a.InvokeMessage, nil
		})
		server.Handle(s, "raw_len", func(_ context.Context, b []byte) (int, error) {
			c.raw.Add(1)
			return len(b), nil
		})
	}
}

func jsonArgs(s string) *tetherv1.Payload {
	return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(s)}}
}

func TestBadInputs(t *testing.T) {
	var c counters
	var slowSawCancel atomic.Bool
	e := start(t, registerTestCommands(&c, &slowSawCancel))
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o600)
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(e.data, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(e.data, "outdir")); err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	huge := `{"name":"` + strings.Repeat("x", 5<<20) + `"}`
	badUTF8 := "{\"name\":\"\xff\xfe\"}"

	type tc struct {
		name    string
		cmd     string
		args    *tetherv1.Payload
		channel bool
		timeout time.Duration
		want    tether.Code
		inMsg   string // the message must contain this
	}
	cases := []tc{
		{"unknown command", "nope", nil, false, 0, tether.CodeNotFound, `unknown command "nope"`},
		{"empty command name", "", nil, false, 0, tether.CodeInvalidArgument, "empty command name"},
		{"invalid command name", "rm -rf", nil, false, 0, tether.CodeInvalidArgument, "invalid command name"},
		{"overlong command name", strings.Repeat("a", 300), nil, false, 0, tether.CodeInvalidArgument, "longer than"},
		{"malformed JSON (proto cmd)", "greet", jsonArgs(`{"name":`), false, 0, tether.CodeInvalidArgument, "malformed JSON"},
		{"malformed JSON (func cmd)", "add", jsonArgs(`{"a":1,`), false, 0, tether.CodeInvalidArgument, "malformed JSON"},
		{"args not an object", "add", jsonArgs(`[1,2]`), false, 0, tether.CodeInvalidArgument, "must be a JSON object"},
		{"args a bare string (proto cmd)", "greet", jsonArgs(`"World"`), false, 0, tether.CodeInvalidArgument, "must be a JSON object"},
		{"wrong type (proto cmd)", "greet", jsonArgs(`{"name":5}`), false, 0, tether.CodeInvalidArgument, "name"},
		{"wrong type (func cmd)", "add", jsonArgs(`{"a":"one","b":2}`), false, 0, tether.CodeInvalidArgument, `argument "a"`},
		{"missing argument", "add", jsonArgs(`{"a":1}`), false, 0, tether.CodeInvalidArgument, `missing argument "b"`},
		{"two spellings (proto cmd)", "greet", jsonArgs(`{"name":"x","name":"y"}`), false, 0, tether.CodeInvalidArgument, `argument "name" given twice`},
		{"two spellings (func cmd)", "say", jsonArgs(`{"invokeMessage":"x","invoke_message":"y"}`), false, 0, tether.CodeInvalidArgument, `argument "invoke_message" given twice (as "invokeMessage" and "invoke_message")`},
		{"duplicate key (func cmd)", "add", jsonArgs(`{"a":1,"b":2,"b":3}`), false, 0, tether.CodeInvalidArgument, `argument "b" given twice`},
		{"argument given twice", "say", jsonArgs(`{"invoke_message":"a","invokeMessage":"b"}`), false, 0, tether.CodeInvalidArgument, `given twice`},
		{"deep nesting", "add", jsonArgs(deep), false, 0, tether.CodeInvalidArgument, "nest deeper"},
		{"deep nesting (proto cmd)", "greet", jsonArgs(deep), false, 0, tether.CodeInvalidArgument, "nest deeper"},
		{"oversize message", "greet", jsonArgs(huge), false, 0, tether.CodeResourceExhausted, "larger than max"},
		{"invalid UTF-8", "greet", jsonArgs(badUTF8), false, 0, tether.CodeInvalidArgument, "UTF-8"},
		{"malformed proto args", "greet", &tetherv1.Payload{Body: &tetherv1.Payload_Proto{Proto: []byte{0x0a, 0xff}}}, false, 0, tether.CodeInvalidArgument, "invalid proto args"},
		{"raw bytes to a proto command", "greet", &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: []byte("x")}}, false, 0, tether.CodeInvalidArgument, "not raw bytes"},
		{"proto args to a JSON command", "add", &tetherv1.Payload{Body: &tetherv1.Payload_Proto{Proto: []byte{}}}, false, 0, tether.CodeInvalidArgument, "not proto"},
		{"handler panic", "explode", nil, false, 0, tether.CodeInternal, "panicked"},
		{"handler past its deadline", "slow", nil, false, 50 * time.Millisecond, tether.CodeDeadlineExceeded, ""},
		{"read_file ..", "read_file", jsonArgs(`{"path":"../secret.txt"}`), false, 0, tether.CodePermissionDenied, "outside the data folder"},
		{"read_file absolute", "read_file", jsonArgs(`{"path":"/etc/passwd"}`), false, 0, tether.CodePermissionDenied, "outside the data folder"},
		{"read_file symlink escape", "read_file", jsonArgs(`{"path":"escape.txt"}`), false, 0, tether.CodePermissionDenied, "outside the data folder"},
		{"read_file symlinked folder escape", "read_file", jsonArgs(`{"path":"outdir/secret.txt"}`), false, 0, tether.CodePermissionDenied, "outside the data folder"},
		{"read_file missing", "read_file", jsonArgs(`{"path":"nope.txt"}`), false, 0, tether.CodeNotFound, "no file"},
		{"channel command invoked", "count", jsonArgs(`{"to":3}`), false, 0, tether.CodeFailedPrecondition, "channel command"},
		{"unary command as channel, args checked as for invoke", "greet", nil, true, 0, tether.CodeInvalidArgument, "name: must be at least 1 characters"},
		{"channel too long", "count", jsonArgs(`{"to":4000000000}`), true, 0, tether.CodeInvalidArgument, "less than or equal to 1000000"},
		{"rule violation: missing name", "greet", jsonArgs(`{}`), false, 0, tether.CodeInvalidArgument, "name: must be at least 1 characters"},
		{"rule violation: name too long", "greet", jsonArgs(`{"name":"` + strings.Repeat("n", 300) + `"}`), false, 0, tether.CodeInvalidArgument, "at most 256"},
	}
	if len(cases) < 20 {
		t.Fatalf("only %d cases", len(cases))
	}
	// Each case is distinct: by name, and by what goes on the wire.
	names, wires := map[string]bool{}, map[string]string{}
	for _, tc := range cases {
		wire := fmt.Sprint(tc.cmd, tc.args, tc.channel, tc.timeout)
		if names[tc.name] || wires[wire] != "" {
			t.Fatalf("case %q repeats %q", tc.name, wires[wire])
		}
		names[tc.name], wires[wire] = true, tc.name
	}
	ipc := e.cli.IPC()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			req := &tetherv1.InvokeRequest{Command: tc.cmd, Args: tc.args}
			var err error
			if tc.channel {
				var st tetherv1.IPC_ChannelClient
				st, err = ipc.Channel(ctx, req)
				for err == nil {
					_, err = st.Recv()
				}
			} else {
				_, err = ipc.Invoke(ctx, req)
			}
			got := tether.FromError(err)
			if got.Code() != tc.want {
				t.Fatalf("code %v (%v), want %v", got.Code(), err, tc.want)
			}
			if !strings.Contains(got.Message(), tc.inMsg) {
				t.Fatalf("message %q does not contain %q", got.Message(), tc.inMsg)
			}
		})
	}
	t.Logf("%d distinct bad gRPC inputs, each refused with its code; the counted handlers ran only where the case needs it (explode %d, slow %d, add/say %d)",
		len(cases), c.panics.Load(), c.slow.Load(), c.add.Load())
	// Only the handlers that had to run ran: explode and slow once each;
	// add and say never (all their calls were bad input).
	if n := c.add.Load(); n != 0 {
		t.Errorf("add ran %d times on bad input", n)
	}
	if c.panics.Load() != 1 || c.slow.Load() != 1 {
		t.Errorf("explode ran %d, slow ran %d; want 1 each", c.panics.Load(), c.slow.Load())
	}
	deadline := time.Now().Add(2 * time.Second)
	for !slowSawCancel.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !slowSawCancel.Load() {
		t.Error("the slow handler's context was not cancelled at the deadline")
	}
	// After a panic and all of that the server still serves.
	var sum int
	if err := e.cli.Invoke(context.Background(), "add", addArgs{A: 2, B: 3}, &sum); err != nil || sum != 5 {
		t.Fatalf("add after bad inputs: %d, %v", sum, err)
	}
	var contents string
	if err := e.cli.Invoke(context.Background(), "read_file", map[string]string{"path": "hello.txt"}, &contents); err != nil || contents != "hi there" {
		t.Fatalf("read_file hello.txt: %q, %v", contents, err)
	}
}

// A typed gRPC call with the same bad input gets the same code.
func TestTypedPanicIsInternal(t *testing.T) {
	e := start(t, nil, server.WithInterceptors(func(ctx context.Context, req any, info *grpcUnaryInfo, h grpcUnaryHandler) (any, error) {
		if info.FullMethod == demov1.Demo_Greet_FullMethodName {
			panic("interceptor bug")
		}
		return h(ctx, req)
	}))
	_, err := demov1.NewDemoClient(e.conn).Greet(context.Background(), &demov1.GreetRequest{Name: "x"})
	if tether.CodeOf(err) != tether.CodeInternal {
		t.Fatalf("got %v", err)
	}
	var s string
	if err := e.cli.Invoke(context.Background(), "process_data", map[string]string{"input": "ok"}, &s); err != nil {
		t.Fatal(err)
	}
}

// Raw bytes pass untouched, both ways.
func TestRawBytes(t *testing.T) {
	e := start(t, nil)
	in := make([]byte, 1<<20)
	for i := range in {
		in[i] = byte(i * 7)
	}
	var out []byte
	if err := e.cli.Invoke(context.Background(), "echo_bytes", in, &out); err != nil {
		t.Fatal(err)
	}
	if string(out) != string(in) {
		t.Fatalf("echo_bytes changed the bytes (len %d vs %d)", len(out), len(in))
	}
}
