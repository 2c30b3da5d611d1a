package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
	"github.com/tether-ipc/tether/internal/stress"
)

// driveReplicas runs the fault scenario against p.replicas cores, each a
// child process of this program in core mode on its own address, sharing
// one NATS server with JetStream (embedded in this process, its store in the
// data folder): events on the app's stream, idempotency keys in its
// key-value bucket (or in each replica's memory, with -idempotency memory).
//
// Clients are spread over the replicas and move, as clients behind a load
// balancer do: an invoking client retries a call that fails with
// unavailable on the next replica, with the same key; a listener whose
// stream ends reconnects to the next replica with the id of the last event
// it got (Last-Event-ID, after_id), and on a lag notice reconnects from
// where the notice says. One replica after another is SIGKILLed and
// restarted. Every event acknowledged must reach every listener once, in
// order: with JetStream, events live in the stream, not in the replica that
// took them, so none is "lost with a killed core".
func driveReplicas(p params, self string) (bool, error) {
	data, logf, done, err := runFolder(p.keep)
	if err != nil {
		return false, err
	}
	defer done()

	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: filepath.Join(data, "nats")})
	if err != nil {
		return false, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		return false, fmt.Errorf("NATS did not start")
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()

	n := p.replicas
	addrs := make([]string, n)
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return false, err
		}
	}
	execs := filepath.Join(data, executions)
	token, err := stress.NewSecret(data) // one secret for every replica
	if err != nil {
		return false, err
	}
	start := func(i int) (*stress.Core, error) {
		dir := filepath.Join(data, fmt.Sprint("replica-", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := stress.WriteSecret(dir, token); err != nil {
			return nil, err
		}
		return startChild(self, addrs[i], dir, false, logf, "-nats", ns.ClientURL(), "-jetstream", "-idem", p.idem, "-executions", execs)
	}
	cores := make([]*stress.Core, n)
	for i := range cores {
		if cores[i], err = start(i); err != nil {
			return false, fmt.Errorf("replica %d: %v", i, err)
		}
	}
	defer func() {
		for _, c := range cores {
			if c != nil {
				c.Kill()
			}
		}
	}()
	fmt.Printf("tether-fault: %d replicas at %s (child processes), NATS JetStream at %s (embedded), idempotency %s, %d clients x %d keyed calls, %d listeners, %d events, %d kills every %v\n",
		n, strings.Join(addrs, " "), ns.ClientURL(), p.idem, p.clients, p.calls, p.listeners, p.events, p.kills, p.every)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var all []*client.Client
	defer func() {
		for _, c := range all {
			c.Close()
		}
	}()
	// spread returns a connection to every replica, for one client.
	spread := func() ([]*client.Client, error) {
		cs := make([]*client.Client, n)
		for i, a := range addrs {
			c, err := client.Dial(a, client.WithToken(token))
			if err != nil {
				return nil, err
			}
			cs[i] = c
			all = append(all, c)
		}
		return cs, nil
	}

	// Listeners, spread over the replicas.
	ls := make([]*mover, p.listeners)
	lctx, stopListeners := context.WithCancel(ctx)
	defer stopListeners()
	var lwg sync.WaitGroup
	for i := range ls {
		cs, err := spread()
		if err != nil {
			return false, err
		}
		ls[i] = &mover{conns: cs, cur: i % n, got: map[int]int{}, ready: make(chan struct{})}
		lwg.Go(func() { ls[i].run(lctx) })
	}
	for _, l := range ls {
		select {
		case <-l.ready:
		case <-time.After(20 * time.Second):
			return false, fmt.Errorf("a listener could not subscribe")
		}
	}

	// failover runs f on replica *cur, moving to the next one while it
	// fails with unavailable, for at most a minute.
	var retries atomic.Int64
	failover := func(cur *int, f func(int) error) error {
		return untilAvailable(&retries, func() error { return f(*cur) }, func() { *cur = (*cur + 1) % n })
	}

	outcomes := make([]outcome, p.calls)
	var otherErrs sync.Map
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for ci := range p.clients {
		cs, err := spread()
		if err != nil {
			return false, err
		}
		wg.Go(func() {
			cur := ci % n
			for {
				i := int(next.Add(1)) - 1
				if i >= p.calls {
					return
				}
				key := fmt.Sprint("k", i)
				var out string
				err := failover(&cur, func(r int) error {
					return cs[r].Invoke(ctx, "apply", map[string]string{"key": key}, &out, client.WithIdempotencyKey(key))
				})
				outcomes[i] = classify(key, out, err, &otherErrs)
				time.Sleep(callPause(p))
			}
		})
	}

	emitters, err := spread()
	if err != nil {
		return false, err
	}
	acked := make([]uint64, p.events)
	var emitFailed int
	emitDone := make(chan struct{})
	go func() {
		defer close(emitDone)
		cur := 0
		every := emitEvery(p)
		for e := range p.events {
			if d := time.Until(t0.Add(time.Duration(e) * every)); d > 0 {
				time.Sleep(d)
			}
			err := failover(&cur, func(r int) error {
				id, err := emitters[r].Emit(ctx, event, map[string]int{"n": e})
				acked[e] = id
				return err
			})
			if err != nil {
				emitFailed++
			}
		}
	}()

	var downFor []time.Duration
	for k := range p.kills {
		time.Sleep(time.Until(t0.Add(time.Duration(k+1) * p.every)))
		victim := k % n
		cores[victim].Kill()
		t := time.Now()
		time.Sleep(p.down)
		if cores[victim], err = start(victim); err != nil {
			return false, fmt.Errorf("restart %d of replica %d: %v", k+1, victim, err)
		}
		downFor = append(downFor, time.Since(t))
	}
	wg.Wait()
	<-emitDone
	elapsed := time.Since(t0)

	// Wait (bounded) for every listener to have every acknowledged event.
	deadline := time.Now().Add(30 * time.Second)
	for _, l := range ls {
		for time.Now().Before(deadline) && l.missing(acked) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	stopListeners()
	lwg.Wait()
	var termErrs []string
	for i, c := range cores {
		if err := c.Term(); err != nil {
			termErrs = append(termErrs, fmt.Sprintf("replica %d: %v", i, err))
		}
		cores[i] = nil
	}

	calls, err := countCalls(filepath.Join(data, executions), outcomes)
	if err != nil {
		return false, err
	}
	var ackedN, lost, dupPayload, dupIDs, outOfOrder, lags, moves int
	for _, id := range acked {
		if id != 0 {
			ackedN++
		}
	}
	for _, l := range ls {
		l.mu.Lock()
		lost += l.missingLocked(acked)
		for e, id := range acked {
			if id != 0 && l.got[e] > 1 {
				dupPayload += l.got[e] - 1
			}
		}
		dupIDs += l.dupIDs
		outOfOrder += l.outOfOrder
		lags += l.lags
		moves += l.moves
		l.mu.Unlock()
	}

	fmt.Printf("  ran         %v; a replica down %v after each kill (kill, %v pause, restart until ready)\n", elapsed.Round(time.Millisecond), roundAll(downFor), p.down)
	calls.print(p.calls, retries.Load(), "on another replica after unavailable")
	fmt.Printf("  events      %d emitted and acknowledged (%d never acknowledged); %d listeners moved to another replica %d times; lost inside the window %d\n",
		ackedN, p.events-ackedN, p.listeners, moves, lost)
	fmt.Printf("              duplicate deliveries: by id %d, by payload %d (an emit retried after its first try was stored unacknowledged); out of order %d; lag notices %d\n", dupIDs, dupPayload, outOfOrder, lags)
	term := "every replica exited 0"
	if len(termErrs) > 0 {
		term = strings.Join(termErrs, "; ")
	}
	fmt.Printf("  shutdown    SIGTERM to the replicas: %s\n", term)
	otherErrs.Range(func(k, _ any) bool { fmt.Printf("  error       %v\n", k); return true })
	fmt.Printf("  figures     process RSS %s (the driver and the embedded NATS server)\n", stress.MiB(stress.RSS()))

	pass := calls.okNotOnce == 0 && calls.failed == 0 && lost == 0 && dupIDs == 0 && outOfOrder == 0 && len(termErrs) == 0 && emitFailed == 0
	if p.idem == "nats" {
		pass = pass && calls.doubles == 0
	}
	return pass, nil
}

// mover is a listener behind a load balancer: one Listen stream at a time,
// on replica cur; when the stream ends it reconnects to the next replica
// after the last id it got, as an EventSource reconnects with
// Last-Event-ID.
type mover struct {
	conns []*client.Client
	cur   int
	ready chan struct{} // closed once subscribed the first time

	mu         sync.Mutex
	last       uint64
	got        map[int]int // payload n -> times received
	dupIDs     int
	outOfOrder int
	lags       int
	moves      int
}

func (m *mover) run(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		m.mu.Lock()
		after := m.last
		m.mu.Unlock()
		if lagged := m.listen(ctx, after, &first); ctx.Err() != nil {
			return
		} else if !lagged {
			m.mu.Lock()
			m.moves++
			m.mu.Unlock()
			m.cur = (m.cur + 1) % len(m.conns)
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// listen reads one stream until it ends; lagged reports that it ended on a
// lag notice, to reconnect from where it says on the same replica.
func (m *mover) listen(ctx context.Context, after uint64, first *bool) (lagged bool) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := m.conns[m.cur].IPC().Listen(sctx, &tetherv1.ListenRequest{Events: []string{event}, AfterId: after, MaxBatch: 256})
	if err != nil {
		return false
	}
	if md, err := stream.Header(); err != nil || len(md.Get(tether.MetadataSubscribed)) == 0 {
		return false
	}
	if *first {
		*first = false
		close(m.ready)
	}
	for {
		r, err := stream.Recv()
		if err != nil {
			return false
		}
		if l := r.GetLagged(); l != nil {
			m.mu.Lock()
			m.lags++
			m.last = l.GetResumeAfter()
			m.mu.Unlock()
			return true
		}
		evs := r.GetBatch().GetEvents()
		if e := r.GetEvent(); e != nil {
			evs = append(evs, e)
		}
		for _, e := range evs {
			m.on(e)
		}
	}
}

func (m *mover) on(e *tetherv1.Event) {
	var v struct{ N int }
	_ = client.Event{Payload: e.GetPayload()}.Decode(&v)
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case e.GetId() == m.last:
		m.dupIDs++
		return
	case e.GetId() < m.last:
		m.outOfOrder++
		return
	}
	m.last = e.GetId()
	m.got[v.N]++
}

func (m *mover) missing(acked []uint64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.missingLocked(acked)
}

func (m *mover) missingLocked(acked []uint64) int {
	n := 0
	for e, id := range acked {
		if id != 0 && m.got[e] == 0 {
			n++
		}
	}
	return n
}
