package natsbus

import (
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/tether-ipc/tether/bus"
)

// healthWatch follows a NATS connection's status: when it goes down, the
// local bus's subscriptions end with ErrNATSDown (backend listeners go on)
// and the watchers are told; when it is back, they are told again.
type healthWatch struct {
	nc    *nats.Conn
	ch    chan nats.Status
	done  chan struct{}
	local *bus.Memory

	mu       sync.Mutex
	up       bool
	watchers map[int]func(error)
	nextID   int
}

func watchHealth(nc *nats.Conn, local *bus.Memory) *healthWatch {
	h := &healthWatch{nc: nc, local: local, done: make(chan struct{}), watchers: map[int]func(error){}}
	h.ch = nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	h.up = nc.Status() == nats.CONNECTED
	go h.run()
	return h
}

func (h *healthWatch) run() {
	defer close(h.done)
	for range h.ch {
		// The channel may drop changes when full: read the state itself.
		h.set(h.nc.Status() == nats.CONNECTED)
	}
}

func (h *healthWatch) set(up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if up == h.up {
		return
	}
	h.up = up
	var err error
	if !up {
		err = ErrNATSDown
		h.local.Interrupt(ErrNATSDown)
	}
	for _, f := range h.watchers {
		f(err)
	}
}

// notify adds f; watchers are called under h.mu, one change at a time.
func (h *healthWatch) notify(f func(error)) (stop func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.nextID
	h.nextID++
	h.watchers[id] = f
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.watchers, id)
	}
}

func (h *healthWatch) stop() {
	h.nc.RemoveStatusListener(h.ch)
	<-h.done
}
