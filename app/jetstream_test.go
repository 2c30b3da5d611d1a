package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tether-ipc/tether/config"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/interceptors/idempotency"
)

// Two replicas as tether serve assembles them, on one NATS server with
// JetStream (events.jetstream, limits.idempotency_store "nats"): an id seen
// on A resumes on B with Last-Event-ID; a keyed invoke on A retried on B is
// a replay; when NATS goes, B's /readyz says 503 and its listener ends with
// unavailable.
func TestReplicasOnJetStream(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })

	var urls, grpcs, tokens [2]string
	for i := range urls {
		cfg := baseConfig(t)
		cfg.Events.NATS = ns.ClientURL()
		cfg.Events.JetStream = true
		cfg.Limits.IdempotencyStore = config.IdempotencyNATS
		_, r := run(t, cfg, io.Discard)
		urls[i], grpcs[i], tokens[i] = r.HTTP, r.GRPC, r.Token
	}
	emit := func(n int) uint64 {
		res, err := bearerClient(tokens[0]).Post(urls[0]+"/ipc/emit/x", "application/json", strings.NewReader(fmt.Sprintf(`{"n":%d}`, n)))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct{ ID uint64 }
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
			t.Fatalf("emit: %d %v", res.StatusCode, err)
		}
		return out.ID
	}
	var ids []uint64
	for n := range 5 {
		ids = append(ids, emit(n))
	}
	req, _ := http.NewRequest("GET", urls[1]+"/ipc/listen?event=x", nil)
	req.Header.Set("Last-Event-ID", strconv.FormatUint(ids[1], 10))
	res, err := bearerClient(tokens[1]).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rd := bufio.NewReader(res.Body)
	var got []uint64
	var frames []string
	for len(got) < 3 {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("SSE on B ended after ids %v: %v", got, err)
		}
		frames = append(frames, line)
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "id:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(id), 10, 64)
			got = append(got, n)
		}
	}
	if !slices.Equal(got, ids[2:]) {
		t.Fatalf("B resumed with ids %v, want %v (frames %q)", got, ids[2:], frames)
	}

	// A keyed invoke on A, retried on B: the same answer, as a replay.
	invoke := func(addr string) (string, string) {
		var md metadata.MD
		res, err := dial(t, addr).IPC().Invoke(context.Background(), &tetherv1.InvokeRequest{Command: "greet", IdempotencyKey: "once",
			Args: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(`{"name":"R"}`)}}}, grpc.Header(&md))
		if err != nil {
			t.Fatal(err)
		}
		return string(res.GetResult().GetJson()), strings.Join(md.Get(idempotency.HeaderReplay), "")
	}
	first, replay1 := invoke(grpcs[0])
	second, replay2 := invoke(grpcs[1])
	if first != second || replay1 != "" || replay2 != "1" {
		t.Fatalf("keyed invoke on A %q (replay %q), on B %q (replay %q)", first, replay1, second, replay2)
	}

	ready := func() int {
		res, err := http.Get(urls[1] + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := ready(); s != 200 {
		t.Fatalf("/readyz %d with NATS up", s)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	rest, _ := io.ReadAll(rd) // the stream ends with an error frame
	if !strings.Contains(string(rest), `"code":"unavailable"`) {
		t.Fatalf("B's listener ended with %q, want an unavailable error frame", rest)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ready() != 503 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s := ready(); s != 503 {
		t.Fatalf("/readyz %d with NATS down, want 503", s)
	}
}
