package server

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/internal/netaddr"
)

// FuzzCallerIDs feeds arbitrary caller and connection names, as metadata,
// from each kind of peer: a trusted front's (Unix socket, in-process) are
// used only when short and printable, a TCP peer's or a trusted endpoint's
// never (they are not fronts), and nothing panics.
func FuzzCallerIDs(f *testing.F) {
	for _, s := range [][2]string{{"session:abc", "http#1"}, {"", ""}, {"a b", "\x00"}, {string(make([]byte, 200)), "x"}, {"bearer:127.0.0.1", "http:127.0.0.1:5555"}} {
		f.Add(s[0], s[1])
	}
	tcp := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}
	addrs := []net.Addr{tcp, netaddr.PeerAddr{Path: "/s", UID: 0, PID: 42, Conn: 7}, InProcessAddr{}, TrustedAddr{Endpoint: "unix:///t", Label: "backend", PID: 9, conn: 3}}
	f.Fuzz(func(t *testing.T, caller, conn string) {
		for _, a := range addrs {
			bare := peer.NewContext(context.Background(), &peer.Peer{Addr: a})
			baseConn, baseCaller := callerIDs(bare)
			ctx := metadata.NewIncomingContext(bare, metadata.Pairs(tether.MetadataCaller, caller, tether.MetadataConn, conn))
			gotConn, gotCaller := callerIDs(ctx)
			wantConn, wantCaller := baseConn, baseCaller
			if front := a.Network() == "unix" || a.Network() == "tether-inprocess"; front {
				// Metadata values are read trimmed.
				if c := strings.TrimSpace(conn); relayedID(c) {
					wantConn = c
				}
				if c := strings.TrimSpace(caller); relayedID(c) {
					wantCaller = c
				}
			}
			if gotConn != wantConn || gotCaller != wantCaller {
				t.Fatalf("%v with caller %q, conn %q: got %q %q, want %q %q", a, caller, conn, gotCaller, gotConn, wantCaller, wantConn)
			}
			for _, id := range []string{gotConn, gotCaller} {
				if id == "" || len(id) > maxRelayedID+64 {
					t.Fatalf("%v: id %q", a, id)
				}
				for i := 0; i < len(id); i++ {
					if id[i] < ' ' || id[i] > '~' {
						t.Fatalf("%v: unprintable id %q", a, id)
					}
				}
			}
		}
	})
}
