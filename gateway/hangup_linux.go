package gateway

import (
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller is one epoll set (and one goroutine) watching connections for
// the peer's close or input. Events carry a watch id, not the descriptor,
// so that a descriptor reused by a new connection cannot be mistaken for
// an old one.
type poller struct {
	epfd, wake int

	mu      sync.Mutex
	next    uint64
	watches map[uint64]func()
	closed  bool
}

// wakeID marks the eventfd that stops the goroutine.
const wakeID = 0

func newPoller(wg *sync.WaitGroup) *poller {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setID(&ev, wakeID)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil
	}
	p := &poller{epfd: epfd, wake: wake, next: wakeID + 1, watches: map[uint64]func(){}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.run()
	}()
	return p
}

// setID and id keep a 64-bit watch id in the event's data (the Fd and Pad
// fields of x/sys's EpollEvent).
func setID(ev *unix.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}

func id(ev *unix.EpollEvent) uint64 { return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32 }

func (p *poller) run() {
	defer unix.Close(p.epfd)
	defer unix.Close(p.wake)
	evs := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(p.epfd, evs, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			p.failAll()
			return
		}
		for i := range evs[:n] {
			k := id(&evs[i])
			if k == wakeID {
				return
			}
			p.mu.Lock()
			gone := p.watches[k]
			delete(p.watches, k)
			p.mu.Unlock()
			if gone != nil {
				gone()
			}
		}
	}
}

// failAll ends every watched stream if epoll itself fails.
func (p *poller) failAll() {
	p.mu.Lock()
	ws := p.watches
	p.watches, p.closed = nil, true
	p.mu.Unlock()
	for _, gone := range ws {
		gone()
	}
}

func (p *poller) watch(conn net.Conn, gone func()) (stop func(), ok bool) {
	sc, isSC := conn.(syscall.Conn)
	if !isSC {
		return nil, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false
	}
	k := p.next
	p.next++
	p.watches[k] = gone
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setID(&ev, k)
	var ctlErr error
	if err := raw.Control(func(fd uintptr) { ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev) }); err != nil || ctlErr != nil {
		p.mu.Lock()
		delete(p.watches, k)
		p.mu.Unlock()
		return nil, false
	}
	return func() {
		p.mu.Lock()
		delete(p.watches, k)
		p.mu.Unlock()
		// The descriptor is still open (stop comes before Close), so it
		// is this connection's registration that goes.
		_ = raw.Control(func(fd uintptr) { _ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	}, true
}

// close stops the goroutine; watches still registered are dropped.
func (p *poller) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	var one = [8]byte{1}
	_, _ = unix.Write(p.wake, one[:])
}
