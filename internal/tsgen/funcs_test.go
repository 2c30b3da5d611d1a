package tsgen_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/tsgen"
	"github.com/tether-ipc/tether/server"
)

type point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

type addArgs struct {
	FirstNumber  int                  `json:"first_number"`
	SecondNumber int                  `json:"second_number,omitempty"`
	Label        *string              `json:"label"`
	Tags         []string             `json:"tags"`
	Where        point                `json:"where"`
	Blob         []byte               `json:"blob,omitempty"`
	Meta         map[string]float64   `json:"meta,omitempty"`
	When         time.Time            `json:"when"`
	Greeting     *demov1.GreetRequest `json:"greeting,omitempty"`
	Anything     any                  `json:"anything"`
	Skipped      string               `json:"-"`
	hidden       int
}

type addResult struct {
	Sum  int     `json:"sum"`
	Echo addArgs `json:"echo"`
	Note string  `json:"note,omitempty"`
	Seen []point `json:"seen"`
}

type tick struct {
	I int `json:"i"`
}

// goCommands registers Go function commands on a real server and returns
// what its registry lists (ListCommands, as GET /ipc/commands and `tether
// gen ts --addr` read it).
func goCommands(t *testing.T) []tsgen.CommandInfo {
	t.Helper()
	srv := server.New()
	server.Handle(srv, "add_numbers", func(_ context.Context, a addArgs) (addResult, error) {
		return addResult{Sum: a.FirstNumber + a.SecondNumber + a.hidden, Echo: a}, nil
	})
	server.Handle(srv, "echo_bytes", func(_ context.Context, b []byte) ([]byte, error) { return b, nil })
	server.Handle(srv, "names", func(context.Context, struct{}) ([]string, error) { return nil, nil })
	server.Handle(srv, "greet_proto", func(_ context.Context, r *demov1.GreetRequest) (*wrapperspb.StringValue, error) {
		return wrapperspb.String(r.GetName()), nil
	})
	server.HandleChannel(srv, "ticks", func(_ context.Context, a struct {
		N int `json:"n"`
	}, send func(tick) error) error {
		for i := 0; i < a.N; i++ {
			if err := send(tick{I: i}); err != nil {
				return err
			}
		}
		return nil
	})
	conn, err := srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	defer conn.Close()
	res, err := tetherv1.NewIPCClient(conn).ListCommands(context.Background(), &tetherv1.ListCommandsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return tsgen.CommandInfos(res)
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A Go function command's binding types its arguments and result as
// encoding/json writes the Go structs: JSON that the structs produce (set
// and zero values, with Go's nulls) typechecks, and shapes they cannot
// produce do not.
func TestGoCommandsTypecheckAgainstTheirStructs(t *testing.T) {
	f, err := tsgen.FromCommands(goCommands(t))
	if err != nil {
		t.Fatal(err)
	}
	label := "l"
	full := addArgs{FirstNumber: 1, SecondNumber: 2, Label: &label, Tags: []string{"a"}, Where: point{1, 2},
		Blob: []byte{0, 1}, Meta: map[string]float64{"m": 1}, When: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Greeting: &demov1.GreetRequest{Name: "g"}, Anything: []any{1, "x"}}
	files := map[string]string{}
	for _, tr := range []tsgen.Transport{tsgen.Tether, tsgen.Tauri} {
		dir := string(tr) + "/"
		src := write(t, f, tr)
		files[dir+"funcs_tether.ts"] = src
		imp := `import { addNumbers, echoBytes, names, greetProto, ticks, type AddNumbersArgs, type AddNumbersResult, type GreetRequest } from "./funcs_tether";` + "\n"
		files[dir+"ok.ts"] = imp + `
export const args: AddNumbersArgs = ` + mustMarshal(t, full) + `;
export const zeroArgs: AddNumbersArgs = ` + mustMarshal(t, addArgs{}) + `;
export const res: AddNumbersResult = ` + mustMarshal(t, addResult{Sum: 3, Echo: full, Note: "n", Seen: []point{{}}}) + `;
export const zeroRes: AddNumbersResult = ` + mustMarshal(t, addResult{}) + `;
export const greeting: GreetRequest = ` + mustMarshal(t, map[string]string{"name": "x"}) + `;
export async function use(): Promise<void> {
  const r: AddNumbersResult = await addNumbers(args);
  const sum: number = r.sum;
  const b: ArrayBuffer = await echoBytes(new Uint8Array([1, 2]));
  const b2: ArrayBuffer = await echoBytes(b);
  const ns: string[] | null = await names();
  const s: string = await greetProto(greeting);
  await ticks({ n: 3 }, (m) => { const i: number = m.i; console.log(i); });
  console.log(sum, b2, ns, s);
}
`
		bad := func(name, line string) {
			files[dir+name+".ts"] = imp + "export const u: unknown = [addNumbers, echoBytes, names, greetProto, ticks, 0 as unknown as AddNumbersArgs, 0 as unknown as AddNumbersResult, 0 as unknown as GreetRequest];\n" + line + " // error\n"
		}
		bad("misspelled", `addNumbers({ first_nmber: 1, label: null, tags: null, where: { x: 0, y: 0 }, when: "", anything: null });`)
		bad("missing_required", `addNumbers({ label: null, tags: null, where: { x: 0, y: 0 }, when: "", anything: null });`)
		bad("wrong_type", `export const s: string = (0 as unknown as AddNumbersResult).sum;`)
		bad("bytes_as_string", `echoBytes("abc");`)
		bad("not_null", `export const w: AddNumbersResult["echo"]["where"] = null;`)
		bad("channel_message", `ticks({ n: 1 }, (m: { i: string }) => console.log(m));`)
	}
	errs := typecheck(t, files)
	codes := map[string]string{}
	for _, dir := range []string{"tether/", "tauri/"} {
		for name, code := range map[string]string{
			"misspelled": "TS2353|TS2561", "missing_required": "TS2345|TS2741", "wrong_type": "TS2322",
			"bytes_as_string": "TS2345", "not_null": "TS2322", "channel_message": "TS2345",
		} {
			codes[dir+name+".ts"] = code
		}
	}
	wantErrors(t, files, errs, codes)
	if t.Failed() {
		t.Logf("generated:\n%s", numbered(files["tether/funcs_tether.ts"]))
	}
}

func TestFromCommandsNames(t *testing.T) {
	f, err := tsgen.FromCommands(goCommands(t))
	if err != nil {
		t.Fatal(err)
	}
	src := write(t, f, tsgen.Tether)
	for _, s := range []string{
		"export type AddNumbersArgs = {",
		"export type AddNumbersResult = {",
		"export type TicksMessage = {",
		"export type GreetRequest = {", // a proto message keeps its name
		"export async function echoBytes(args: Uint8Array | ArrayBuffer, options?: InvokeOptions): Promise<ArrayBuffer>",
		"export async function names(args?: Record<string, never>, options?: InvokeOptions): Promise<string[] | null>",
		"  label?: string | null;",
		"  tags: string[] | null;",
		"  second_number?: number;",
		`Checked by the server: minLength 1, maxLength 256.`,
	} {
		if !strings.Contains(src, s) {
			t.Errorf("generated file lacks %q\n%s", s, src)
		}
	}
	if _, err := tsgen.FromCommands([]tsgen.CommandInfo{{Name: "x", Kind: "stream"}}); err == nil {
		t.Error("unknown kind: no error")
	}
	if _, err := tsgen.FromCommands([]tsgen.CommandInfo{{Name: "x", Args: json.RawMessage(`[1]`)}}); err == nil {
		t.Error("a schema that is an array: no error")
	}
}
