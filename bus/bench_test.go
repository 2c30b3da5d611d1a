package bus_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ipc/tether/bus"
)

// BenchmarkMemoryFanout100: one publisher, 100 subscribers each draining
// its own queue on its own goroutine. b.N events are published; the
// benchmark ends when every subscriber has read all of them (a Lagged notice
// fails it) and reports deliveries per second. The publisher yields while a
// subscriber is more than half a queue behind, as a stream's flow control
// would; without it a publisher on 2 cores simply outruns 100 readers and
// the measure would be of dropping.
func BenchmarkMemoryFanout100(b *testing.B) {
	const subs, queue = 100, 1 << 14
	m := bus.NewMemory(bus.WithQueueSize(queue))
	defer m.Close()
	payload := jsonPayload(`{"n":1}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Value
	progress := make([]atomic.Int64, subs)
	for i := range subs {
		s, err := m.Subscribe(ctx, bus.Filter{Names: []string{"e"}})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; n <= b.N; n++ {
				msg, err := s.Next(ctx)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				if msg.Lagged != nil {
					failed.Store("lagged")
					return
				}
				if n%256 == 0 {
					progress[i].Store(int64(n))
				}
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for n := 1; n <= b.N; n++ {
		if _, err := m.Publish(ctx, bus.Event{Name: "e", Payload: payload}); err != nil {
			b.Fatal(err)
		}
		if n%1024 == 0 {
			for i := range progress {
				for int64(n)-progress[i].Load() > queue/2 && failed.Load() == nil && ctx.Err() == nil {
					runtime.Gosched()
				}
			}
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	b.ReportMetric(float64(b.N*subs)/elapsed.Seconds(), "deliveries/s")
}

// BenchmarkMemoryPublishNoSubscribers is the cost of Publish alone.
func BenchmarkMemoryPublishNoSubscribers(b *testing.B) {
	m := bus.NewMemory()
	defer m.Close()
	payload := jsonPayload(`{"n":1}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Publish(context.Background(), bus.Event{Name: "e", Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
}
