package bench

import (
	"context"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tether-ipc/tether/client"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
)

// BenchmarkGreet is invoke_vs_grpc's two sides in this process, so that
// -benchmem counts the allocations of client and server together.
func BenchmarkGreet(b *testing.B) {
	ctx := context.Background()
	req := &demov1.GreetRequest{Name: "World"}
	b.Run("tether", func(b *testing.B) {
		p, err := startPeer(kindTetherUDS, false)
		if err != nil {
			b.Fatal(err)
		}
		defer p.stop()
		cli, err := client.Dial(p.GRPC)
		if err != nil {
			b.Fatal(err)
		}
		defer cli.Close()
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			var res wrapperspb.StringValue
			if err := cli.Invoke(ctx, "greet", req, &res); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("grpc", func(b *testing.B) {
		p, err := startPeer(kindGRPC, false)
		if err != nil {
			b.Fatal(err)
		}
		defer p.stop()
		conn, err := grpc.NewClient(p.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		c := demov1.NewDemoClient(conn)
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			if _, err := c.Greet(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cpuPerOp reports the process's CPU time (user and system) per operation,
// which a busy shared machine disturbs less than wall time.
func cpuPerOp(b *testing.B) func() {
	t0 := cpuTime()
	return func() { b.ReportMetric(float64((cpuTime()-t0).Nanoseconds())/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGatewayGreet is gateway_vs_connect's two sides with one caller,
// in this process.
func BenchmarkGatewayGreet(b *testing.B) {
	benchPosts(b, greetJSON, greetReply, target{kindTether, "/ipc/invoke/greet"}, target{kindConnect, "/demo.v1.Demo/Greet"})
}

// BenchmarkIsolationJS is isolation_js_vs_brownfield's two sides, in this
// process.
func BenchmarkIsolationJS(b *testing.B) {
	body, reply := jsonArgs(1 << 10)
	benchPosts(b, body, reply, target{kindIsolation, "/ipc/invoke/process_data"}, target{kindTetherUDS, "/ipc/invoke/process_data"})
}

// BenchmarkJSON1MiB is json_1mib_vs_connect's two sides, in this process.
func BenchmarkJSON1MiB(b *testing.B) {
	body, reply := jsonArgs(1 << 20)
	benchPosts(b, body, reply, target{kindTether, "/ipc/invoke/process_data"}, target{kindConnect, "/demo.v1.Demo/ProcessData"})
}

// benchPosts benchmarks one caller POSTing body to each target (a peer in
// this process), checking every answer is reply.
func benchPosts(b *testing.B, body, reply []byte, targets ...target) {
	for _, tg := range targets {
		b.Run(tg.kind, func(b *testing.B) {
			p, err := startPeer(tg.kind, false)
			if err != nil {
				b.Fatal(err)
			}
			defer p.stop()
			hc := rawClient(1)
			defer hc.CloseIdleConnections()
			call := poster(hc, p.Token, p.HTTP+tg.path, body, reply)
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for b.Loop() {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
