package bench

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tether-ipc/tether/internal/stress"
)

// Every Tether side of the comparisons is the app as shipped: it answers
// the comparisons' call with its secret and refuses it without; the
// isolation kind runs the example whitelist hook (a command off the list
// is refused, where brownfield runs it); and tracing exports the calls'
// spans to the bench's OTLP sink.
func TestTetherPeers(t *testing.T) {
	for _, kind := range []string{kindTether, kindTetherUDS, kindIsolation, kindBulk} {
		t.Run(kind, func(t *testing.T) {
			before := stress.SpansExported()
			p, err := startPeer(kind, false)
			if err != nil {
				t.Fatal(err)
			}
			stopped := false
			defer func() {
				if !stopped {
					p.stop()
				}
			}()
			hc := rawClient(1)
			defer hc.CloseIdleConnections()
			if err := poster(hc, p.Token, p.HTTP+"/ipc/invoke/greet", greetJSON, greetReply)(); err != nil {
				t.Fatal(err)
			}
			if err := poster(hc, "", p.HTTP+"/ipc/invoke/greet", greetJSON, greetReply)(); err == nil {
				t.Fatal("a call without the app's secret was answered")
			}
			req, err := http.NewRequest(http.MethodPost, p.HTTP+"/ipc/invoke/read_file", bytes.NewReader([]byte(`{"path":"none.txt"}`)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+p.Token)
			res, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if hooked := strings.Contains(string(body), "not on the whitelist"); hooked != (kind == kindIsolation) {
				t.Fatalf("read_file: %s %s (the whitelist hook should refuse it only in isolation)", res.Status, body)
			}
			p.stop() // the app flushes its spans as it stops
			stopped = true
			if stress.SpansExported() == before {
				t.Fatal("no span reached the OTLP sink")
			}
		})
	}
}
