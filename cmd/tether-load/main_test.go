package main

import (
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-ipc/tether/config"
)

func TestMain(m *testing.M) {
	if os.Getenv(coreEnv) != "" { // the SSE scenario's core process
		coreMain()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// A small SSE scenario: every listener gets every event, in order.
func TestSSESmall(t *testing.T) {
	r, err := runSSE(sseParams{listeners: 200, events: 5, interval: 10 * time.Millisecond, sources: 2, timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !r.pass() || r.deliveries != 1000 || len(r.lat) != 1000 {
		t.Fatalf("run failed its checks: %+v", r)
	}
}

// A small run of each mode, over TCP and a Unix socket, passes its own checks.
func TestLoadSmall(t *testing.T) {
	for _, c := range []struct{ mode, network string }{
		{config.Brownfield, "tcp"}, {config.IsolationPattern, "tcp"}, {config.Brownfield, "unix"},
	} {
		t.Run(c.mode+"/"+c.network, func(t *testing.T) {
			r, err := run(c.mode, params{clients: 8, invokes: 400, listeners: 5, events: 100, eventRate: 2000, network: c.network, timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if !r.pass() || r.total != 400 || len(r.lat) != 400 || r.recvMin != 100 || r.emitted != 100 {
				t.Fatalf("run failed its checks: %+v", r)
			}
		})
	}
}
