package isolation_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tether-ipc/tether/examples/demo"
	"github.com/tether-ipc/tether/gateway"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/interceptors/isolation/jshook"
	"github.com/tether-ipc/tether/server"
)

// BenchmarkGatewayIsolationJS1KiB is isolation_js_vs_brownfield's pair in
// one process: a 1 KiB process_data invoke POSTed to the gateway over
// HTTP/1.1 loopback, to a core in-process — brownfield, and isolation with
// the example whitelist JS hook (stage, seal, open).
func BenchmarkGatewayIsolationJS1KiB(b *testing.B) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	input := strings.Repeat("x", 1024-len(`{"input":""}`))
	args, _ := json.Marshal(map[string]string{"input": input})
	want, _ := json.Marshal("Processed: " + input)
	for _, mode := range []string{"brownfield", "isolation-js"} {
		b.Run(mode, func(b *testing.B) {
			var sopts []server.Option
			var dial []grpc.DialOption
			if mode != "brownfield" {
				key, _ := isolation.NewKey()
				opener, _ := isolation.NewOpener(key)
				sopts = append(sopts, server.WithWireInterceptors(isolation.UnaryServerInterceptor(opener), isolation.StreamServerInterceptor(opener)))
				r, err := jshook.Load(filepath.Join("..", "..", "examples", "isolation", "whitelist"), jshook.Options{Logger: discard, Timeout: 5 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				stage, _ := isolation.NewStage(key, r.Hook())
				dial = isolation.DialOptions(stage)
			}
			srv := server.New(append(sopts, server.WithLogger(discard))...)
			demo.New(b.TempDir()).Register(srv)
			conn, err := srv.DialInProcess(dial...)
			if err != nil {
				b.Fatal(err)
			}
			gw, err := gateway.New(conn, gateway.WithLogger(discard))
			if err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewUnstartedServer(gw)
			hs.Config = gw.Server("")
			hs.Start()
			defer func() { gw.Close(); hs.Close(); conn.Close(); srv.Stop() }()
			c := hs.Client()
			url := hs.URL + "/ipc/invoke/process_data"
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				res, err := c.Post(url, "application/json", bytes.NewReader(args))
				if err != nil {
					b.Fatal(err)
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 || !bytes.Equal(body, want) {
					b.Fatalf("%d %.80s %v", res.StatusCode, body, err)
				}
			}
			// The process's CPU time per call (client, gateway, core, GC):
			// steadier than wall time on a shared machine.
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
