// Package validate enforces the protovalidate rules of proto command
// arguments ((buf.validate.field) options) before a handler runs.
//
// In a Tether server's chain the request is already decoded to the
// command's argument message on every path — typed gRPC, Invoke by name
// with JSON or proto args, the gateway, in-process — so one rule holds
// everywhere. Requests that are not proto messages pass through.
//
// A violation fails the call with invalid_argument; the details list each
// violation as {"field": "name", "rule": "string.min_len", "message": "…"}.
package validate

import (
	"context"
	"errors"
	"strings"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/tether-ipc/tether"
)

// Violation is one broken rule, as carried in the error details.
type Violation struct {
	Field   string `json:"field"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Validator checks messages. The zero value is not usable; use New.
type Validator struct{ v protovalidate.Validator }

// New returns a Validator. Rules are compiled per message type on first use
// and cached; a Validator is safe for concurrent use.
func New() (*Validator, error) {
	v, err := protovalidate.New()
	if err != nil {
		return nil, err
	}
	return &Validator{v: v}, nil
}

// Check returns nil when m satisfies its rules, else an invalid_argument
// *tether.Error whose details list the violations.
func (v *Validator) Check(m proto.Message) error {
	err := v.v.Validate(m)
	if err == nil {
		return nil
	}
	var ve *protovalidate.ValidationError
	if errors.As(err, &ve) {
		vs := make([]Violation, 0, len(ve.Violations))
		msgs := make([]string, 0, len(ve.Violations))
		for _, x := range ve.Violations {
			vi := Violation{
				Field:   protovalidate.FieldPathString(x.Proto.GetField()),
				Rule:    x.Proto.GetRuleId(),
				Message: x.Proto.GetMessage(),
			}
			vs = append(vs, vi)
			msgs = append(msgs, vi.Field+": "+vi.Message)
		}
		return tether.NewError(tether.CodeInvalidArgument, "invalid args: "+strings.Join(msgs, "; ")).WithDetails(vs)
	}
	// Compilation or runtime errors of the rules themselves are the
	// service's fault, not the caller's.
	return tether.Errorf(tether.CodeInternal, "validating %s: %v", m.ProtoReflect().Descriptor().FullName(), err)
}

// UnaryServerInterceptor validates unary requests that are proto messages.
func (v *Validator) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			if err := v.Check(m); err != nil {
				return nil, err
			}
		}
		return h(ctx, req)
	}
}

// StreamServerInterceptor validates each message a stream receives.
func (v *Validator) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &stream{ServerStream: ss, v: v})
	}
}

type stream struct {
	grpc.ServerStream
	v *Validator
}

func (s *stream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		return s.v.Check(pm)
	}
	return nil
}
