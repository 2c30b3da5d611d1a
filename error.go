package tether

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// Error is the one error type of Tether: a code, a message, and optional
// details, which carry a command's own error value as JSON untouched (as a
// Tauri command's Err(e) reaches the frontend). It crosses gRPC as a status
// whose details hold a tether.v1.ErrorDetails, and the gateway writes it as
// {"code": "...", "message": "...", "details": ...}.
//
// An *Error is immutable once built; it is safe to share between goroutines.
type Error struct {
	code    Code
	message string
	details json.RawMessage
	cause   error
}

// NewError returns an error with the given code and message.
func NewError(code Code, message string) *Error {
	return &Error{code: code, message: message}
}

// Errorf returns an error with the given code and a formatted message. A %w
// verb makes the wrapped error the cause, reachable by errors.Is and As.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{code: code, message: err.Error(), cause: errors.Unwrap(err)}
}

// WithDetails returns a copy of e whose details are v encoded as JSON. A
// json.RawMessage is taken as it is. If v cannot be encoded, the details hold
// a JSON string saying so, so that building an error never fails.
func (e *Error) WithDetails(v any) *Error {
	c := *e
	switch d := v.(type) {
	case nil:
		c.details = nil
	case json.RawMessage:
		c.details = append(json.RawMessage(nil), d...)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			b, _ = json.Marshal("tether: details not encodable: " + err.Error())
		}
		c.details = b
	}
	return &c
}

// Code returns the error's code.
func (e *Error) Code() Code { return e.code }

// Message returns the message without the code.
func (e *Error) Message() string { return e.message }

// Details returns the details as JSON, or nil.
func (e *Error) Details() json.RawMessage { return e.details }

// DecodeDetails decodes the details into v.
func (e *Error) DecodeDetails(v any) error {
	if len(e.details) == 0 {
		return NewError(CodeNotFound, "tether: error has no details")
	}
	return json.Unmarshal(e.details, v)
}

// Error returns "code: message".
func (e *Error) Error() string {
	if e.message == "" {
		return e.code.String()
	}
	return e.code.String() + ": " + e.message
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// GRPCStatus lets grpc-go send the error as a status with its details.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(e.code.GRPC(), e.message)
	if len(e.details) > 0 {
		if withDetails, err := st.WithDetails(&tetherv1.ErrorDetails{Json: e.details}); err == nil {
			st = withDetails
		}
	}
	return st
}

// MarshalJSON writes the gateway's error body.
func (e *Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(errorBody{Code: e.code, Message: e.message, Details: e.details})
}

// UnmarshalJSON reads the gateway's error body.
func (e *Error) UnmarshalJSON(b []byte) error {
	var body errorBody
	if err := json.Unmarshal(b, &body); err != nil {
		return err
	}
	*e = Error{code: body.Code, message: body.Message, details: body.Details}
	return nil
}

type errorBody struct {
	Code    Code            `json:"code"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details,omitempty"`
}

// FromError converts any error to an *Error: an *Error in the chain is
// returned as it is; a gRPC status keeps its code, message and details;
// context errors become canceled or deadline_exceeded; anything else is
// unknown. FromError(nil) is nil.
func FromError(err error) *Error {
	if err == nil {
		return nil
	}
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	switch {
	case errors.Is(err, context.Canceled):
		return &Error{code: CodeCanceled, message: err.Error(), cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{code: CodeDeadlineExceeded, message: err.Error(), cause: err}
	}
	if st, ok := status.FromError(err); ok {
		return fromStatus(st, err)
	}
	return &Error{code: CodeUnknown, message: err.Error(), cause: err}
}

// FromStatus converts a gRPC status to an *Error, or nil for OK.
func FromStatus(st *status.Status) *Error {
	if st == nil || st.Code() == codes.OK {
		return nil
	}
	return fromStatus(st, st.Err())
}

func fromStatus(st *status.Status, cause error) *Error {
	e := &Error{code: Code(st.Code()), message: st.Message(), cause: cause}
	if int(e.code) >= len(codeTable) {
		e.code = CodeUnknown
	}
	for _, d := range st.Details() {
		if ed, ok := d.(*tetherv1.ErrorDetails); ok {
			e.details = ed.GetJson()
			break
		}
	}
	return e
}

// CodeOf returns the code of err: CodeOK for nil, otherwise FromError(err).Code().
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	return FromError(err).Code()
}
