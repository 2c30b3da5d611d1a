package server

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/jsonargs"
)

// encoding is how a payload is carried.
type encoding uint8

const (
	encJSON encoding = iota
	encProto
	encRaw
)

func encodingOf(p *tetherv1.Payload) encoding {
	switch p.GetBody().(type) {
	case *tetherv1.Payload_Proto:
		return encProto
	case *tetherv1.Payload_Raw:
		return encRaw
	}
	return encJSON
}

var (
	jsonOut = protojson.MarshalOptions{EmitDefaultValues: true}
	jsonIn  = protojson.UnmarshalOptions{}
)

// decodeProto decodes args into m. Absent args leave m empty. JSON args are
// first put in the spelling of shape (see jsonargs.Shape.Canonical).
func decodeProto(args *tetherv1.Payload, m proto.Message, maxDepth int, shape *jsonargs.Shape) error {
	switch b := args.GetBody().(type) {
	case nil:
		return nil
	case *tetherv1.Payload_Json:
		js := bytes.TrimSpace(b.Json)
		if len(js) == 0 || string(js) == "null" {
			return nil
		}
		js, err := shape.Canonical(js, maxDepth)
		if err != nil {
			return err
		}
		if js[0] != '{' {
			return tether.NewError(tether.CodeInvalidArgument, "args must be a JSON object")
		}
		if err := jsonIn.Unmarshal(js, m); err != nil {
			return tether.Errorf(tether.CodeInvalidArgument, "invalid args: %s", cleanProtoErr(err))
		}
		return nil
	case *tetherv1.Payload_Proto:
		if err := (proto.UnmarshalOptions{RecursionLimit: maxDepth}).Unmarshal(b.Proto, m); err != nil {
			return tether.Errorf(tether.CodeInvalidArgument, "invalid proto args for %s: %s", m.ProtoReflect().Descriptor().FullName(), cleanProtoErr(err))
		}
		return nil
	default:
		return tether.Errorf(tether.CodeInvalidArgument, "command takes JSON or proto args (%s), not raw bytes", m.ProtoReflect().Descriptor().FullName())
	}
}

// cleanProtoErr drops the "proto: " prefix and the odd non-breaking spaces
// that the protobuf module puts in its messages on purpose.
func cleanProtoErr(err error) string {
	s := strings.ReplaceAll(err.Error(), "\u00a0", " ")
	return strings.TrimPrefix(s, "proto: ")
}

func encodeProto(m proto.Message, enc encoding) (*tetherv1.Payload, error) {
	if enc == encProto {
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, tether.Errorf(tether.CodeInternal, "encoding result: %v", err)
		}
		return &tetherv1.Payload{Body: &tetherv1.Payload_Proto{Proto: b}}, nil
	}
	b, err := jsonOut.Marshal(m)
	if err != nil {
		return nil, tether.Errorf(tether.CodeInternal, "encoding result: %v", err)
	}
	return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: b}}, nil
}

// decodeValue decodes args into *v for a Go function command, JSON args in
// the spelling of shape first.
func decodeValue[A any](args *tetherv1.Payload, v *A, maxDepth int, shape *jsonargs.Shape) error {
	if bp, ok := any(v).(*[]byte); ok { // raw bytes in
		switch b := args.GetBody().(type) {
		case *tetherv1.Payload_Raw:
			*bp = b.Raw
		case *tetherv1.Payload_Json:
			*bp = b.Json
		case *tetherv1.Payload_Proto:
			*bp = b.Proto
		}
		return nil
	}
	if pm, ok := any(*v).(proto.Message); ok {
		if reflect.ValueOf(pm).IsNil() {
			pm = reflect.New(reflect.TypeFor[A]().Elem()).Interface().(proto.Message)
			*v = pm.(A)
		}
		return decodeProto(args, pm, maxDepth, shape)
	}
	switch b := args.GetBody().(type) {
	case *tetherv1.Payload_Json:
		js, err := shape.Canonical(b.Json, maxDepth)
		if err != nil {
			return err
		}
		return jsonargs.Decode(js, v)
	case nil:
		return jsonargs.Decode(nil, v)
	case *tetherv1.Payload_Proto:
		return tether.NewError(tether.CodeInvalidArgument, "command takes JSON args, not proto")
	default:
		return tether.NewError(tether.CodeInvalidArgument, "command takes JSON args, not raw bytes")
	}
}

// encodeValue encodes a Go function command's result.
func encodeValue(v any, enc encoding) (*tetherv1.Payload, error) {
	switch r := v.(type) {
	case []byte:
		return &tetherv1.Payload{Body: &tetherv1.Payload_Raw{Raw: r}}, nil
	case proto.Message:
		return encodeProto(r, enc)
	case json.RawMessage:
		return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: r}}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, tether.Errorf(tether.CodeInternal, "encoding result: %v", err)
	}
	return &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: b}}, nil
}
