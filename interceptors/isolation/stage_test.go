package isolation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tether-ipc/tether"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
)

// stageClient dials the core through an isolation stage with hooks.
func stageClient(t *testing.T, c *core, hooks ...isolation.Hook) (*grpc.ClientConn, tetherv1.IPCClient) {
	t.Helper()
	stage, err := isolation.NewStage(c.key, hooks...)
	if err != nil {
		t.Fatal(err)
	}
	cc := c.dial(t, isolation.DialOptions(stage)...)
	return cc, tetherv1.NewIPCClient(cc)
}

func TestStageEndToEnd(t *testing.T) {
	c := newCore(t, false)
	var mu sync.Mutex
	var seen []string
	record := func(_ context.Context, p *isolation.Payload) (*isolation.Payload, error) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s %s %s", p.Cmd, p.Name(), p.Client.Label, p.Client.Origin))
		mu.Unlock()
		if p.Message != nil {
			p.Message.Args = json.RawMessage(`{"name":"rewritten","dropped":true}`)
		}
		return p, nil
	}
	cc, ipc := stageClient(t, c, record)
	ctx := metadata.AppendToOutgoingContext(testCtx(t), tether.MetadataClientLabel, "main", tether.MetadataOrigin, "http://app")

	req := &tetherv1.InvokeRequest{Command: "greet", Args: jsonPayload(`{"name":"a"}`), Headers: map[string]string{"h": "v"}, IdempotencyKey: "k1"}
	if _, err := ipc.Invoke(ctx, req); err != nil {
		t.Fatal(err)
	}
	if req.Sealed != nil || string(req.Args.GetJson()) != `{"name":"a"}` {
		t.Fatal("the caller's request was modified")
	}
	if _, err := ipc.Emit(ctx, &tetherv1.EmitRequest{Event: "chat", Payload: jsonPayload(`{"t":1}`), Target: "other"}); err != nil {
		t.Fatal(err)
	}
	ch, err := ipc.Channel(ctx, &tetherv1.InvokeRequest{Command: "count"})
	if err != nil {
		t.Fatal(err)
	}
	if err := drain(ch.Recv); err != nil {
		t.Fatal(err)
	}
	ls, err := ipc.Listen(ctx, &tetherv1.ListenRequest{Events: []string{"a", "b"}, AfterId: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := drain(ls.Recv); err != nil {
		t.Fatal(err)
	}
	if _, err := ipc.ListCommands(ctx, &tetherv1.ListCommandsRequest{}); err != nil {
		t.Fatalf("ListCommands: %v", err)
	}
	_, err = demov1.NewDemoClient(cc).Greet(ctx, &demov1.GreetRequest{})
	if tether.CodeOf(err) != tether.CodePermissionDenied || !strings.Contains(err.Error(), "typed methods are not available") {
		t.Fatalf("typed method through stage: %v", err)
	}

	f := c.fake
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.invokes) != 2 || len(f.emits) != 1 || len(f.listens) != 1 {
		t.Fatalf("handlers saw %d invokes, %d emits, %d listens", len(f.invokes), len(f.emits), len(f.listens))
	}
	for i, ok := range f.sealedOK {
		if !ok {
			t.Errorf("handler call %d not marked sealed", i)
		}
	}
	inv := f.invokes[0]
	// The rewrite is put in greet's keys too: "dropped" is not one.
	if inv.Command != "greet" || string(inv.Args.GetJson()) != `{"name":"rewritten"}` || inv.Headers["h"] != "v" || inv.IdempotencyKey != "k1" || inv.Sealed != nil {
		t.Errorf("opened invoke = %v", inv)
	}
	if e := f.emits[0]; e.Event != "chat" || e.Target != "other" || string(e.Payload.GetJson()) != `{"t":1}` {
		t.Errorf("opened emit = %v", e)
	}
	if l := f.listens[0]; len(l.Events) != 2 || l.AfterId != 7 {
		t.Errorf("opened listen = %v", l)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"invoke greet main http://app", "emit chat main http://app", "invoke count main http://app", "listen a main http://app", "listen b main http://app"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("hooks saw %q, want %q", seen, want)
	}
}

func TestStageBlocks(t *testing.T) {
	c := newCore(t, false)
	policy, err := isolation.LoadPolicy([]byte(`{"commands":["greet","count","read_file"],"events":["chat"],"blockedPaths":["/etc"]}`))
	if err != nil {
		t.Fatal(err)
	}
	hook, err := policy.Hook()
	if err != nil {
		t.Fatal(err)
	}
	_, ipc := stageClient(t, c, hook)
	ctx := withLabel(testCtx(t), "main")
	checks := []struct {
		name string
		call func() error
	}{
		{"command", func() error { _, err := ipc.Invoke(ctx, &tetherv1.InvokeRequest{Command: "rm"}); return err }},
		{"path", func() error {
			_, err := ipc.Invoke(ctx, &tetherv1.InvokeRequest{Command: "read_file", Args: jsonPayload(`{"path":"/tmp/../etc/passwd"}`)})
			return err
		}},
		{"event", func() error { _, err := ipc.Emit(ctx, &tetherv1.EmitRequest{Event: "admin"}); return err }},
		{"channel", func() error {
			s, err := ipc.Channel(ctx, &tetherv1.InvokeRequest{Command: "spawn"})
			if err != nil {
				return err
			}
			return drain(s.Recv)
		}},
		{"listen one of two", func() error {
			s, err := ipc.Listen(ctx, &tetherv1.ListenRequest{Events: []string{"chat", "secret"}})
			if err != nil {
				return err
			}
			return drain(s.Recv)
		}},
	}
	for _, ch := range checks {
		err := ch.call()
		if tether.CodeOf(err) != tether.CodePermissionDenied || isolation.ReasonOf(err) != isolation.ReasonBlocked {
			t.Errorf("%s: %v, want permission_denied blocked", ch.name, err)
		}
	}
	if n := c.fake.runs.Load(); n != 0 {
		t.Fatalf("handlers ran %d times", n)
	}
}

func TestTrustedPeer(t *testing.T) {
	c := newCore(t, false, isolation.WithTrustedPeer(func(ctx context.Context) bool {
		md, _ := metadata.FromIncomingContext(ctx)
		return len(md.Get("x-test-trusted")) > 0
	}))
	cc := c.dial(t)
	ipc := tetherv1.NewIPCClient(cc)
	trusted := metadata.AppendToOutgoingContext(testCtx(t), "x-test-trusted", "1")
	if _, err := ipc.Invoke(trusted, &tetherv1.InvokeRequest{Command: "greet"}); err != nil {
		t.Fatal(err)
	}
	if _, err := demov1.NewDemoClient(cc).Greet(trusted, &demov1.GreetRequest{}); err != nil {
		t.Fatal(err)
	}
	// A trusted peer's bad seal is still refused.
	_, err := ipc.Invoke(trusted, &tetherv1.InvokeRequest{Command: "greet", Sealed: &tetherv1.Sealed{}})
	if isolation.ReasonOf(err) != isolation.ReasonEmpty {
		t.Fatalf("trusted bad seal: %v", err)
	}
	if _, err := ipc.Invoke(testCtx(t), &tetherv1.InvokeRequest{Command: "greet"}); isolation.ReasonOf(err) != isolation.ReasonUnsealed {
		t.Fatalf("untrusted unsealed: %v", err)
	}
	c.fake.mu.Lock()
	defer c.fake.mu.Unlock()
	if len(c.fake.sealedOK) != 2 || c.fake.sealedOK[0] || c.fake.sealedOK[1] {
		t.Fatalf("trusted calls marked sealed: %v", c.fake.sealedOK)
	}
}

// Clear fields added next to a valid seal never reach the handler.
func TestClearFieldsBesideSealAreDropped(t *testing.T) {
	c := newCore(t, false)
	ipc := tetherv1.NewIPCClient(c.dial(t))
	sealer, _ := isolation.NewSealer(c.key)
	req := &tetherv1.InvokeRequest{Command: "greet", Args: jsonPayload(`{"safe":1}`)}
	if err := sealer.Seal(tether.KindInvoke, "main", req); err != nil {
		t.Fatal(err)
	}
	req.Args = jsonPayload(`{"evil":1}`)
	req.Headers = map[string]string{"x": "injected"}
	if _, err := ipc.Invoke(withLabel(testCtx(t), "main"), req); err != nil {
		t.Fatal(err)
	}
	c.fake.mu.Lock()
	defer c.fake.mu.Unlock()
	got := c.fake.invokes[0]
	if string(got.Args.GetJson()) != `{"safe":1}` || len(got.Headers) != 0 {
		t.Fatalf("handler saw %v", got)
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	key, err := isolation.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	if _, err := key.WriteTo(&raw); err != nil {
		t.Fatal(err)
	}
	secrets := func(s string) bool {
		b := raw.Bytes()
		return strings.Contains(s, string(b)) || strings.Contains(s, fmt.Sprintf("%x", b)) ||
			strings.Contains(s, fmt.Sprintf("%X", b)) || strings.Contains(s, fmt.Sprint(b)) ||
			strings.Contains(s, fmt.Sprintf("%v", b[:8])) || strings.Contains(s, fmt.Sprintf("%x", b[:8]))
	}
	type holder struct {
		K  isolation.Key
		KP *isolation.Key
	}
	outs := []string{
		fmt.Sprintf("%v %+v %#v %s %x %X %q %d", key, key, key, key, key, key, key, key),
		fmt.Sprintf("%v %+v %#v %s %x", *key, *key, *key, *key, *key),
		fmt.Sprintf("%v %+v %#v", holder{*key, key}, holder{*key, key}, holder{*key, key}),
		key.String(), key.GoString(),
	}
	var logBuf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logBuf, nil), slog.NewTextHandler(&logBuf, nil)} {
		l := slog.New(h)
		l.Info("key", "key", key, "value", *key, "group", slog.GroupValue(slog.Any("k", key)), "holder", holder{*key, key})
	}
	outs = append(outs, logBuf.String())
	if _, err := json.Marshal(key); err == nil {
		t.Error("json.Marshal(key) succeeded")
	}
	if _, err := json.Marshal(holder{*key, key}); err == nil {
		t.Error("json.Marshal of a struct with a key succeeded")
	}
	if _, err := key.MarshalText(); err == nil {
		t.Error("MarshalText succeeded")
	}
	// Every refusal the opener gives, with this key.
	opener, _ := isolation.NewOpener(key)
	sealer, _ := isolation.NewSealer(key)
	req := &tetherv1.InvokeRequest{Command: "greet"}
	_ = sealer.Seal(tether.KindInvoke, "l", req)
	req.Sealed.Ciphertext[0] ^= 1
	outs = append(outs, opener.Open(tether.KindInvoke, "l", req).Error())
	for i, s := range outs {
		if secrets(s) {
			t.Errorf("output %d shows the key: %s", i, s)
		}
	}
	if !strings.Contains(outs[0], "[redacted]") || !strings.Contains(logBuf.String(), "[redacted]") {
		t.Errorf("no [redacted] in %q / %q", outs[0], logBuf.String())
	}
}

func TestReplayWindowOutOfOrderAndConcurrent(t *testing.T) {
	key, _ := isolation.NewKey()
	opener, _ := isolation.NewOpener(key)
	sealer, _ := isolation.NewSealer(key)
	const n = 600
	reqs := make([]*tetherv1.InvokeRequest, n)
	for i := range reqs {
		reqs[i] = &tetherv1.InvokeRequest{Command: "c"}
		if err := sealer.Seal(tether.KindInvoke, "l", reqs[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Deliver every request twice, concurrently and in reverse order: each
	// is accepted exactly once.
	var accepted sync.WaitGroup
	var mu sync.Mutex
	ok, rep := 0, 0
	for i := n - 1; i >= 0; i-- {
		for range 2 {
			accepted.Add(1)
			go func(r *tetherv1.InvokeRequest) {
				defer accepted.Done()
				c := &tetherv1.InvokeRequest{Command: r.Command, Sealed: &tetherv1.Sealed{Session: r.Sealed.Session, Seq: r.Sealed.Seq,
					Nonce: r.Sealed.Nonce, Ciphertext: bytes.Clone(r.Sealed.Ciphertext)}}
				err := opener.Open(tether.KindInvoke, "l", c)
				mu.Lock()
				defer mu.Unlock()
				switch isolation.ReasonOf(err) {
				case "":
					ok++
				case isolation.ReasonReplay:
					rep++
				default:
					t.Errorf("seq %d: %v", r.Sealed.Seq, err)
				}
			}(reqs[i])
		}
	}
	accepted.Wait()
	if ok != n || rep != n {
		t.Fatalf("accepted %d, replays %d; want %d each", ok, rep, n)
	}
}

func TestMaxSessions(t *testing.T) {
	key, _ := isolation.NewKey()
	opener, _ := isolation.NewOpener(key, isolation.WithMaxSessions(2))
	for i := range 3 {
		s, _ := isolation.NewSealer(key)
		req := &tetherv1.InvokeRequest{Command: "c"}
		_ = s.Seal(tether.KindInvoke, "", req)
		err := opener.Open(tether.KindInvoke, "", req)
		if i < 2 && err != nil {
			t.Fatal(err)
		}
		if i == 2 && (isolation.ReasonOf(err) != isolation.ReasonSessions || tether.CodeOf(err) != tether.CodeResourceExhausted) {
			t.Fatalf("third session: %v", err)
		}
	}
	if _, err := isolation.NewOpener(key, isolation.WithMaxSessions(0)); err == nil {
		t.Fatal("max sessions 0 accepted")
	}
}

func TestAdditionalDataUnambiguous(t *testing.T) {
	a := isolation.AdditionalData(tether.KindInvoke, []string{"ab"}, "c", "s", 1)
	b := isolation.AdditionalData(tether.KindInvoke, []string{"a"}, "bc", "s", 1)
	c := isolation.AdditionalData(tether.KindInvoke, []string{"a", "b"}, "c", "s", 1)
	if bytes.Equal(a, b) || bytes.Equal(a, c) || bytes.Equal(b, c) {
		t.Fatal("additional data is ambiguous")
	}
}

func TestReasonCodes(t *testing.T) {
	for r, want := range map[isolation.Reason]tether.Code{
		isolation.ReasonUnsealed: tether.CodePermissionDenied, isolation.ReasonMethod: tether.CodePermissionDenied,
		isolation.ReasonBlocked: tether.CodePermissionDenied, isolation.ReasonEmpty: tether.CodeUnauthenticated,
		isolation.ReasonMalformed: tether.CodeUnauthenticated, isolation.ReasonVerify: tether.CodeUnauthenticated,
		isolation.ReasonMismatch: tether.CodeUnauthenticated, isolation.ReasonReplay: tether.CodeUnauthenticated,
		isolation.ReasonStale: tether.CodeUnauthenticated, isolation.ReasonSessions: tether.CodeResourceExhausted,
	} {
		if r.Code() != want {
			t.Errorf("%s: %s, want %s", r, r.Code(), want)
		}
	}
	if isolation.ReasonOf(nil) != "" || isolation.ReasonOf(fmt.Errorf("x")) != "" {
		t.Error("ReasonOf of a foreign error")
	}
}
