package tether

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// Code is an error code. Its values are those of gRPC's codes, so a Code
// converts to and from codes.Code without a table; its name is the
// snake_case form of the gRPC name ("not_found"), as in the JSON error body.
type Code uint32

// The codes, one for each gRPC code.
const (
	CodeOK                 Code = Code(codes.OK)
	CodeCanceled           Code = Code(codes.Canceled)
	CodeUnknown            Code = Code(codes.Unknown)
	CodeInvalidArgument    Code = Code(codes.InvalidArgument)
	CodeDeadlineExceeded   Code = Code(codes.DeadlineExceeded)
	CodeNotFound           Code = Code(codes.NotFound)
	CodeAlreadyExists      Code = Code(codes.AlreadyExists)
	CodePermissionDenied   Code = Code(codes.PermissionDenied)
	CodeResourceExhausted  Code = Code(codes.ResourceExhausted)
	CodeFailedPrecondition Code = Code(codes.FailedPrecondition)
	CodeAborted            Code = Code(codes.Aborted)
	CodeOutOfRange         Code = Code(codes.OutOfRange)
	CodeUnimplemented      Code = Code(codes.Unimplemented)
	CodeInternal           Code = Code(codes.Internal)
	CodeUnavailable        Code = Code(codes.Unavailable)
	CodeDataLoss           Code = Code(codes.DataLoss)
	CodeUnauthenticated    Code = Code(codes.Unauthenticated)
)

// codeTable is the one table that maps each code to its name and HTTP status.
// The HTTP statuses follow grpc-gateway's and Connect's mapping.
var codeTable = [...]struct {
	name   string
	status int
}{
	CodeOK:                 {"ok", http.StatusOK},
	CodeCanceled:           {"canceled", 499},
	CodeUnknown:            {"unknown", http.StatusInternalServerError},
	CodeInvalidArgument:    {"invalid_argument", http.StatusBadRequest},
	CodeDeadlineExceeded:   {"deadline_exceeded", http.StatusGatewayTimeout},
	CodeNotFound:           {"not_found", http.StatusNotFound},
	CodeAlreadyExists:      {"already_exists", http.StatusConflict},
	CodePermissionDenied:   {"permission_denied", http.StatusForbidden},
	CodeResourceExhausted:  {"resource_exhausted", http.StatusTooManyRequests},
	CodeFailedPrecondition: {"failed_precondition", http.StatusBadRequest},
	CodeAborted:            {"aborted", http.StatusConflict},
	CodeOutOfRange:         {"out_of_range", http.StatusBadRequest},
	CodeUnimplemented:      {"unimplemented", http.StatusNotImplemented},
	CodeInternal:           {"internal", http.StatusInternalServerError},
	CodeUnavailable:        {"unavailable", http.StatusServiceUnavailable},
	CodeDataLoss:           {"data_loss", http.StatusInternalServerError},
	CodeUnauthenticated:    {"unauthenticated", http.StatusUnauthorized},
}

// Codes lists every code, in numeric order.
func Codes() []Code {
	cs := make([]Code, len(codeTable))
	for i := range codeTable {
		cs[i] = Code(i)
	}
	return cs
}

// String returns the snake_case name, e.g. "permission_denied".
func (c Code) String() string {
	if int(c) < len(codeTable) {
		return codeTable[c].name
	}
	return "unknown"
}

// GRPC returns the gRPC code.
func (c Code) GRPC() codes.Code {
	if int(c) < len(codeTable) {
		return codes.Code(c)
	}
	return codes.Unknown
}

// HTTPStatus returns the HTTP status a gateway answers with for the code.
func (c Code) HTTPStatus() int {
	if int(c) < len(codeTable) {
		return codeTable[c].status
	}
	return http.StatusInternalServerError
}

// ParseCode returns the code with the given snake_case name.
func ParseCode(name string) (Code, bool) {
	for i, e := range codeTable {
		if e.name == name {
			return Code(i), true
		}
	}
	return CodeUnknown, false
}

// MarshalText implements encoding.TextMarshaler, so a Code is its name in JSON.
func (c Code) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Code) UnmarshalText(b []byte) error {
	code, ok := ParseCode(string(b))
	if !ok {
		return Errorf(CodeInvalidArgument, "tether: unknown code %q", b)
	}
	*c = code
	return nil
}
