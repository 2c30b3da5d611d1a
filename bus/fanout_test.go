package bus_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ipc/tether/bus"
)

// fanoutEvents is the number of events of the big fan-out tests: 100k in a
// normal run. Under -race (about eight times slower here) or -short, 30k
// keeps each test within a few seconds on a shared 2-core machine.
func fanoutEvents() int {
	if raceEnabled || testing.Short() {
		return 30_000
	}
	return 100_000
}

// consumer drains one subscription and checks that ids arrive in order,
// without gaps (every event matches) and without Lagged notices.
type consumer struct {
	sub      *bus.Subscription
	received atomic.Int64
	lastID   uint64
	lagged   []bus.Lagged
	err      error
}

func (c *consumer) run(ctx context.Context, total int) {
	for int(c.received.Load()) < total {
		m, err := c.sub.Next(ctx)
		if err != nil {
			c.err = fmt.Errorf("after %d events: %w", c.received.Load(), err)
			return
		}
		if m.Lagged != nil {
			c.lagged = append(c.lagged, *m.Lagged)
			continue
		}
		if m.Event.ID != c.lastID+1 {
			c.err = fmt.Errorf("got id %d after %d", m.Event.ID, c.lastID)
			return
		}
		c.lastID = m.Event.ID
		c.received.Add(1)
	}
}

// publishPaced publishes total events. Every 256 events it checks that the
// active consumers are within half a queue of the publisher, and yields
// while one is not: on a shared 2-core machine 100 consumer goroutines can be
// starved for a scheduling round, and this test is about the bus losing
// nothing, not about the scheduler. It returns how many times it found a consumer behind.
func publishPaced(t *testing.T, b bus.Bus, total, queue int, active []*consumer) (waits int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for i := 1; i <= total; i++ {
		if _, err := b.Publish(context.Background(), bus.Event{Name: "e", Payload: jsonPayload(`{"n":1}`)}); err != nil {
			t.Fatal(err)
		}
		if i%256 != 0 {
			continue
		}
		for _, c := range active {
			if i-int(c.received.Load()) > queue/2 {
				waits++
			}
			for i-int(c.received.Load()) > queue/2 && c.err == nil {
				if time.Now().After(deadline) {
					t.Fatalf("consumer stuck at %d of %d", c.received.Load(), i)
				}
				runtime.Gosched()
			}
		}
	}
	return waits
}

func TestFanout100(t *testing.T) {
	const subs, queue = 100, 4096
	total := fanoutEvents()
	b := bus.NewMemory(bus.WithQueueSize(queue))
	defer b.Close()
	ctx := testCtx(t)
	cs := make([]*consumer, subs)
	var wg sync.WaitGroup
	for i := range cs {
		cs[i] = &consumer{sub: mustSubscribe(t, b, bus.Filter{Names: []string{"e"}})}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs[i].run(ctx, total)
		}()
	}
	start := time.Now()
	waits := publishPaced(t, b, total, queue, cs)
	wg.Wait()
	elapsed := time.Since(start)
	for i, c := range cs {
		if c.err != nil {
			t.Fatalf("subscriber %d: %v", i, c.err)
		}
		if len(c.lagged) > 0 {
			t.Fatalf("subscriber %d lagged: %+v", i, c.lagged)
		}
		if c.lastID != uint64(total) {
			t.Fatalf("subscriber %d got up to %d, want %d", i, c.lastID, total)
		}
	}
	t.Logf("%d events × %d subscribers in %v: %.2fM deliveries/s; publisher paced %d times",
		total, subs, elapsed, float64(total*subs)/elapsed.Seconds()/1e6, waits)
}

// TestStalledSubscriber: one subscriber never reads while 100k events go
// out. The publisher and the 99 others keep pace and get everything; the
// stalled one holds at most its queue and then learns exactly what it lost.
func TestStalledSubscriber(t *testing.T) {
	const subs, queue = 100, 1024
	total := fanoutEvents()
	b := bus.NewMemory(bus.WithQueueSize(queue))
	defer b.Close()
	ctx := testCtx(t)
	stalled := mustSubscribe(t, b, bus.Filter{Names: []string{"e"}})
	cs := make([]*consumer, subs-1)
	var wg sync.WaitGroup
	for i := range cs {
		cs[i] = &consumer{sub: mustSubscribe(t, b, bus.Filter{Names: []string{"e"}})}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs[i].run(ctx, total)
		}()
	}
	var maxPending atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // watch the stalled queue while publishing
		defer close(sampled)
		for {
			if p := int64(stalled.Pending()); p > maxPending.Load() {
				maxPending.Store(p)
			}
			select {
			case <-stopSampling:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	publishPaced(t, b, total, queue, cs)
	wg.Wait()
	close(stopSampling)
	<-sampled
	for i, c := range cs {
		if c.err != nil || len(c.lagged) > 0 || c.lastID != uint64(total) {
			t.Fatalf("active subscriber %d: err %v, lagged %v, last %d of %d", i, c.err, c.lagged, c.lastID, total)
		}
	}
	if p := maxPending.Load(); p > queue {
		t.Fatalf("stalled queue reached %d, cap %d", p, queue)
	}
	if p := stalled.Pending(); p != queue {
		t.Fatalf("stalled queue holds %d, want %d", p, queue)
	}
	for want := uint64(1); want <= queue; want++ {
		if e := nextEvent(t, stalled); e.ID != want {
			t.Fatalf("stalled got %d, want %d", e.ID, want)
		}
	}
	m := next(t, stalled)
	if m.Lagged == nil || *m.Lagged != (bus.Lagged{Dropped: uint64(total - queue), ResumeAfter: queue}) {
		t.Fatalf("stalled got %+v, want Lagged{%d, %d}", m, total-queue, queue)
	}
	// It catches up and receives live events again.
	id := mustPublish(t, b, bus.Event{Name: "e"})
	if e := nextEvent(t, stalled); e.ID != id {
		t.Fatalf("after catching up got %d, want %d", e.ID, id)
	}
}

// TestMemoryBound publishes far more bytes than the window and a stalled
// subscriber's queue can hold, and checks that the heap stays within them.
func TestMemoryBound(t *testing.T) {
	const (
		queue   = 1024
		window  = 4096
		size    = 1024
		total   = 200_000 // 200 MB of payloads in all
		allowed = 32 << 20
	)
	b := bus.NewMemory(bus.WithQueueSize(queue), bus.WithWindowSize(window))
	defer b.Close()
	stalled := mustSubscribe(t, b, bus.Filter{Names: []string{"*"}})
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	for i := range total {
		body := make([]byte, size)
		body[0] = byte(i)
		if _, err := b.Publish(context.Background(), bus.Event{Name: "big", Payload: rawPayload(body)}); err != nil {
			t.Fatal(err)
		}
		if i%20_000 == 19_999 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	growth := int64(peak) - int64(base)
	t.Logf("heap growth %d KiB for %d MiB published; bound (window+queue)×%d B ≈ %d KiB",
		growth>>10, total*size>>20, size, (window+queue)*size>>10)
	if growth > allowed {
		t.Fatalf("heap grew %d MiB, more than %d MiB", growth>>20, allowed>>20)
	}
	if stalled.Pending() != queue {
		t.Fatalf("pending %d, want %d", stalled.Pending(), queue)
	}
}
