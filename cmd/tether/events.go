package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// emitCmd: tether emit [--addr ADDR] [--target LABEL] EVENT [JSON]
func emitCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("emit", stderr)
	core := addCoreFlags(fs)
	target := fs.String("target", "", "deliver only to this client label")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		fmt.Fprintln(stderr, "usage: tether emit [--addr ADDR] [--target LABEL] EVENT [JSON-PAYLOAD]")
		return errUsage
	}
	payload := json.RawMessage("null")
	if fs.NArg() == 2 {
		payload = json.RawMessage(fs.Arg(1))
		if !json.Valid(payload) {
			return tether.NewError(tether.CodeInvalidArgument, "payload is not valid JSON")
		}
	}
	c, err := core.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.IPC().Emit(ctx, &tetherv1.EmitRequest{Event: fs.Arg(0), Target: *target,
		Payload: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: payload}}})
	if err != nil {
		return tether.FromError(err)
	}
	fmt.Fprintf(stdout, "%d\n", res.GetId())
	return nil
}

// listenCmd: tether listen [--addr ADDR] EVENT... — one JSON line per event.
func listenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("listen", stderr)
	core := addCoreFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		fmt.Fprintln(stderr, "usage: tether listen [--addr ADDR] EVENT...")
		return errUsage
	}
	c, err := core.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	stream, err := c.IPC().Listen(ctx, &tetherv1.ListenRequest{Events: fs.Args()})
	if err != nil {
		return tether.FromError(err)
	}
	enc := json.NewEncoder(stdout)
	for {
		msg, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return tether.FromError(err)
		}
		switch m := msg.GetKind().(type) {
		case *tetherv1.ListenResponse_Event:
			var payload json.RawMessage
			if j, ok := m.Event.GetPayload().GetBody().(*tetherv1.Payload_Json); ok {
				payload = j.Json
			}
			enc.Encode(map[string]any{"id": m.Event.GetId(), "event": m.Event.GetName(), "payload": payload}) //nolint:errcheck
		case *tetherv1.ListenResponse_Lagged:
			enc.Encode(map[string]any{"lagged": map[string]any{"dropped": m.Lagged.GetDropped()}}) //nolint:errcheck
		}
	}
}
