package tether_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tether-ipc/tether"
)

// Every code maps to its gRPC code, its HTTP status and its name, entry by entry.
func TestCodeTable(t *testing.T) {
	want := []struct {
		code tether.Code
		grpc codes.Code
		http int
		name string
	}{
		{tether.CodeOK, codes.OK, 200, "ok"},
		{tether.CodeCanceled, codes.Canceled, 499, "canceled"},
		{tether.CodeUnknown, codes.Unknown, 500, "unknown"},
		{tether.CodeInvalidArgument, codes.InvalidArgument, 400, "invalid_argument"},
		{tether.CodeDeadlineExceeded, codes.DeadlineExceeded, 504, "deadline_exceeded"},
		{tether.CodeNotFound, codes.NotFound, 404, "not_found"},
		{tether.CodeAlreadyExists, codes.AlreadyExists, 409, "already_exists"},
		{tether.CodePermissionDenied, codes.PermissionDenied, 403, "permission_denied"},
		{tether.CodeResourceExhausted, codes.ResourceExhausted, 429, "resource_exhausted"},
		{tether.CodeFailedPrecondition, codes.FailedPrecondition, 400, "failed_precondition"},
		{tether.CodeAborted, codes.Aborted, 409, "aborted"},
		{tether.CodeOutOfRange, codes.OutOfRange, 400, "out_of_range"},
		{tether.CodeUnimplemented, codes.Unimplemented, 501, "unimplemented"},
		{tether.CodeInternal, codes.Internal, 500, "internal"},
		{tether.CodeUnavailable, codes.Unavailable, 503, "unavailable"},
		{tether.CodeDataLoss, codes.DataLoss, 500, "data_loss"},
		{tether.CodeUnauthenticated, codes.Unauthenticated, 401, "unauthenticated"},
	}
	if len(want) != len(tether.Codes()) {
		t.Fatalf("table has %d codes, tether.Codes() %d", len(want), len(tether.Codes()))
	}
	for _, w := range want {
		if w.code.GRPC() != w.grpc || w.code.HTTPStatus() != w.http || w.code.String() != w.name {
			t.Errorf("%v: grpc %v http %d name %q; want %v %d %q", w.code, w.code.GRPC(), w.code.HTTPStatus(), w.code.String(), w.grpc, w.http, w.name)
		}
		if c, ok := tether.ParseCode(w.name); !ok || c != w.code {
			t.Errorf("ParseCode(%q) = %v, %v", w.name, c, ok)
		}
		// The code survives a trip through a gRPC status.
		if got := tether.CodeOf(tether.NewError(w.code, "x").GRPCStatus().Err()); w.code != tether.CodeOK && got != w.code {
			t.Errorf("%v through a status became %v", w.code, got)
		}
	}
	if tether.Code(99).String() != "unknown" || tether.Code(99).HTTPStatus() != http.StatusInternalServerError {
		t.Error("out-of-range code not treated as unknown")
	}
}

func TestErrorDetailsRoundTrip(t *testing.T) {
	e := tether.NewError(tether.CodeNotFound, "no such user").WithDetails(map[string]any{"id": 7})
	st := e.GRPCStatus()
	back := tether.FromError(st.Err())
	if back.Code() != tether.CodeNotFound || back.Message() != "no such user" || string(back.Details()) != `{"id":7}` {
		t.Fatalf("got %v / %s", back, back.Details())
	}
	b, _ := json.Marshal(back)
	if string(b) != `{"code":"not_found","message":"no such user","details":{"id":7}}` {
		t.Fatalf("JSON body %s", b)
	}
	var parsed tether.Error
	if err := json.Unmarshal(b, &parsed); err != nil || parsed.Code() != tether.CodeNotFound {
		t.Fatalf("parse %v %v", parsed, err)
	}
	unencodable := tether.NewError(tether.CodeInternal, "x").WithDetails(func() {})
	if len(unencodable.Details()) == 0 {
		t.Fatal("unencodable details vanished instead of saying why")
	}
}

func TestFromErrorAndCodeOf(t *testing.T) {
	base := errors.New("disk on fire")
	wrapped := tether.Errorf(tether.CodeUnavailable, "storage: %w", base)
	cases := []struct {
		err  error
		want tether.Code
	}{
		{nil, tether.CodeOK},
		{context.Canceled, tether.CodeCanceled},
		{fmt.Errorf("op: %w", context.DeadlineExceeded), tether.CodeDeadlineExceeded},
		{status.Error(codes.NotFound, "x"), tether.CodeNotFound},
		{fmt.Errorf("ctx: %w", wrapped), tether.CodeUnavailable},
		{base, tether.CodeUnknown},
	}
	for _, c := range cases {
		if got := tether.CodeOf(c.err); got != c.want {
			t.Errorf("CodeOf(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if !errors.Is(wrapped, base) {
		t.Error("Errorf with %w lost its cause")
	}
	var te *tether.Error
	if !errors.As(fmt.Errorf("outer: %w", wrapped), &te) || te.Code() != tether.CodeUnavailable {
		t.Error("errors.As did not find the *tether.Error")
	}
}
