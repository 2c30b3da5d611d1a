package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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
	res, err := authed(url).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// authed is an HTTP client that sends the secret of the served gateway u
// is under, as curl -H "Authorization: Bearer $(tether token)" does.
func authed(u string) *http.Client {
	return &http.Client{Transport: bearer(secretFor(u))}
}

type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b != "" && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+string(b))
	}
	return http.DefaultTransport.RoundTrip(r)
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

// Split mode: /metrics answers (the core's metrics with the gateway
// process's), and after kill -9 of the core, the gateway process is gone
// within 2 s.
func TestSplitGatewayDiesWithTheCore(t *testing.T) {
	_, url, core := serveIn(t, "", "--data", t.TempDir(), "--grpc", "127.0.0.1:0", "--pattern", "isolation", "--isolation-dir", whitelistDir(t), "--split")
	httpPost(t, url+"/ipc/invoke/read_file", `{"path":"x"}`) // blocked in the gateway process
	res, err := authed(url).Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), "go_goroutines") || !strings.Contains(string(b), `tether_isolation_rejections_total{process="gateway",reason="blocked"} 1`) {
		t.Fatalf("/metrics in split mode: %d\n%s", res.StatusCode, b)
	}
	child := childOf(t, core.Pid)
	if err := core.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for {
		if _, err := os.Stat("/proc/" + strconv.Itoa(child)); err != nil {
			break
		}
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat"); bytes.Contains(st, []byte(") Z ")) {
			break // a zombie: it has exited
		}
		if time.Since(killed) > 2*time.Second {
			t.Fatalf("the gateway process %d still runs 2 s after the core was killed", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the gateway process was gone %v after kill -9 of the core", time.Since(killed).Round(time.Millisecond))
}

// childOf returns the pid of the one child process of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.Atoi(f[0])
			return n
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(e.Name())
			return n
		}
	}
	t.Fatal("no child process")
	return 0
}
