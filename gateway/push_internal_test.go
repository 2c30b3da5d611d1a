package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tether-ipc/tether/server"
)

// A listener whose client stops reading is dropped once a write has waited
// sseWriteTimeout, and its subscription goes; the emitter is never held
// up. Both ways the gateway serves listen: pushed (a core in the process)
// and relayed (a core over a socket).
func TestListenerThatStopsReadingIsDropped(t *testing.T) {
	defer func(d time.Duration) { sseWriteTimeout = d }(sseWriteTimeout)
	sseWriteTimeout = 200 * time.Millisecond
	for _, pushed := range []bool{true, false} {
		t.Run(fmt.Sprintf("pushed=%v", pushed), func(t *testing.T) {
			var active atomic.Int64
			count := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				active.Add(1)
				defer active.Add(-1)
				return h(srv, ss)
			}
			quiet := slog.New(slog.DiscardHandler)
			srv := server.New(server.WithLogger(quiet), server.WithStreamInterceptors(count))
			defer srv.Stop()
			var conn *grpc.ClientConn
			var err error
			if pushed {
				conn, err = srv.DialInProcess()
			} else {
				sock := filepath.Join(t.TempDir(), "core.sock")
				lis, lerr := server.Listen("unix://" + sock)
				if lerr != nil {
					t.Fatal(lerr)
				}
				go srv.Serve(lis) //nolint:errcheck
				conn, err = grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			gw, err := New(conn, WithLogger(quiet))
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewUnstartedServer(gw)
			hs.Config = gw.Server("")
			hs.Start()
			defer hs.Close()
			defer gw.Close()

			c, err := net.Dial("tcp", hs.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// A small receive buffer, so that the socket fills quickly.
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetReadBuffer(4096) //nolint:errcheck
			}
			fmt.Fprintf(c, "GET /ipc/listen?event=big HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", hs.Listener.Addr())
			status, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.Contains(status, "200") {
				t.Fatalf("listen: %q %v", status, err)
			}
			// The client reads nothing more; events of 64 KiB fill the socket.
			payload := json.RawMessage(`"` + strings.Repeat("x", 64<<10) + `"`)
			deadline := time.Now().Add(20 * time.Second)
			for active.Load() != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the listener that stopped reading was not dropped")
				}
				start := time.Now()
				if _, err := srv.Emit(context.Background(), "big", payload); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d > time.Second {
					t.Fatalf("Emit waited %v for a stalled listener", d)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}
