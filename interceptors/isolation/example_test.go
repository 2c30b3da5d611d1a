package isolation_test

import (
	"context"
	"fmt"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/isolation"
	"github.com/tether-ipc/tether/server"
)

// The isolation stage runs its hooks and seals; the core opens, verifies and
// refuses a replay. The stage learns how commands bind their arguments from
// the core (here in-process, through Commands; a stage installed on a
// connection asks the core's ListCommands over it).
func Example() {
	srv := server.New()
	server.Handle(srv, "read_file", func(_ context.Context, a struct {
		Path string `json:"path"`
	}) (string, error) {
		return a.Path, nil
	})
	key, _ := isolation.NewKey() // fresh at every launch
	policy, _ := isolation.LoadPolicy([]byte(`{"commands": ["read_file"], "blockedPaths": ["/etc", ".."]}`))
	hook, _ := policy.Hook()
	stage, _ := isolation.NewStageWith(key, isolation.StageOptions{
		Hooks:    []isolation.Hook{hook},
		Commands: func(context.Context) ([]*tetherv1.CommandInfo, error) { return srv.Commands(), nil },
	})
	opener, _ := isolation.NewOpener(key)
	client := isolation.Client{Label: "main", Origin: "http://localhost:5173"}
	ctx := context.Background()

	bad := &tetherv1.InvokeRequest{Command: "read_file", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(`{"path":"/tmp/../etc/passwd"}`)}}}
	fmt.Println(stage.Process(ctx, tether.KindInvoke, bad, client))

	req := &tetherv1.InvokeRequest{Command: "read_file", Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(`{"path":"notes.txt"}`)}}}
	_ = stage.Process(ctx, tether.KindInvoke, req, client)
	fmt.Println("in clear:", req.GetCommand(), req.GetArgs() == nil, len(req.GetSealed().GetNonce()))
	wire := &tetherv1.InvokeRequest{Command: req.GetCommand(), Sealed: req.GetSealed()}

	fmt.Println("open:", opener.Open(tether.KindInvoke, "main", req), string(req.GetArgs().GetJson()))
	err := opener.Open(tether.KindInvoke, "main", wire)
	fmt.Println("again:", isolation.ReasonOf(err), tether.CodeOf(err))
	// Output:
	// permission_denied: isolation blocked: argument path: path /etc/passwd is under blocked /etc
	// in clear: read_file true 12
	// open: <nil> {"path":"notes.txt"}
	// again: replay unauthenticated
}
