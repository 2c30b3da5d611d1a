//go:build !linux

package gateway

import (
	"net"
	"sync"
)

// poller is not available here: each connection gets a reader.
type poller struct{}

func newPoller(*sync.WaitGroup) *poller                       { return nil }
func (*poller) watch(net.Conn, func()) (stop func(), ok bool) { return nil, false }
func (*poller) close()                                        {}
