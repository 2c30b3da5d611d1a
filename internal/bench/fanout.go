package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/tether-ipc/tether/client"
)

const fanoutSubs = 100

// fanoutPayload is the event body on both sides: 64 bytes of JSON.
var fanoutPayload = []byte(`{"n":1,"pad":"` + strings.Repeat("x", 64-len(`{"n":1,"pad":""}`)) + `"}`)

// paceAhead bounds how far the publisher runs ahead of the slowest
// subscriber, below the bus's 1024-message queue and NATS's pending limits,
// so that neither side drops: the comparison measures delivery.
const paceAhead = 512

// paceRound publishes n events with publish, keeping within paceAhead of
// the slowest reader, then flush (when set), and returns deliveries per
// second once every reader has them all.
func paceRound(ctx context.Context, n int64, progress []*atomic.Int64, publish, flush func() error) (float64, error) {
	base := make([]int64, len(progress))
	for i := range progress {
		base[i] = progress[i].Load()
	}
	behind := func(i int, k int64) bool { return k-(progress[i].Load()-base[i]) > 0 }
	start := time.Now()
	for k := int64(1); k <= n; k++ {
		if err := publish(); err != nil {
			return 0, err
		}
		if k%64 == 0 {
			for i := range progress {
				for behind(i, k-paceAhead) {
					if ctx.Err() != nil {
						return 0, ctx.Err()
					}
					runtime.Gosched()
				}
			}
		}
	}
	if flush != nil {
		if err := flush(); err != nil {
			return 0, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := range progress {
		for behind(i, n) {
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("reader %d got %d of %d events", i, progress[i].Load()-base[i], n)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	return float64(n*int64(len(progress))) / time.Since(start).Seconds(), nil
}

func runGRPCFanoutVsNATS(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B = "grpc_listen", "nats"
	r.SetupA = setup[kindTether] + ", in this process. 100 listeners: client.Dial(the gRPC address) each (one TCP connection each), Listen(ctx, [\"bench\"], handler); the backend emits with a.Server().Emit(ctx, \"bench\", 64 bytes of JSON)"
	r.SetupB = "nats-server embedded (server.NewServer, 127.0.0.1, defaults but for NoLog/NoSigs/MaxPending 1 GiB); 100 nats.go connections, each Subscribe(\"bench\") with pending limits off; the publisher an in-process nats.go connection (nats.InProcessServer), Publish 64 bytes, Flush at the end"
	r.note("The publisher keeps at most %d events ahead of the slowest subscriber on both sides, below the bus's queue and NATS's pending limits, so neither drops: the comparison measures delivery", paceAhead)
	events := int64(20000)
	if cfg.Quick {
		events = 5000
	}

	// Tether: the app on TCP loopback; 100 clients, each its own connection
	// and Listen stream; the backend emits (Server.Emit).
	c, err := startPeer(kindTether, false)
	if err != nil {
		return err
	}
	defer c.stop()
	tprog := counters(fanoutSubs)
	var lagged atomic.Int64
	for i := range fanoutSubs {
		cli, err := client.Dial(c.GRPC, client.WithToken(c.Token))
		if err != nil {
			return err
		}
		defer cli.Close()
		sub, err := cli.Listen(ctx, []string{"bench"}, func(client.Event) { tprog[i].Add(1) },
			client.OnLag(func(uint64, uint64) { lagged.Add(1) }))
		if err != nil {
			return err
		}
		defer sub.Unlisten()
	}
	msg := json.RawMessage(fanoutPayload)
	a := func(ctx context.Context) (float64, error) {
		v, err := paceRound(ctx, events, tprog, func() error {
			_, err := c.app.Server().Emit(ctx, "bench", msg)
			return err
		}, nil)
		if n := lagged.Load(); n > 0 && err == nil {
			err = fmt.Errorf("%d lagged notices: the pacing let the bus drop", n)
		}
		return v, err
	}

	// NATS: an embedded server on 127.0.0.1; 100 nats.go subscriber
	// connections; the publisher is an in-process connection, as the
	// backend's Emit is.
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, MaxPending: 1 << 30})
	if err != nil {
		return err
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		return fmt.Errorf("embedded NATS did not start")
	}
	nprog := counters(fanoutSubs)
	for i := range fanoutSubs {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			return err
		}
		defer nc.Close()
		sub, err := nc.Subscribe("bench", func(*nats.Msg) { nprog[i].Add(1) })
		if err != nil {
			return err
		}
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			return err
		}
		if err := nc.Flush(); err != nil {
			return err
		}
	}
	pub, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		return err
	}
	defer pub.Close()
	b := func(ctx context.Context) (float64, error) {
		return paceRound(ctx, events, nprog, func() error { return pub.Publish("bench", fanoutPayload) }, pub.Flush)
	}
	def := metricDef{key: "rate", name: "delivery rate", unit: "events/s", goal: Goal{">=", 1.2}}
	return interleave(ctx, cfg, r, "one process", []metricDef{def}, rate(a), rate(b))
}

// counters are n progress counters, one per reader.
func counters(n int) []*atomic.Int64 {
	c := make([]*atomic.Int64, n)
	for i := range c {
		c[i] = new(atomic.Int64)
	}
	return c
}

func rate(s func(context.Context) (float64, error)) side {
	return func(ctx context.Context) (values, error) {
		v, err := s(ctx)
		return values{"rate": v}, err
	}
}
