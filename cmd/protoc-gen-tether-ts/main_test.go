package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"

	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
)

var plugin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "protoc-gen-tether-ts")
	if err != nil {
		panic(err)
	}
	plugin = filepath.Join(dir, "protoc-gen-tether-ts")
	if out, err := exec.Command("go", "build", "-o", plugin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// request asks for demo.proto, with every file it imports, as protoc and
// buf send it.
func request(param string) *pluginpb.CodeGeneratorRequest {
	var files []*descriptorpb.FileDescriptorProto
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := 0; i < fd.Imports().Len(); i++ {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		files = append(files, protodesc.ToFileDescriptorProto(fd))
	}
	add(demov1.File_demo_v1_demo_proto)
	return &pluginpb.CodeGeneratorRequest{
		FileToGenerate: []string{"demo/v1/demo.proto"},
		Parameter:      proto.String(param),
		ProtoFile:      files,
	}
}

func exchange(t *testing.T, param string) (out []byte, stderr string, err error) {
	t.Helper()
	in, err := proto.Marshal(request(param))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(plugin)
	cmd.Stdin = bytes.NewReader(in)
	var e bytes.Buffer
	cmd.Stderr = &e
	out, err = cmd.Output()
	return out, e.String(), err
}

func runPlugin(t *testing.T, param string) *pluginpb.CodeGeneratorResponse {
	t.Helper()
	out, stderr, err := exchange(t, param)
	if err != nil {
		t.Fatalf("plugin (%q): %v\n%s", param, err, stderr)
	}
	var res pluginpb.CodeGeneratorResponse
	if err := proto.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

func TestPluginWritesOneFilePerProto(t *testing.T) {
	for _, tc := range []struct{ param, wantImport string }{
		{"", `from "/ipc/client.js";`},
		{"transport=tether,client_module=./vendor/tether.js", `from "./vendor/tether.js";`},
		{"transport=tauri", `from "@tauri-apps/api/core";`},
	} {
		res := runPlugin(t, tc.param)
		if res.GetError() != "" {
			t.Fatalf("%q: %s", tc.param, res.GetError())
		}
		if len(res.GetFile()) != 1 || res.GetFile()[0].GetName() != "demo/v1/demo_tether.ts" {
			t.Fatalf("%q: files %v", tc.param, res.GetFile())
		}
		src := res.GetFile()[0].GetContent()
		for _, want := range []string{tc.wantImport, "// source: demo/v1/demo.proto", "export async function greet(", "export async function emitFrontendEvent("} {
			if !strings.Contains(src, want) {
				t.Errorf("%q: output lacks %q", tc.param, want)
			}
		}
	}
}

func TestPluginRefusesBadOptions(t *testing.T) {
	for param, want := range map[string]string{
		"transport=deno":  `unknown transport "deno"`,
		"flavour=vanilla": `unknown option "flavour"`,
		"client_module=":  "client_module is empty",
	} {
		// protogen fails the run (exit 1, the reason on stderr), and protoc
		// or buf report it.
		if _, stderr, err := exchange(t, param); err == nil || !strings.Contains(stderr, want) {
			t.Errorf("%q: err %v, stderr %q, want %q", param, err, stderr, want)
		}
	}
}
