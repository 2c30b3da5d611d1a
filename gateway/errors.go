package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/tether-ipc/tether"
)

// writeError writes err as the error body. status 0 takes the code's
// HTTP status.
func writeError(w http.ResponseWriter, status int, err error) {
	te := publicError(err)
	if status == 0 {
		status = te.Code().HTTPStatus()
	}
	body, mErr := json.Marshal(te)
	if mErr != nil {
		body = []byte(`{"code":"internal","message":"error not encodable"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(status)
	w.Write(append(body, '\n')) //nolint:errcheck // the client may be gone
}

// publicError is err as a browser may see it: a failure to reach the core
// (grpc-go's transport errors, which name socket paths and addresses)
// becomes a plain unavailable error; the core's own errors pass as they are.
func publicError(err error) *tether.Error {
	te := tether.FromError(err)
	if te.Code() == tether.CodeUnavailable || te.Code() == tether.CodeUnknown {
		m := te.Message()
		if strings.HasPrefix(m, "connection error:") || strings.Contains(m, "transport: ") || strings.Contains(m, "dial unix ") || strings.Contains(m, "dial tcp ") {
			return errCoreUnreachable
		}
	}
	return te
}

// errCoreUnreachable answers calls when the core cannot be reached.
var errCoreUnreachable = tether.NewError(tether.CodeUnavailable, "the core is unreachable; retry shortly")

// bodyState records whether a request's body went over the limit, so that
// errors from grpc-gateway's own body decoding become 413 as well.
type bodyState struct{ tooLarge bool }

// limitedBody is http.MaxBytesReader that remembers hitting the limit.
type limitedBody struct {
	rc io.ReadCloser
	st *bodyState
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		b.st.tooLarge = true
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

func tooLarge(limit int64) *tether.Error {
	return tether.Errorf(tether.CodeResourceExhausted, "request body larger than %d bytes", limit)
}

// muxErrorHandler writes grpc-gateway's errors (typed routes, body decoding)
// in the one error shape.
func (g *Gateway) muxErrorHandler(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	if rs, ok := ctx.Value(requestStateKey{}).(*requestState); ok && rs.limit.tooLarge {
		writeError(w, http.StatusRequestEntityTooLarge, tooLarge(g.cfg.maxBody))
		return
	}
	if te := tether.FromError(err); te.Code() == tether.CodeInvalidArgument && te.Message() == errNotJSON {
		writeError(w, http.StatusUnsupportedMediaType, tether.NewError(tether.CodeInvalidArgument, "Content-Type is not supported: "+errNotJSON))
		return
	}
	var hse *runtime.HTTPStatusError
	if errors.As(err, &hse) {
		code := tether.CodeInvalidArgument
		if hse.HTTPStatus >= 500 {
			code = tether.CodeInternal
		}
		writeError(w, hse.HTTPStatus, tether.NewError(code, tether.FromError(hse.Err).Message()))
		return
	}
	writeError(w, 0, err)
}

// routingErrorHandler writes 404, 405 and 400 routing failures in the one
// error shape.
func (g *Gateway) routingErrorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, status int) {
	switch status {
	case http.StatusNotFound:
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, "/ipc/") {
			if g.cfg.console && (r.URL.Path+"/" == ConsolePath || strings.HasPrefix(r.URL.Path, ConsolePath)) {
				g.serveConsole(w, r)
				return
			}
			g.serveFrontend(w, r)
			return
		}
		writeError(w, status, tether.Errorf(tether.CodeNotFound, "no route for %s %s", r.Method, clip(r.URL.Path)))
	case http.StatusMethodNotAllowed:
		writeError(w, status, tether.Errorf(tether.CodeUnimplemented, "method %s is not allowed on %s", r.Method, clip(r.URL.Path)))
	case http.StatusBadRequest:
		writeError(w, status, tether.NewError(tether.CodeInvalidArgument, "bad request path"))
	default:
		writeError(w, status, tether.NewError(tether.CodeUnknown, "routing failed: "+strconv.Itoa(status)))
	}
}
