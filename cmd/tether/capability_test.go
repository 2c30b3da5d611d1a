package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `tether serve --capabilities examples/capabilities`: deny-by-default on
// the gateway and on gRPC, read_file's path scope (with its deny scope),
// event permissions, and labels the capabilities do not name.
func TestServeCapabilities(t *testing.T) {
	caps, err := filepath.Abs("../../examples/capabilities")
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "hello.txt"), []byte("hello"), 0o600)
	os.WriteFile(filepath.Join(data, "secret"), []byte("s3cret"), 0o600)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "x.txt"), []byte("outside"), 0o600)
	os.Symlink(filepath.Join(outside, "x.txt"), filepath.Join(data, "link.txt"))

	grpcAddr, url := serveHTTP(t, "--grpc", "127.0.0.1:0", "--capabilities", caps, "--data", data,
		"--allow-origin", "http://localhost:5173=settings")
	for _, tc := range []struct {
		path, body string
		hdr        []string
		code       int
		want       string
	}{
		{"/ipc/invoke/greet", `{"name":"C"}`, nil, 200, `"Hello, C!"`},
		{"/ipc/invoke/read_file", `{"path":"hello.txt"}`, nil, 200, `"hello"`},
		{"/ipc/invoke/read_file", `{"path":"secret"}`, nil, 403, "permission_denied"},
		{"/ipc/invoke/read_file", `{"path":"../x.txt"}`, nil, 403, "permission_denied"},
		{"/ipc/invoke/read_file", `{"path":"link.txt"}`, nil, 403, "permission_denied"},
		{"/ipc/emit/frontend-event", `{"message":"ok"}`, nil, 200, `"id"`},
		{"/ipc/emit/other-event", `{}`, nil, 403, "permission_denied"},
		// A label no capability names gets nothing.
		{"/ipc/invoke/greet", `{"name":"C"}`, []string{"Origin", "http://localhost:5173"}, 403, `not allowed for client \"settings\"`},
	} {
		code, body := postWith(t, url+tc.path, tc.body, tc.hdr...)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s %v: %d %s; want %d containing %s", tc.path, tc.body, tc.hdr, code, body, tc.code, tc.want)
		}
	}
	// A gRPC caller over TCP has no trusted label: denied by default.
	_, errOut, exit := runCLI(t, "invoke", "--addr", grpcAddr, "greet", `{"name":"direct"}`)
	if exit != 1 || !strings.Contains(errOut, "permission_denied") {
		t.Fatalf("direct gRPC greet: exit %d %q", exit, errOut)
	}
}

// Run from the repository's root as examples/capabilities/README.md says,
// with relative folders: read_file answers the demo's file.
func TestServeCapabilitiesFromRelativeFolders(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	_, url, _ := serveIn(t, root, "--grpc", "127.0.0.1:0", "--capabilities", "examples/capabilities", "--data", "examples/demo/data")
	want, err := os.ReadFile(filepath.Join(root, "examples", "demo", "data", "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	code, body := httpPost(t, url+"/ipc/invoke/read_file", `{"path":"hello.txt"}`)
	if code != 200 || !strings.Contains(body, strings.TrimSpace(string(want))) {
		t.Fatalf("read_file: %d %s", code, body)
	}
}
