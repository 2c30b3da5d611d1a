package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeHTTP calls the gateway of a running `tether serve` as curl would.
func TestServeHTTP(t *testing.T) {
	_, url := serveHTTP(t, "--grpc", "127.0.0.1:0", "--allow-origin", "http://localhost:5173=main,settings")
	post := func(path, body string, hdr ...string) (int, string) { return postWith(t, url+path, body, hdr...) }
	if code, body := post("/ipc/invoke/greet", `{"name":"World"}`); code != 200 || body != `"Hello, World!"` {
		t.Fatalf("greet: %d %s", code, body)
	}
	if code, body := post("/v1/demo/process_data", `{"input":"test"}`); code != 200 || body != `"Processed: test"` {
		t.Fatalf("typed process_data: %d %s", code, body)
	}
	if code, _ := post("/ipc/invoke/greet", `{"name":"S"}`, "Origin", "http://localhost:5173", "Tether-Client-Label", "settings"); code != 200 {
		t.Fatalf("allowed origin: %d", code)
	}
	if code, body := post("/ipc/invoke/greet", `{}`, "Origin", "http://evil.example"); code != 403 || !strings.Contains(body, `"permission_denied"`) {
		t.Fatalf("foreign origin: %d %s", code, body)
	}
	res, err := http.Get(url + "/healthz") // needs no secret
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz %d", res.StatusCode)
	}
}

// /metrics on a running `tether serve` moves with the calls it serves.
func TestServeMetricsMove(t *testing.T) {
	_, url := serveHTTP(t, "--grpc", "127.0.0.1:0")
	scrape := func() string {
		res, err := authed(url).Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("/metrics: %d %s", res.StatusCode, b)
		}
		return string(b)
	}
	value := func(text, series string) float64 {
		for _, line := range strings.Split(text, "\n") {
			if rest, ok := strings.CutPrefix(line, series+" "); ok {
				var v float64
				fmt.Sscan(rest, &v)
				return v
			}
		}
		return 0
	}
	okSeries := `tether_invokes_total{code="ok",command="greet"}`
	badSeries := `tether_invokes_total{code="invalid_argument",command="greet"}`
	emitted := `tether_events_emitted_total{event="frontend-event"}`
	before := scrape()
	for i := 0; i < 3; i++ {
		postWith(t, url+"/ipc/invoke/greet", `{"name":"M"}`)
	}
	postWith(t, url+"/ipc/invoke/greet", `{"name":""}`)
	postWith(t, url+"/ipc/emit/frontend-event", `{"message":"m"}`)
	after := scrape()
	if d := value(after, okSeries) - value(before, okSeries); d != 3 {
		t.Errorf("%s moved by %v, want 3", okSeries, d)
	}
	if d := value(after, badSeries) - value(before, badSeries); d != 1 {
		t.Errorf("%s moved by %v, want 1", badSeries, d)
	}
	if d := value(after, emitted) - value(before, emitted); d != 1 {
		t.Errorf("%s moved by %v, want 1", emitted, d)
	}
}
