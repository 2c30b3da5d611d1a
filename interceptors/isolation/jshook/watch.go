package jshook

import (
	"fmt"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// heapWatch interrupts a call once the process heap has grown by more than
// its limit since the call began. One goroutine samples the heap every
// millisecond while any call is running, for every Runner, and stops when
// none has run for idleTicks samples (calls one after another then find it
// running, with a fresh sample for their base).
type heapWatch struct {
	mu      sync.Mutex
	calls   map[*watched]struct{}
	running bool
	idle    int // samples taken with no call running
	last    uint64
	sample  []metrics.Sample
}

// idleTicks is how long, in samples, the watch goroutine outlives the last
// call.
const idleTicks = 100

type watched struct {
	vm          *goja.Runtime
	base, limit uint64
}

var watch = heapWatch{calls: map[*watched]struct{}{}, sample: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}

// read samples the heap; w.mu is held.
func (w *heapWatch) read() uint64 {
	metrics.Read(w.sample)
	if w.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return w.sample[0].Value.Uint64()
}

// add watches vm until remove; limit <= 0 watches nothing.
func (w *heapWatch) add(vm *goja.Runtime, limit int64) *watched {
	if limit <= 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	base := w.last
	if !w.running {
		base = w.read()
		w.last = base
		w.running = true
		go w.loop()
	}
	c := &watched{vm: vm, base: base, limit: uint64(limit)}
	w.calls[c] = struct{}{}
	return c
}

func (w *heapWatch) remove(c *watched) {
	if c == nil {
		return
	}
	w.mu.Lock()
	delete(w.calls, c)
	w.mu.Unlock()
}

func (w *heapWatch) loop() {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for range t.C {
		w.mu.Lock()
		if len(w.calls) == 0 {
			if w.idle++; w.idle >= idleTicks {
				w.running = false
				w.mu.Unlock()
				return
			}
		} else {
			w.idle = 0
		}
		h := w.read()
		w.last = h
		for c := range w.calls {
			if h > c.base && h-c.base > c.limit {
				c.vm.Interrupt(&abortError{msg: fmt.Sprintf("isolation hook exceeded the memory limit (%d MiB of heap growth)", c.limit>>20), limit: true})
				delete(w.calls, c)
			}
		}
		w.mu.Unlock()
	}
}
