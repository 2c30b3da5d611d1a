package bench

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/server"
)

// BenchmarkInvokeUnix1KiB is one side of isolation_vs_brownfield per
// sub-benchmark, in one process, so that -benchmem counts the allocations of
// client and core together: isolation's extra allocations per call are the
// difference between the two.
func BenchmarkInvokeUnix1KiB(b *testing.B) {
	key, err := isolation.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	opener, _ := isolation.NewOpener(key)
	stage, _ := isolation.NewStage(key)
	input := strings.Repeat("x", 1024-len(`{"input":""}`))
	args, _ := json.Marshal(map[string]string{"input": input})
	want := "Processed: " + input
	for _, bc := range []struct {
		name string
		srv  []server.Option
		cli  []client.Option
	}{
		{"brownfield", nil, nil},
		{"isolation",
			[]server.Option{server.WithWireInterceptors(isolation.UnaryServerInterceptor(opener), isolation.StreamServerInterceptor(opener))},
			[]client.Option{client.WithDialOptions(
				isolation.DialOptions(stage)...)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			core, err := startCore("unix", bc.srv...)
			if err != nil {
				b.Fatal(err)
			}
			defer core.stop()
			cli, err := client.Dial(core.addr, bc.cli...)
			if err != nil {
				b.Fatal(err)
			}
			defer cli.Close()
			ctx := client.WithClientLabel(context.Background(), "main", "")
			b.ReportAllocs()
			for b.Loop() {
				var out string
				if err := cli.Invoke(ctx, "process_data", json.RawMessage(args), &out); err != nil {
					b.Fatal(err)
				}
				if out != want {
					b.Fatalf("process_data returned %d bytes", len(out))
				}
			}
		})
	}
}
