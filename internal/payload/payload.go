// Package payload converts Go values to and from tether.v1.Payload: command
// arguments and results, event payloads and channel messages, for the
// client, the server and in-process calls.
package payload

import (
	"encoding/json"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// Of encodes command arguments: proto messages as proto, []byte as raw,
// json.RawMessage as it is, nil as no args, anything else with
// encoding/json.
func Of(v any) (*tetherv1.Payload, error) {
	if v == nil {
		return nil, nil
	}
	return encode(v, false)
}

// Event encodes an event payload. Proto messages are sent as their JSON
// form, so that JSON listeners (pages, the CLI) can read them and Go
// listeners decode them with Decode; nil is JSON null; the rest as Of.
func Event(v any) (*tetherv1.Payload, error) {
	return encode(v, true)
}

func encode(v any, protoAsJSON bool) (*tetherv1.Payload, error) {
	switch a := v.(type) {
	case *tetherv1.Payload:
		return a, nil
	case proto.Message:
		if protoAsJSON {
			b, err := protojson.Marshal(a)
			if err != nil {
				return nil, tether.Errorf(tether.CodeInvalidArgument, "encoding payload: %v", err)
			}
			return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: b}}, nil
		}
		b, err := proto.Marshal(a)
		if err != nil {
			return nil, tether.Errorf(tether.CodeInvalidArgument, "encoding payload: %v", err)
		}
		return &tetherv1.Payload{Body: &tetherv1.Payload_Proto{Proto: b}}, nil
	case []byte:
		return &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: a}}, nil
	case json.RawMessage:
		return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: a}}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, tether.Errorf(tether.CodeInvalidArgument, "encoding payload: %v", err)
	}
	return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: b}}, nil
}

// Decode decodes p into out: a proto message (from proto or JSON), *[]byte
// (any body, as it is), *json.RawMessage, or a pointer encoding/json
// decodes into. A payload with no body is JSON null. A nil out discards.
func Decode(p *tetherv1.Payload, out any) error {
	if p.GetBody() == nil {
		p = &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte("null")}}
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		switch b := p.GetBody().(type) {
		case *tetherv1.Payload_Raw:
			*o = b.Raw
		case *tetherv1.Payload_Json:
			*o = b.Json
		case *tetherv1.Payload_Proto:
			*o = b.Proto
		}
		return nil
	case *json.RawMessage:
		b, ok := p.GetBody().(*tetherv1.Payload_Json)
		if !ok {
			return tether.NewError(tether.CodeInvalidArgument, "payload is not JSON: decode into *[]byte or a proto message")
		}
		*o = b.Json
		return nil
	case proto.Message:
		switch b := p.GetBody().(type) {
		case *tetherv1.Payload_Proto:
			if err := proto.Unmarshal(b.Proto, o); err != nil {
				return tether.Errorf(tether.CodeDataLoss, "decoding payload: %v", err)
			}
		case *tetherv1.Payload_Json:
			if err := protojson.Unmarshal(b.Json, o); err != nil {
				return tether.Errorf(tether.CodeDataLoss, "decoding payload: %v", err)
			}
		default:
			return tether.NewError(tether.CodeInvalidArgument, "payload is raw bytes: decode into *[]byte")
		}
		return nil
	}
	b, ok := p.GetBody().(*tetherv1.Payload_Json)
	if !ok {
		return tether.NewError(tether.CodeInvalidArgument, "payload is not JSON: decode into *[]byte or a proto message")
	}
	if err := json.Unmarshal(b.Json, out); err != nil {
		return tether.Errorf(tether.CodeDataLoss, "decoding payload: %v", err)
	}
	return nil
}
