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

// pair starts peers of kinds a and b in the layout cross asks for.
func pair(a, b string, cross bool) (*peer, *peer, func(), error) {
	pa, err := startPeer(a, cross)
	if err != nil {
		return nil, nil, nil, err
	}
	pb, err := startPeer(b, cross)
	if err != nil {
		pa.stop()
		return nil, nil, nil, err
	}
	return pa, pb, func() { pb.stop(); pa.stop() }, nil
}

var p50Latency = func(goal float64) metricDef {
	return metricDef{key: "p50", name: "p50 latency", unit: "ns", goal: Goal{"<=", goal}}
}

func runInvokeVsGRPC(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B = "tether_invoke", "grpc_go"
	r.SetupA = setup[kindTetherUDS] + ". Client: client.Dial(the socket), Invoke(ctx, \"greet\", &demov1.GreetRequest{Name: \"World\"}, &wrapperspb.StringValue{}) — proto args and result"
	r.SetupB = setup[kindGRPC] + ". Call: demov1.NewDemoClient(conn).Greet"
	req := &demov1.GreetRequest{Name: "World"}
	for _, cross := range modes(cfg) {
		t, g, stop, err := pair(kindTetherUDS, kindGRPC, cross)
		if err != nil {
			return err
		}
		err = func() error {
			defer stop()
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
			return interleave(ctx, cfg, r, modeLabel(cross), []metricDef{p50Latency(1.10)}, a, b)
		}()
		if err != nil {
			return err
		}
	}
	return nil
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
	for _, cross := range modes(cfg) {
		t, c, stop, err := pair(kindTether, kindConnect, cross)
		if err != nil {
			return err
		}
		err = func() error {
			defer stop()
			for _, n := range callerCounts {
				hc := rawClient(n)
				a := throughput(side, n, poster(hc, t.Token, t.HTTP+"/ipc/invoke/greet", greetJSON, greetReply))
				b := throughput(side, n, poster(hc, c.Token, c.HTTP+"/demo.v1.Demo/Greet", greetJSON, greetReply))
				defs := []metricDef{
					{key: "rate", name: "throughput", unit: "calls/s", goal: Goal{">=", 1.0}},
					{key: "p50", name: "p50 latency", unit: "ns", goal: Goal{"<=", 1.0}},
				}
				err := interleave(ctx, cfg, r, fmt.Sprintf("%s, %d callers", modeLabel(cross), n), defs, a, b)
				hc.CloseIdleConnections()
				if err != nil {
					return err
				}
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
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
	body, reply := jsonArgs(1 << 20)
	for _, cross := range modes(cfg) {
		t, c, stop, err := pair(kindTether, kindConnect, cross)
		if err != nil {
			return err
		}
		err = func() error {
			defer stop()
			hc := rawClient(1)
			defer hc.CloseIdleConnections()
			minOps := 20
			if cfg.Quick {
				minOps = 8
			}
			a := latency(cfg.Side, minOps, poster(hc, t.Token, t.HTTP+"/ipc/invoke/process_data", body, reply))
			b := latency(cfg.Side, minOps, poster(hc, c.Token, c.HTTP+"/demo.v1.Demo/ProcessData", body, reply))
			return interleave(ctx, cfg, r, modeLabel(cross), []metricDef{p50Latency(1.20)}, a, b)
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

func runIsolationJSVsBrownfield(ctx context.Context, cfg *Config, r *Result) error {
	r.A, r.B = "isolation_js", "brownfield"
	r.SetupA = setup[kindIsolation] + ". Request: POST /ipc/invoke/process_data with 1 KiB of JSON args"
	r.SetupB = setup[kindTetherUDS] + " (brownfield, the default). The same request"
	r.note("Client on both sides: net/http's Client, keep-alive, one call at a time")
	body, reply := jsonArgs(1 << 10)
	for _, cross := range modes(cfg) {
		iso, brown, stop, err := pair(kindIsolation, kindTetherUDS, cross)
		if err != nil {
			return err
		}
		err = func() error {
			defer stop()
			hc := rawClient(1)
			defer hc.CloseIdleConnections()
			a := latency(cfg.Side, 200, poster(hc, iso.Token, iso.HTTP+"/ipc/invoke/process_data", body, reply))
			b := latency(cfg.Side, 200, poster(hc, brown.Token, brown.HTTP+"/ipc/invoke/process_data", body, reply))
			return interleave(ctx, cfg, r, modeLabel(cross), []metricDef{p50Latency(1.25)}, a, b)
		}()
		if err != nil {
			return err
		}
	}
	return nil
}
