package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tether-ipc/tether"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
)

// Generated typed clients on Conn fail with *tether.Error, as Invoke does,
// and the gRPC status survives; on streams too.
func TestTypedClientErrorsAreTetherErrors(t *testing.T) {
	core := startCore(t, sockPath(t))
	defer core.stop()
	c := dial(t, core.addr)
	typed := demov1.NewDemoClient(c.Conn())
	ctx := context.Background()

	_, err := typed.Fail(ctx, &demov1.FailRequest{Reason: "because"})
	var te *tether.Error
	if !errors.As(err, &te) {
		t.Fatalf("typed unary error %T %v, want *tether.Error", err, err)
	}
	if len(te.Details()) == 0 || status.Code(err) != te.Code().GRPC() {
		t.Fatalf("details %s, status code %v, code %v", te.Details(), status.Code(err), te.Code())
	}
	_, err = typed.Greet(ctx, &demov1.GreetRequest{}) // protovalidate: min_len 1
	if !errors.As(err, &te) || te.Code() != tether.CodeInvalidArgument || status.Code(err) != codes.InvalidArgument {
		t.Fatalf("invalid greet: %T %v", err, err)
	}
	st, err := typed.Count(ctx, &demov1.CountRequest{To: 0})
	if err == nil {
		_, err = st.Recv()
	}
	if !errors.As(err, &te) || te.Code() != tether.CodeInvalidArgument {
		t.Fatalf("invalid count stream: %T %v", err, err)
	}
}

// A result that does not fit the caller's value fails with a message that
// says so, and not with invalid_argument: the command did run.
func TestResultThatDoesNotFit(t *testing.T) {
	core := startCore(t, sockPath(t))
	defer core.stop()
	c := dial(t, core.addr)
	var n int
	err := c.Invoke(context.Background(), "greet", map[string]string{"name": "x"}, &n)
	if tether.CodeOf(err) == tether.CodeInvalidArgument || tether.CodeOf(err) == tether.CodeOK {
		t.Fatalf("greet into an int: %v", err)
	}
	if !strings.Contains(err.Error(), "greet ran") || !strings.Contains(err.Error(), "*int") {
		t.Fatalf("message %q", err)
	}
}
