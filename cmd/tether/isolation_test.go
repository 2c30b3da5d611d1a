package main

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func whitelistDir(t *testing.T) string {
	d, err := filepath.Abs("../../examples/isolation/whitelist")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func httpPost(t *testing.T, url, body string) (int, string) {
	t.Helper()
	return postWith(t, url, body)
}

// postWith POSTs JSON with extra header name/value pairs.
func postWith(t *testing.T, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
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

// `tether serve` in isolation mode, with the gateway in-process and split
// into a child process: the whitelist hook lets greet through (sealed) and
// blocks read_file at once with permission_denied; a process dialing the
// core's gRPC port directly is refused.
func TestServeIsolation(t *testing.T) {
	for _, split := range []bool{false, true} {
		t.Run("split="+strconv.FormatBool(split), func(t *testing.T) {
			args := []string{"--grpc", "127.0.0.1:0", "--pattern", "isolation", "--isolation-dir", whitelistDir(t)}
			if split {
				args = append(args, "--split")
			}
			grpcAddr, url := serveHTTP(t, args...)
			if code, body := httpPost(t, url+"/ipc/invoke/greet", `{"name":"Iso"}`); code != 200 || body != `"Hello, Iso!"` {
				t.Fatalf("greet through the stage: %d %s", code, body)
			}
			code, body := httpPost(t, url+"/ipc/invoke/read_file", `{"path":"x"}`)
			if code != 403 || !strings.Contains(body, `"permission_denied"`) || !strings.Contains(body, "whitelist") {
				t.Fatalf("read_file: %d %s", code, body)
			}
			if code, body := httpPost(t, url+"/ipc/emit/frontend-event", `{"message":"sealed"}`); code != 200 {
				t.Fatalf("emit through the stage: %d %s", code, body)
			}
			_, errOut, exit := runCLI(t, "invoke", "--addr", grpcAddr, "greet", `{"name":"direct"}`)
			if exit != 1 || !strings.Contains(errOut, "permission_denied") {
				t.Fatalf("direct gRPC call: exit %d %q", exit, errOut)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the writers of two processes' logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
