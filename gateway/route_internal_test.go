package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
)

// ServeHTTP routes POST /ipc/invoke/… itself, taking the command name as
// the rest of the decoded path: the name grpc-gateway's router, set up as
// New sets it up, gives the same route's {command=**}.
func TestInvokeRouteMatchesMux(t *testing.T) {
	mux := runtime.NewServeMux(runtime.WithDisablePathLengthFallback())
	var got string
	var matched bool
	if err := mux.HandlePath("POST", "/ipc/invoke/{command=**}", func(_ http.ResponseWriter, _ *http.Request, p map[string]string) {
		got, matched = p["command"], true
	}); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{
		"/ipc/invoke/greet", "/ipc/invoke/plugin:store%7Cget", "/ipc/invoke/plugin:store|get", "/ipc/invoke/a/b",
		"/ipc/invoke/a%2Fb", "/ipc/invoke/%252F", "/ipc/invoke/", "/ipc/invoke/a/", "/ipc/invoke//a", "/ipc/invoke/a:b",
		"/ipc/invoke/greet?x=1", "/ipc/invoke/%E2%9C%93", "/ipc/invoke/a%20b", "/ipc/invoke/..%2Fx",
	} {
		r := httptest.NewRequest("POST", target, nil)
		got, matched = "", false
		mux.ServeHTTP(httptest.NewRecorder(), r)
		if !matched {
			t.Errorf("%s: grpc-gateway's router did not match it", target)
			continue
		}
		if want := r.URL.Path[len(invokePrefix):]; got != want {
			t.Errorf("%s: grpc-gateway's router names %q, ServeHTTP %q", target, got, want)
		}
	}
}
