package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tether-ipc/tether/client"
	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
)

// modes are the process layouts measured: the peers in this process (the
// client's and the server's work share one Go runtime), and each peer in a
// process of its own, as users run them.
func modes(cfg *Config) []bool {
	if cfg.NoCross {
		return []bool{false}
	}
	return []bool{false, true}
}

func modeLabel(cross bool) string {
	if cross {
		return "two processes"
	}
	return "one process"
}

// eachMode starts a peer of kind a and one of kind b in each process
// layout cfg asks for and runs f on them with the layout's label; the
// peers stop when f returns.
func eachMode(cfg *Config, a, b string, f func(pa, pb *peer, label string) error) error {
	for _, cross := range modes(cfg) {
		pa, err := startPeer(a, cross)
		if err != nil {
			return err
		}
		pb, err := startPeer(b, cross)
		if err != nil {
			pa.stop()
			return err
		}
		err = f(pa, pb, modeLabel(cross))
		pb.stop()
		pa.stop()
		if err != nil {
			return err
		}
	}
	return nil
}

var p50Latency = func(goal float64) metricDef {
	return metricDef{key: "p50", name: "p50 latency", unit: "ns", goal: Goal{"<=", goal}}
}

func runInvokeVsGRPC(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B = "tether_invoke", "grpc_go"
	r.SetupA = setup[kindTetherUDS] + ". Client: client.Dial(the socket), Invoke(ctx, \"greet\", &demov1.GreetRequest{Name: \"World\"}, &wrapperspb.StringValue{}) — proto args and result"
	r.SetupB = setup[kindGRPC] + ". Call: demov1.NewDemoClient(conn).Greet"
	req := &demov1.GreetRequest{Name: "World"}
	return eachMode(cfg, kindTetherUDS, kindGRPC, func(t, g *peer, label string) error {
		cli, err := client.Dial(t.GRPC)
		if err != nil {
			return err
		}
		defer cli.Close()
		conn, err := grpc.NewClient(g.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		typed := demov1.NewDemoClient(conn)
		a := latency(cfg.Side, 200, func() error {
			var res wrapperspb.StringValue
			if err := cli.Invoke(ctx, "greet", req, &res); err != nil {
				return err
			}
			return check(res.GetValue(), "Hello, World!")
		})
		b := latency(cfg.Side, 200, func() error {
			res, err := typed.Greet(ctx, req)
			if err != nil {
				return err
			}
			return check(res.GetValue(), "Hello, World!")
		})
		return interleave(ctx, cfg, r, label, []metricDef{p50Latency(1.10)}, a, b)
	})
}

func check(got, want string) error {
	if got != want {
		return fmt.Errorf("got %.40q, want %.40q", got, want)
	}
	return nil
}

// rawClient is the HTTP client on both sides of the gateway comparisons:
// net/http's, keep-alive, enough idle connections for every caller, no
// compression asked for.
func rawClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute, DisableCompression: true,
	}}
}

// poster returns a call that POSTs body as JSON to url and checks the
// answer is want. A Tether side is called with its app's secret (token),
// as every caller of an app as shipped sends it.
func poster(hc *http.Client, token, url string, body, want []byte) func() error {
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	return func() error {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		if res.StatusCode != 200 || !bytes.Equal(got, want) {
			return fmt.Errorf("POST %s: %s %.80q", url, res.Status, got)
		}
		return nil
	}
}

var (
	greetJSON  = []byte(`{"name":"World"}`)
	greetReply = []byte(`"Hello, World!"`)
)

// callerCounts are the concurrency levels of gateway_vs_connect.
var callerCounts = []int{1, 64, 256}

func runGatewayVsConnect(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B = "gateway", "connect_go"
	r.SetupA = setup[kindTether] + ". Request: POST /ipc/invoke/greet with {\"name\":\"World\"}"
	r.SetupB = setup[kindConnect] + ". Request: POST /demo.v1.Demo/Greet (Content-Type: application/json, the Connect protocol's unary JSON) with the same body"
	r.note("Client on both sides: net/http's Client, keep-alive, one idle connection kept per caller, no Accept-Encoding; each caller makes one call at a time")
	side := cfg.Side
	if cfg.Quick {
		side = 80 * time.Millisecond // six figures per layout: keep quick mode quick
	}
	return eachMode(cfg, kindTether, kindConnect, func(t, c *peer, label string) error {
		for _, n := range callerCounts {
			hc := rawClient(n)
			a := throughput(side, n, poster(hc, t.Token, t.HTTP+"/ipc/invoke/greet", greetJSON, greetReply))
			b := throughput(side, n, poster(hc, c.Token, c.HTTP+"/demo.v1.Demo/Greet", greetJSON, greetReply))
			defs := []metricDef{
				{key: "rate", name: "throughput", unit: "calls/s", goal: Goal{">=", 1.0}},
				{key: "p50", name: "p50 latency", unit: "ns", goal: Goal{"<=", 1.0}},
			}
			err := interleave(ctx, cfg, r, fmt.Sprintf("%s, %d callers", label, n), defs, a, b)
			hc.CloseIdleConnections()
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// jsonArgs is {"input": "xxx…"}, size bytes in all, and the reply
// process_data gives for it.
func jsonArgs(size int) (body, reply []byte) {
	input := strings.Repeat("x", size-len(`{"input":""}`))
	body, _ = json.Marshal(map[string]string{"input": input})
	reply, _ = json.Marshal("Processed: " + input)
	return body, reply
}

func runJSON1MiBVsConnect(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B = "gateway", "connect_go"
	r.SetupA = setup[kindTether] + ". Request: POST /ipc/invoke/process_data with {\"input\": <1 MiB string>}; the reply is the 1 MiB string \"Processed: …\""
	r.SetupB = setup[kindConnect] + ". Request: POST /demo.v1.Demo/ProcessData (application/json) with the same body; the same reply"
	r.note("Client on both sides: net/http's Client, keep-alive, no Accept-Encoding, one call at a time")
	minOps := 20
	if cfg.Quick {
		minOps = 8
	}
	body, reply := jsonArgs(1 << 20)
	return comparePosts(ctx, cfg, r, body, reply, minOps, p50Latency(1.20),
		target{kindTether, "/ipc/invoke/process_data"}, target{kindConnect, "/demo.v1.Demo/ProcessData"})
}

// target is a peer kind and the path a comparison POSTs to on it.
type target struct{ kind, path string }

// comparePosts measures one caller POSTing body to a's path against the
// same to b's, at least minOps calls per side and round, in each process
// layout, checking every answer is reply.
func comparePosts(ctx context.Context, cfg *Config, r *Result, body, reply []byte, minOps int, def metricDef, a, b target) error {
	return eachMode(cfg, a.kind, b.kind, func(pa, pb *peer, label string) error {
		hc := rawClient(1)
		defer hc.CloseIdleConnections()
		sa := latency(cfg.Side, minOps, poster(hc, pa.Token, pa.HTTP+a.path, body, reply))
		sb := latency(cfg.Side, minOps, poster(hc, pb.Token, pb.HTTP+b.path, body, reply))
		return interleave(ctx, cfg, r, label, []metricDef{def}, sa, sb)
	})
}

func runIsolationJSVsBrownfield(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B = "isolation_js", "brownfield"
	r.SetupA = setup[kindIsolation] + ". Request: POST /ipc/invoke/process_data with 1 KiB of JSON args"
	r.SetupB = setup[kindTetherUDS] + " (brownfield, the default). The same request"
	r.note("Client on both sides: net/http's Client, keep-alive, one call at a time")
	body, reply := jsonArgs(1 << 10)
	return comparePosts(ctx, cfg, r, body, reply, 200, p50Latency(1.25),
		target{kindIsolation, "/ipc/invoke/process_data"}, target{kindTetherUDS, "/ipc/invoke/process_data"})
}
