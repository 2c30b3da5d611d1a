package natsbus_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tether-ipc/tether/bus"
	"github.com/tether-ipc/tether/bus/natsbus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// pace yields while the slowest of progress is more than ahead events
// behind n, so that neither NATS's slow-consumer limits nor the bus queues
// drop anything: the benchmarks measure delivery, not dropping.
func pace(ctx context.Context, n int64, ahead int64, progress []atomic.Int64) {
	for i := range progress {
		for n-progress[i].Load() > ahead && ctx.Err() == nil {
			runtime.Gosched()
		}
	}
}

// BenchmarkNATSFanout100 is the baseline: raw nats.go against an embedded
// NATS server, one publisher connection, 100 subscriber connections on the
// same machine, each counting its messages in its callback.
func BenchmarkNATSFanout100(b *testing.B) {
	const subs = 100
	url := startNATS(b)
	pub := connect(b, url)
	progress := make([]atomic.Int64, subs)
	var wg sync.WaitGroup
	wg.Add(subs)
	for i := range subs {
		nc := connect(b, url)
		var seen int64
		sub, err := nc.Subscribe("tether.events.e", func(*nats.Msg) {
			seen++
			progress[i].Store(seen)
			if seen == int64(b.N) {
				wg.Done()
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			b.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	data := []byte(`{"n":1}`)
	b.ResetTimer()
	start := time.Now()
	for n := 1; n <= b.N; n++ {
		if err := pub.Publish("tether.events.e", data); err != nil {
			b.Fatal(err)
		}
		if n%1024 == 0 {
			pace(ctx, int64(n), 8192, progress)
		}
	}
	if err := pub.Flush(); err != nil {
		b.Fatal(err)
	}
	waitOrFail(b, ctx, &wg)
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*subs)/elapsed.Seconds(), "deliveries/s")
}

// BenchmarkNATSBusCrossReplica: events published on replica A through
// natsbus reach subs subscribers of replica B's local bus (one NATS hop,
// then B's in-memory fan-out).
func BenchmarkNATSBusCrossReplica(b *testing.B) {
	for _, subs := range []int{1, 100} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			url := startNATS(b)
			ra := newReplica(b, url)
			rb := newReplica(b, url, natsbus.WithBusOptions(bus.WithQueueSize(1<<14)))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			progress := make([]atomic.Int64, subs)
			var failed atomic.Value
			var wg sync.WaitGroup
			for i := range subs {
				s, err := rb.Subscribe(ctx, bus.Filter{Names: []string{"e"}})
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := int64(1); n <= int64(b.N); n++ {
						m, err := s.Next(ctx)
						if err != nil {
							failed.Store(err.Error())
							return
						}
						if m.Lagged != nil {
							failed.Store("lagged")
							return
						}
						progress[i].Store(n)
					}
				}()
			}
			payload := &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(`{"n":1}`)}}
			b.ResetTimer()
			start := time.Now()
			for n := 1; n <= b.N; n++ {
				if _, err := ra.Publish(ctx, bus.Event{Name: "e", Payload: payload}); err != nil {
					b.Fatal(err)
				}
				if n%1024 == 0 {
					pace(ctx, int64(n), 8192, progress)
				}
			}
			waitOrFail(b, ctx, &wg)
			elapsed := time.Since(start)
			b.StopTimer()
			if f := failed.Load(); f != nil {
				b.Fatal(f)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(b.N*subs)/elapsed.Seconds(), "deliveries/s")
		})
	}
}

func waitOrFail(b *testing.B, ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		b.Fatal("subscribers did not receive every message")
	}
}
