package isolation

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"unicode/utf8"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// The values of Payload.Cmd. Channel commands use "invoke", as in Tauri.
const (
	CmdInvoke = "invoke"
	CmdEmit   = "emit"
	CmdListen = "listen"
)

// Payload is what an isolation hook sees, in the shape of the seed's
// isolation hook payload (package jshook also shows JavaScript hooks Tauri
// v2's shape):
//
//	invoke:  {"cmd":"invoke", "message":{"cmd":"<command>","args":{…}}, "headers":{…}, "client":{"label":…,"origin":…}}
//	emit:    {"cmd":"emit", "event":"<name>", "payload":<value>, "target":"<label>", "client":{…}}
//	listen:  {"cmd":"listen", "event":"<name>", "client":{…}}
//
// The args of an invoke are in the keys the command's handler binds (see
// Stage). Args and event payloads are JSON. A request whose body is not
// JSON is shown as {"$bytes":"<base64>"} (raw bytes) or {"$proto":"<base64>"}
// (a serialized proto message); a hook may pass those on, replace them with
// another such object, or with plain JSON. A listen request naming several
// events is shown to the hooks once per event.
type Payload struct {
	Cmd     string          `json:"cmd"`
	Message *Message        `json:"message,omitempty"`
	Event   string          `json:"event,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// Target is the client label an emit is sent to ("" for all).
	Target string `json:"target,omitempty"`
	// Headers are an invoke's request headers (Tauri's invoke options).
	Headers map[string]string `json:"headers,omitempty"`
	Client  Client            `json:"client"`

	// Kind is the kind of call; it distinguishes a channel from an invoke.
	// It is not shown to JS hooks.
	Kind tether.Kind `json:"-"`
}

// Message is the invoke part of a Payload.
type Message struct {
	Cmd  string          `json:"cmd"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Client tells who is calling. Label is Tauri's window label.
type Client struct {
	Label  string `json:"label"`
	Origin string `json:"origin"`
}

// Clone returns a deep copy of p.
func (p *Payload) Clone() *Payload {
	if p == nil {
		return nil
	}
	c := *p
	c.Payload = bytes.Clone(p.Payload)
	c.Headers = maps.Clone(p.Headers)
	if p.Message != nil {
		m := *p.Message
		m.Args = bytes.Clone(p.Message.Args)
		c.Message = &m
	}
	return &c
}

// Name returns the command or event name.
func (p *Payload) Name() string {
	if p.Message != nil {
		return p.Message.Cmd
	}
	return p.Event
}

// Hook inspects, and may change, a payload before it is sealed. Returning a
// nil payload or an error blocks the call at once with permission_denied; the
// error's message is the reason the caller sees. A hook must not keep p.
type Hook func(ctx context.Context, p *Payload) (*Payload, error)

// Chain returns a hook that runs hooks in order, each on the previous one's
// result, and stops at the first that blocks. Nil hooks are skipped.
func Chain(hooks ...Hook) Hook {
	hs := make([]Hook, 0, len(hooks))
	for _, h := range hooks {
		if h != nil {
			hs = append(hs, h)
		}
	}
	return func(ctx context.Context, p *Payload) (*Payload, error) {
		for _, h := range hs {
			next, err := h(ctx, p)
			if err != nil {
				return nil, blocked(err)
			}
			if next == nil {
				return nil, refuse(ReasonBlocked, "hook blocked "+p.Cmd+" "+p.Name())
			}
			p = next
		}
		return p, nil
	}
}

// Block returns an error that blocks a call with the given reason; a Hook
// may return it. Any other error blocks too.
func Block(reason string) error { return refuse(ReasonBlocked, reason) }

func blocked(err error) error {
	if ReasonOf(err) == ReasonBlocked {
		return err
	}
	if te := tether.FromError(err); te.Code() == tether.CodeCanceled || te.Code() == tether.CodeDeadlineExceeded {
		return te
	}
	return refuse(ReasonBlocked, tether.FromError(err).Message())
}

// encodeBody shows a tether.v1.Payload as JSON for a hook.
func encodeBody(b *tetherv1.Payload) json.RawMessage {
	switch body := b.GetBody().(type) {
	case *tetherv1.Payload_Json:
		if len(body.Json) == 0 {
			return nil
		}
		return bytes.Clone(body.Json)
	case *tetherv1.Payload_Raw:
		out, _ := json.Marshal(map[string]string{"$bytes": base64.StdEncoding.EncodeToString(body.Raw)})
		return out
	case *tetherv1.Payload_Proto:
		out, _ := json.Marshal(map[string]string{"$proto": base64.StdEncoding.EncodeToString(body.Proto)})
		return out
	}
	return nil
}

// decodeBody turns a hook's JSON back into a tether.v1.Payload.
func decodeBody(raw json.RawMessage) (*tetherv1.Payload, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if !json.Valid(raw) {
		return nil, refuse(ReasonBlocked, "hook returned invalid JSON")
	}
	if raw[0] == '{' {
		var special map[string]json.RawMessage
		if json.Unmarshal(raw, &special) == nil && len(special) == 1 {
			for k, v := range special {
				var s string
				if k != "$bytes" && k != "$proto" || json.Unmarshal(v, &s) != nil {
					break
				}
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, refuse(ReasonBlocked, "hook returned bad base64 in "+k)
				}
				if k == "$bytes" {
					return &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: b}}, nil
				}
				return &tetherv1.Payload{Body: &tetherv1.Payload_Proto{Proto: b}}, nil
			}
		}
	}
	return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: bytes.Clone(raw)}}, nil
}

// PayloadsOf returns the hook payloads of a request: one for an invoke,
// channel or emit request, one per event for a listen request.
func PayloadsOf(kind tether.Kind, req any, client Client) ([]*Payload, error) {
	switch m := req.(type) {
	case *tetherv1.InvokeRequest:
		if kind != tether.KindInvoke && kind != tether.KindChannel {
			break
		}
		return []*Payload{{Cmd: CmdInvoke, Kind: kind, Client: client, Headers: maps.Clone(m.GetHeaders()),
			Message: &Message{Cmd: m.GetCommand(), Args: encodeBody(m.GetArgs())}}}, nil
	case *tetherv1.EmitRequest:
		if kind != tether.KindEmit {
			break
		}
		return []*Payload{{Cmd: CmdEmit, Kind: kind, Client: client, Event: m.GetEvent(), Payload: encodeBody(m.GetPayload()), Target: m.GetTarget()}}, nil
	case *tetherv1.ListenRequest:
		if kind != tether.KindListen {
			break
		}
		ps := make([]*Payload, 0, len(m.GetEvents()))
		for _, e := range m.GetEvents() {
			ps = append(ps, &Payload{Cmd: CmdListen, Kind: kind, Client: client, Event: e})
		}
		return ps, nil
	}
	return nil, tether.Errorf(tether.CodeInvalidArgument, "isolation: no hook payload for %T as %s", req, kind)
}

// ApplyPayload writes what a hook returned back into the request: the
// command name, args and headers of an invoke; the event name, payload and
// target of an emit. A hook may not change the kind (cmd) or the client;
// doing so blocks the call. For a listen request, ApplyPayload checks the
// event name the hook returned and leaves the request as it is: the caller
// puts the names in place (Stage does).
func ApplyPayload(req any, orig, got *Payload) error {
	if got == nil {
		return refuse(ReasonBlocked, "hook blocked "+orig.Cmd+" "+orig.Name())
	}
	if got.Cmd != orig.Cmd {
		return refuse(ReasonBlocked, "hook changed cmd")
	}
	if got.Client != orig.Client {
		return refuse(ReasonBlocked, "hook changed client")
	}
	switch m := req.(type) {
	case *tetherv1.InvokeRequest:
		if got.Message == nil {
			return refuse(ReasonBlocked, "hook returned an invoke without message")
		}
		if got.Message.Cmd != m.GetCommand() {
			if err := checkName("command", got.Message.Cmd); err != nil {
				return err
			}
			m.Command = got.Message.Cmd
		}
		if !maps.Equal(got.Headers, orig.Headers) {
			m.Headers = maps.Clone(got.Headers)
		}
		if orig.Message != nil && bytes.Equal(got.Message.Args, orig.Message.Args) {
			return nil // unchanged: keep the request's own args
		}
		args, err := decodeBody(got.Message.Args)
		if err != nil {
			return err
		}
		m.Args = args
	case *tetherv1.EmitRequest:
		if got.Message != nil {
			return refuse(ReasonBlocked, "hook turned an emit into an invoke")
		}
		if got.Event != m.GetEvent() {
			if err := checkName("event", got.Event); err != nil {
				return err
			}
			m.Event = got.Event
		}
		m.Target = got.Target
		if bytes.Equal(got.Payload, orig.Payload) {
			return nil // unchanged
		}
		payload, err := decodeBody(got.Payload)
		if err != nil {
			return err
		}
		m.Payload = payload
	case *tetherv1.ListenRequest:
		if got.Message != nil {
			return refuse(ReasonBlocked, "hook turned a listen into an invoke")
		}
		if got.Event != orig.Event {
			return checkName("event", got.Event)
		}
	default:
		return tether.Errorf(tether.CodeInvalidArgument, "isolation: cannot apply a payload to %T", req)
	}
	return nil
}

// checkName refuses a name a hook set that no command or event can have;
// the core applies its own rules to the rest.
func checkName(what, name string) error {
	if name == "" || len(name) > 256 || !utf8.ValidString(name) {
		return refuse(ReasonBlocked, "hook set an invalid "+what+" name")
	}
	for _, r := range name {
		if r < 0x21 || r == 0x7f {
			return refuse(ReasonBlocked, "hook set an invalid "+what+" name")
		}
	}
	return nil
}
