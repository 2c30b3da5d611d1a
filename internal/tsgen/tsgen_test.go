package tsgen_test

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	// Files the kitchen fixture imports, registered in GlobalFiles.
	_ "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	_ "google.golang.org/protobuf/types/known/anypb"
	_ "google.golang.org/protobuf/types/known/durationpb"
	_ "google.golang.org/protobuf/types/known/emptypb"
	_ "google.golang.org/protobuf/types/known/structpb"
	_ "google.golang.org/protobuf/types/known/timestamppb"
	_ "google.golang.org/protobuf/types/known/wrapperspb"

	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	_ "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/tsgen"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if clientTypesDir != "" {
		os.RemoveAll(clientTypesDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

func kitchen(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	b, err := os.ReadFile("testdata/kitchen.textproto")
	if err != nil {
		t.Fatal(err)
	}
	var fdp descriptorpb.FileDescriptorProto
	if err := prototext.Unmarshal(b, &fdp); err != nil {
		t.Fatal(err)
	}
	fd, err := protodesc.NewFile(&fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func write(t *testing.T, f *tsgen.File, transport tsgen.Transport) string {
	t.Helper()
	src, err := tsgen.Write(f, tsgen.Options{Transport: transport, Generator: "tsgen_test", Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

func TestFromProtoCommandsAndEvents(t *testing.T) {
	f := tsgen.FromProto(kitchen(t))
	var got []string
	for _, c := range f.Commands {
		kind := "unary"
		if c.Channel {
			kind = "channel"
		}
		got = append(got, c.Name+" "+kind)
	}
	// Upload is client-streaming: gRPC only.
	want := []string{"cook unary", "nothing unary", "plugin:kitchen|renamed unary", "stream channel", "delete unary"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("commands %q, want %q", got, want)
	}
	if len(f.Events) != 1 || f.Events[0].Name != "kitchen/ping" {
		t.Errorf("events %+v", f.Events)
	}
	src := write(t, f, tsgen.Tether)
	for _, s := range []string{
		"export async function cook(args: Kitchen, options?: InvokeOptions): Promise<Kitchen>",
		"export async function nothing(args?: Record<string, never>, options?: InvokeOptions): Promise<void>",
		"export async function pluginKitchenRenamed(args: Error$, options?: InvokeOptions): Promise<string>",
		"export async function delete_(args: Error$, options?: InvokeOptions): Promise<boolean>",
		// Ping has a field onMessage: the channel goes under another key.
		`await _invoke<null>("stream", { ...args, onMessage_: channel }, options);`,
		"export async function listenKitchenPing(handler: EventCallback<Ping>, options?: ListenOptions): Promise<UnlistenFn>",
		"export async function emitKitchenPing(payload: Ping): Promise<void>",
		`"custom-json": string;`,
		"export type Color = \"COLOR_UNSPECIFIED\" | \"COLOR_RED\" | \"COLOR_GREEN\";",
		"export type Kitchen_Inner = {",
		"Checked by the server: maxItems 3.",
		`Checked by the server: exclusiveMinimum 0, maximum 1.`,
		`Checked by the server: maxLength 254, format "email".`,
		`Checked by the server: enum ["COLOR_RED"].`,
	} {
		if !strings.Contains(src, s) {
			t.Errorf("generated file lacks %q", s)
		}
	}
	if strings.Contains(src, "upload") {
		t.Error("the client-streaming method got a function")
	}
}

// The kitchen fixture's types describe protojson's output exactly: values
// the server writes (protojson with EmitDefaultValues) typecheck as the
// generated types, over both transports, and values it would not write
// fail.
func TestProtoTypesMatchProtojson(t *testing.T) {
	fd := kitchen(t)
	md := fd.Messages().ByName("Kitchen")
	encode := func(in string) string {
		t.Helper()
		m := dynamicpb.NewMessage(md)
		if err := (protojson.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal([]byte(in), m); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		out, err := protojson.MarshalOptions{EmitDefaultValues: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	full := encode(`{
		"id": "-9007199254740993", "bigCount": 18446744073709551615, "blob": "AAEC", "color": "COLOR_RED",
		"nick": "n", "at": "2026-01-02T03:04:05Z", "took": "1.5s", "meta": {"a": [1, "x", null, {"b": true}]},
		"anyValue": {"k": 1}, "nothing": {}, "maybe": "m", "text": "t", "tags": ["a", "b"],
		"scores": {"x": "7"}, "child": {"id": "1", "requiredInner": {"x": 1}}, "inner": {"x": 0.5},
		"ratio": 0.5, "flag": true, "custom-json": "c", "requiredInner": {"x": 2}, "email": "a@b.c", "shade": "COLOR_RED",
		"list": [1, "two"], "when": ["2026-01-02T03:04:05Z"],
		"anything": {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "2s"}
	}`)
	minimal := encode(`{"requiredInner": {}}`)
	files := map[string]string{}
	for _, tr := range []tsgen.Transport{tsgen.Tether, tsgen.Tauri} {
		dir := string(tr) + "/"
		files[dir+"kitchen_tether.ts"] = write(t, tsgen.FromProto(fd), tr)
		imp := `import { type Kitchen, type Ping, cook, nothing, stream, listenKitchenPing, emitKitchenPing, pluginKitchenRenamed, CommandError, type Code } from "./kitchen_tether";` + "\n"
		files[dir+"ok.ts"] = imp + `
export const full: Kitchen = ` + full + `;
export const minimal: Kitchen = ` + minimal + `;
export async function use(): Promise<void> {
  const k: Kitchen = await cook(full);
  const id: string = k.id;
  const when: string | undefined = k.at;
  await nothing();
  const n: string = await pluginKitchenRenamed({ why: "x" });
  await stream({ onMessage: "m" }, (m: Kitchen) => { console.log(m.color, id, when, n); });
  const un = await listenKitchenPing((e) => { const p: Ping = e.payload; console.log(p.at); });
  un();
  await emitKitchenPing({ onMessage: "hi" });
  try { await cook(minimal); } catch (err) {
    if (err instanceof CommandError) { const c: Code = err.code; const d: unknown = err.details; console.log(c, d, err.command); }
  }
}
`
		bad := func(name, line string) {
			files[dir+name+".ts"] = imp + "import { minimal } from \"./ok\";\nexport const m: Kitchen = minimal;\nexport const x: unknown = [cook, nothing, stream, listenKitchenPing, emitKitchenPing, pluginKitchenRenamed, CommandError, 0 as unknown as Code, 0 as unknown as Kitchen, 0 as unknown as Ping];\n" + line + " // error\n"
		}
		bad("int64_number", `export const a: Kitchen = { ...minimal, id: 5 };`)
		bad("enum_unknown", `export const a: Kitchen = { ...minimal, color: "COLOR_BLUE" };`)
		bad("required_missing", `export const { requiredInner: _r, ...a } = minimal; export const b: Kitchen = a;`)
		bad("oneof_number", `export const a: Kitchen = { ...minimal, number: "1" };`)
		bad("code_unknown", `export function f(e: CommandError): boolean { return e.code === "no_such_code"; }`)
		bad("event_payload", `emitKitchenPing({ msg: "x" });`)
	}
	errs := typecheck(t, files)
	badCodes := map[string]string{}
	for _, tr := range []string{"tether/", "tauri/"} {
		for name, code := range map[string]string{
			"int64_number": "TS2322", "enum_unknown": "TS2322", "required_missing": "TS2741",
			"oneof_number": "TS2322", "code_unknown": "TS2367", "event_payload": "TS2353",
		} {
			badCodes[tr+name+".ts"] = code
		}
	}
	wantErrors(t, files, errs, badCodes)
}

// The demo's own file (what make generate writes) is what FromProto and
// Write make from the compiled-in descriptor, comments aside: gen/ts is
// current with the generator.
func TestDemoFileShape(t *testing.T) {
	src := write(t, tsgen.FromProto(demov1.File_demo_v1_demo_proto), tsgen.Tether)
	for _, fn := range []string{"greet", "processData", "readFile", "fail", "count", "listenFrontendEvent", "onceFrontendEvent", "emitFrontendEvent"} {
		if !strings.Contains(src, "export async function "+fn+"(") {
			t.Errorf("no function %s", fn)
		}
	}
}

func TestFuncName(t *testing.T) {
	for in, want := range map[string]string{
		"greet": "greet", "process_data": "processData", "read_file": "readFile", "plugin:store|get": "pluginStoreGet",
		"getHTTPStatus": "getHTTPStatus", "Delete": "delete_", "new": "new_", "2fa_check": "_2faCheck",
		"a-b/c": "aBC", "": "_", "é_x": "x",
	} {
		if got := tsgen.FuncName(in); got != want {
			t.Errorf("FuncName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := tsgen.PascalName("frontend-event"); got != "FrontendEvent" {
		t.Errorf("PascalName = %q", got)
	}
}

func TestWriteRefusesClashes(t *testing.T) {
	obj := tsgen.Type{Kind: tsgen.Object}
	for _, tc := range []struct {
		name string
		f    *tsgen.File
	}{
		{"two commands", &tsgen.File{Commands: []*tsgen.Command{{Name: "a_b", Args: obj}, {Name: "a-b", Args: obj}}}},
		{"command and event helper", &tsgen.File{
			Commands: []*tsgen.Command{{Name: "emit_x", Args: obj}},
			Events:   []*tsgen.Event{{Name: "x", Payload: obj}},
		}},
	} {
		if _, err := tsgen.Write(tc.f, tsgen.Options{}); err == nil || !strings.Contains(err.Error(), "would both be") {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	if _, err := tsgen.Write(&tsgen.File{}, tsgen.Options{Transport: "deno"}); err == nil {
		t.Error("unknown transport: no error")
	}
}
