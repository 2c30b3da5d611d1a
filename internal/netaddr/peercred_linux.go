package netaddr

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerCred reads the peer's credentials of a Unix connection (SO_PEERCRED).
func peerCred(c net.Conn) (uid, pid int, known bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, 0, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil || cerr != nil {
		return 0, 0, false
	}
	return int(cred.Uid), int(cred.Pid), true
}

// CheckPeerProcess verifies that the process at the other end of the Unix
// connection c runs as uid and, if pid > 0, is process pid.
func CheckPeerProcess(c net.Conn, uid, pid int) error {
	puid, ppid, known := peerCred(c)
	if !known {
		return fmt.Errorf("cannot read the peer's credentials")
	}
	if puid != uid {
		return fmt.Errorf("the peer runs as uid %d, not %d", puid, uid)
	}
	if pid > 0 && ppid != pid {
		return fmt.Errorf("the peer is process %d, not %d", ppid, pid)
	}
	return nil
}
