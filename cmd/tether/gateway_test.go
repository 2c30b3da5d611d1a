package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeHTTP calls the gateway of a running `tether serve` as curl would.
func TestServeHTTP(t *testing.T) {
	_, url := serveHTTP(t, "--grpc", "127.0.0.1:0", "--allow-origin", "http://localhost:5173=main,settings")
	post := func(path, body string, hdr ...string) (int, string) {
		req, _ := http.NewRequest("POST", url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
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
	res, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz %d", res.StatusCode)
	}
}
