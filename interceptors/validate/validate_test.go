package validate_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	"github.com/tether-ipc/tether/examples/demo"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/interceptors/validate"
	"github.com/tether-ipc/tether/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The demo's rules (name 1..256 chars, count 1..1e6) hold on the typed
// path, by name with JSON and proto args, and on channels, before the
// handler runs; the details list the violations.
func TestRulesHoldOnEveryPath(t *testing.T) {
	srv := server.New(server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	demo.New(t.TempDir()).Register(srv)
	conn, err := srv.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	defer conn.Close()
	ctx := context.Background()
	c := client.New(conn)

	_, typedErr := demov1.NewDemoClient(conn).Greet(ctx, &demov1.GreetRequest{})
	stream, _ := demov1.NewDemoClient(conn).Count(ctx, &demov1.CountRequest{To: 0})
	_, streamErr := stream.Recv()
	errs := map[string]error{
		"typed":        typedErr,
		"json":         c.Invoke(ctx, "greet", map[string]string{}, nil),
		"proto":        c.Invoke(ctx, "greet", &demov1.GreetRequest{}, nil),
		"in-process":   srv.Invoke(ctx, "greet", json.RawMessage(`{"name":""}`), nil),
		"typed stream": streamErr,
	}
	for path, err := range errs {
		te := tether.FromError(err)
		if te.Code() != tether.CodeInvalidArgument {
			t.Errorf("%s: %v, want invalid_argument", path, err)
			continue
		}
		var vs []validate.Violation
		if err := json.Unmarshal(te.Details(), &vs); err != nil || len(vs) != 1 || (vs[0].Field != "name" && vs[0].Field != "to") || vs[0].Rule == "" {
			t.Errorf("%s: details %s", path, te.Details())
		}
	}
	var ok string
	if err := c.Invoke(ctx, "greet", map[string]string{"name": "V"}, &ok); err != nil || ok != "Hello, V!" {
		t.Fatalf("valid call: %q %v", ok, err)
	}
}

func TestCheckPassesNonViolations(t *testing.T) {
	v, err := validate.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Check(&demov1.GreetRequest{Name: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := v.Check(&demov1.ProcessDataRequest{}); err != nil { // no rules
		t.Fatal(err)
	}
}
