//go:build !unix

package netaddr

import "net"

// listenPrivate creates the Unix socket; without a umask here, its mode is
// set by the caller's chmod right after.
func listenPrivate(address string) (net.Listener, error) {
	return net.Listen("unix", address)
}
