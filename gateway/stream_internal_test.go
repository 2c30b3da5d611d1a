package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/tether-ipc/tether"
)

// A page may use its stream's id as soon as the response's headers reach it,
// before the gateway has the stream's writer in place: get waits for it
// rather than handing out a stream without one (a subscription's first event
// then wrote through a nil writer and took the process down).
func TestPageStreamUsableOnlyOnceItsWriterIsSet(t *testing.T) {
	g := &Gateway{cfg: defaults()}
	g.cfg.maxPageStreams = 4
	g.ctx, g.cancel = context.WithCancel(context.Background())
	defer g.cancel()
	who := identity{label: "main"}
	ps, err := g.pages.open(g, who)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *pageStream, 1)
	go func() {
		p, err := g.pages.get(ps.id, who)
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	select {
	case <-got:
		t.Fatal("get handed out a stream before its writer was set")
	case <-time.After(50 * time.Millisecond):
	}
	ps.sse = &sseWriter{out: func([]byte) error { return nil }}
	close(ps.ready)
	select {
	case p := <-got:
		if p != ps || p.sse == nil {
			t.Fatalf("get returned %v", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("get did not return once the writer was set")
	}

	// A stream that ends before its writer is set answers "no such stream".
	ps2, err := g.pages.open(g, who)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := g.pages.get(ps2.id, who); errc <- err }()
	ps2.cancel()
	if err := <-errc; err != errNoStream {
		t.Fatalf("get of a stream that ended: %v", err)
	}
}

// Page streams are bounded per caller, not per label: one caller at its
// bound leaves another caller of the same label its streams.
func TestPageStreamsBoundedPerCaller(t *testing.T) {
	g := &Gateway{cfg: defaults()}
	g.cfg.maxPageStreams = 2
	g.ctx, g.cancel = context.WithCancel(context.Background())
	defer g.cancel()
	a, b := identity{label: "main", caller: "main@session:a"}, identity{label: "main", caller: "main@session:b"}
	var open []*pageStream
	for i := 0; i < 2; i++ {
		ps, err := g.pages.open(g, a)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, ps)
	}
	if _, err := g.pages.open(g, a); tether.CodeOf(err) != tether.CodeResourceExhausted {
		t.Fatalf("a third stream of one caller: %v", err)
	}
	if _, err := g.pages.open(g, b); err != nil {
		t.Fatalf("another caller of the same label: %v", err)
	}
	g.pages.remove(open[0])
	if _, err := g.pages.open(g, a); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
}
