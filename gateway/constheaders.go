package gateway

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// Header values the gateway sets on most responses, each one slice shared by
// every response: setting a header this way costs no allocation. net/http
// only reads them, and a later Add to the same header appends to a copy (the
// slices are full), so no response can change another's.
var (
	hvOrigin   = []string{"Origin"}
	hvNoStore  = []string{"no-store"}
	hvNoSniff  = []string{"nosniff"}
	hvJSON     = []string{contentTypeJSON}
	hvOctets   = []string{contentTypeOctets}
	hvProtobuf = []string{contentTypeProtobuf}
)

// setShared sets the canonical header key to vals, a shared slice above.
func setShared(h http.Header, key string, vals []string) { h[key] = vals }

// addShared adds vals[0] to the canonical header key: the shared slice
// itself when the header is not set yet.
func addShared(h http.Header, key string, vals []string) {
	if old, ok := h[key]; ok {
		h[key] = append(old[:len(old):len(old)], vals...)
		return
	}
	h[key] = vals
}

// portStrings holds the decimal forms of the local ports requests arrive
// on (the gateway's own listening ports: a handful).
var portStrings sync.Map // int → string

func localPort(ctx context.Context) string {
	a, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || a == nil || a.Network() != "tcp" {
		return ""
	}
	if t, ok := a.(*net.TCPAddr); ok {
		if s, ok := portStrings.Load(t.Port); ok {
			return s.(string)
		}
		s := strconv.Itoa(t.Port)
		portStrings.Store(t.Port, s)
		return s
	}
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return ""
	}
	return port
}
