package isolation_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
)

// A stage without hooks seals the caller's request without copying or
// changing it, for every kind, and the handler gets exactly that request,
// opened, marked sealed.
func TestStageWithoutHooksEndToEnd(t *testing.T) {
	c := newCore(t, true)
	_, ipc := stageClient(t, c)
	ctx := withLabel(testCtx(t), "main")

	inv := &tetherv1.InvokeRequest{Command: "greet", Args: jsonPayload(`{"name":"a"}`), Headers: map[string]string{"h": "v", "a": "b"}, IdempotencyKey: "k1"}
	emit := &tetherv1.EmitRequest{Event: "chat", Payload: &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: []byte{0, 1, 2}}}, Target: "other"}
	ch := &tetherv1.InvokeRequest{Command: "count", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Proto{Proto: []byte{8, 1}}}}
	lis := &tetherv1.ListenRequest{Events: []string{"a", "b", "c"}, AfterId: 7}
	before := []proto.Message{proto.Clone(inv), proto.Clone(emit), proto.Clone(ch), proto.Clone(lis)}

	for range 2 { // the same request twice: two seals, both accepted
		if _, err := ipc.Invoke(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ipc.Emit(ctx, emit); err != nil {
		t.Fatal(err)
	}
	chs, err := ipc.Channel(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := drain(chs.Recv); err != nil {
		t.Fatal(err)
	}
	ls, err := ipc.Listen(ctx, lis)
	if err != nil {
		t.Fatal(err)
	}
	if err := drain(ls.Recv); err != nil {
		t.Fatal(err)
	}
	ls, err = ipc.Listen(ctx, &tetherv1.ListenRequest{})
	if err == nil {
		err = drain(ls.Recv)
	}
	if isolation.ReasonOf(err) != isolation.ReasonBlocked {
		t.Fatalf("listen without events: %v", err)
	}

	for i, m := range []proto.Message{inv, emit, ch, lis} {
		if !proto.Equal(m, before[i]) {
			t.Errorf("the caller's request was modified: %v", m)
		}
	}
	f := c.fake
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.invokes) != 3 || len(f.emits) != 1 || len(f.listens) != 1 {
		t.Fatalf("handlers saw %d invokes, %d emits, %d listens", len(f.invokes), len(f.emits), len(f.listens))
	}
	for i, got := range []proto.Message{f.invokes[0], f.invokes[1], f.emits[0], f.invokes[2], f.listens[0]} {
		want := []proto.Message{inv, inv, emit, ch, lis}[i]
		if !proto.Equal(got, want) {
			t.Errorf("handler %d saw %v, want %v", i, got, want)
		}
	}
	for i, ok := range f.sealedOK {
		if !ok {
			t.Errorf("handler call %d not marked sealed", i)
		}
	}
}

// Many goroutines send the same request object through one stage: each
// call is sealed under its own seq and accepted once (run with -race).
func TestStageWithoutHooksConcurrent(t *testing.T) {
	c := newCore(t, false)
	_, ipc := stageClient(t, c)
	ctx := withLabel(testCtx(t), "main")
	req := &tetherv1.InvokeRequest{Command: "greet", Args: jsonPayload(`{"name":"a"}`), Headers: map[string]string{"x": "1", "y": "2"}}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Go(func() {
			for range 8 {
				if _, err := ipc.Invoke(ctx, req); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c.fake.mu.Lock()
	defer c.fake.mu.Unlock()
	if len(c.fake.invokes) != 64 {
		t.Fatalf("%d invokes ran", len(c.fake.invokes))
	}
	for _, got := range c.fake.invokes {
		if !proto.Equal(got, req) {
			t.Fatalf("handler saw %v", got)
		}
	}
}

// The additional data a Sealer binds is AdditionalData of the routing
// names, for every kind and any number of listen events.
func TestSealBindsAdditionalData(t *testing.T) {
	key, _ := isolation.NewKey()
	sealer, _ := isolation.NewSealer(key)
	for _, tc := range []struct {
		kind  tether.Kind
		msg   proto.Message
		names []string
	}{
		{tether.KindInvoke, &tetherv1.InvokeRequest{Command: "greet", Args: jsonPayload(`{}`)}, []string{"greet"}},
		{tether.KindChannel, &tetherv1.InvokeRequest{Command: "count"}, []string{"count"}},
		{tether.KindEmit, &tetherv1.EmitRequest{Event: "a:b/c"}, []string{"a:b/c"}},
		{tether.KindListen, &tetherv1.ListenRequest{Events: []string{"a"}}, []string{"a"}},
		{tether.KindListen, &tetherv1.ListenRequest{Events: []string{"a", "bb", ""}}, []string{"a", "bb", ""}},
	} {
		t.Run(fmt.Sprint(tc.kind, tc.names), func(t *testing.T) {
			plain, _ := proto.MarshalOptions{Deterministic: true}.Marshal(tc.msg)
			if err := sealer.Seal(tc.kind, "lbl", tc.msg); err != nil {
				t.Fatal(err)
			}
			s := sealerSealed(tc.msg)
			ad := isolation.AdditionalData(tc.kind, tc.names, "lbl", sealer.Session(), s.GetSeq())
			got, err := isolation.OpenWithKeyForTest(key, s.GetNonce(), s.GetCiphertext(), ad)
			if err != nil {
				t.Fatalf("seal does not open with AdditionalData: %v", err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("plaintext %x, want %x", got, plain)
			}
			if len(s.GetNonce()) != isolation.NonceSize || cap(s.GetNonce()) != isolation.NonceSize {
				t.Fatalf("nonce len %d cap %d", len(s.GetNonce()), cap(s.GetNonce()))
			}
		})
	}
}

func sealerSealed(m proto.Message) *tetherv1.Sealed {
	switch m := m.(type) {
	case *tetherv1.InvokeRequest:
		return m.GetSealed()
	case *tetherv1.EmitRequest:
		return m.GetSealed()
	case *tetherv1.ListenRequest:
		return m.GetSealed()
	}
	return nil
}

// Open leaves msg as it was on every failure, and opens it on success.
func TestOpenLeavesMessageOnFailure(t *testing.T) {
	key, _ := isolation.NewKey()
	sealer, _ := isolation.NewSealer(key)
	opener, _ := isolation.NewOpener(key)
	orig := &tetherv1.InvokeRequest{Command: "greet", Args: jsonPayload(`{"a":1}`)}
	req := proto.Clone(orig).(*tetherv1.InvokeRequest)
	if err := sealer.Seal(tether.KindInvoke, "main", req); err != nil {
		t.Fatal(err)
	}
	sealed := proto.Clone(req)
	if err := opener.Open(tether.KindInvoke, "other", req); isolation.ReasonOf(err) != isolation.ReasonVerify {
		t.Fatalf("wrong label: %v", err)
	}
	if !proto.Equal(req, sealed) {
		t.Fatalf("failed Open changed msg: %v", req)
	}
	if err := opener.Open(tether.KindInvoke, "main", req); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(req, orig) {
		t.Fatalf("opened %v", req)
	}
	replay := proto.Clone(sealed)
	if err := opener.Open(tether.KindInvoke, "main", replay); isolation.ReasonOf(err) != isolation.ReasonReplay || !proto.Equal(replay, sealed) {
		t.Fatalf("replay: %v, msg %v", err, replay)
	}
}

// Nonces come from crypto/rand in batches: concurrent seals, across many
// batches, never share one.
func TestSealNoncesUnique(t *testing.T) {
	key, _ := isolation.NewKey()
	sealer, _ := isolation.NewSealer(key)
	const workers, each = 8, 500
	var mu sync.Mutex
	seen := make(map[string]bool, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				req := &tetherv1.EmitRequest{Event: "e"}
				if err := sealer.Seal(tether.KindEmit, "", req); err != nil {
					t.Error(err)
					return
				}
				n := string(req.GetSealed().GetNonce())
				mu.Lock()
				if seen[n] || n == string(make([]byte, isolation.NonceSize)) {
					t.Errorf("nonce %x handed out twice or zero", n)
				}
				seen[n] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Fatalf("%d distinct nonces for %d seals", len(seen), workers*each)
	}
}

// Concurrent unary calls (invokes and emits) of different sizes through one
// stage — small, growing, and over the largest pooled seal buffer — each
// reach the handler with their own args, though the sealed request and its
// buffer are reused between calls.
func TestStageSealBuffersNotShared(t *testing.T) {
	c := newCore(t, false)
	_, ipc := stageClient(t, c)
	ctx := withLabel(testCtx(t), "main")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				size := []int{10, 3000, 70 << 10, 100}[(w+i)%4]
				args := fmt.Sprintf(`{"w":%d,"i":%d,"pad":"%s"}`, w, i, strings.Repeat("x", size))
				res, err := ipc.Invoke(ctx, &tetherv1.InvokeRequest{Command: "echo", Args: jsonPayload(args)})
				if err != nil {
					errs <- err
					return
				}
				if got := string(res.GetResult().GetJson()); got != args {
					errs <- fmt.Errorf("call %d/%d: handler saw %.40q…, want %.40q…", w, i, got, args)
					return
				}
				if _, err := ipc.Emit(ctx, &tetherv1.EmitRequest{Event: "e", Payload: jsonPayload(args), Target: args[:12]}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c.fake.mu.Lock()
	defer c.fake.mu.Unlock()
	if len(c.fake.emits) != 160 {
		t.Fatalf("%d emits ran", len(c.fake.emits))
	}
	seen := map[string]bool{}
	for _, e := range c.fake.emits {
		p := string(e.GetPayload().GetJson())
		if seen[p] || e.GetTarget() != p[:12] {
			t.Fatalf("emit handler saw %.40q… (target %q) twice or torn", p, e.GetTarget())
		}
		seen[p] = true
	}
}
