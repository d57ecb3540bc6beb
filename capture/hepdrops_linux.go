//go:build linux

package capture

import (
	"encoding/binary"
	"net"

	"golang.org/x/sys/unix"
)

// enableDropCount asks the kernel to report, with every datagram, how many
// datagrams it dropped on this socket because the buffer was full
// (SO_RXQ_OVFL): a HEP burst must never lose messages silently.
func enableDropCount(c *net.UDPConn) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	})
}

// dropCount extracts the kernel's cumulative drop counter from a
// datagram's control messages. It walks them in place: once the socket has
// dropped anything, every datagram carries the counter, and parsing into a
// new slice would allocate per datagram just when the listener is busiest.
func dropCount(oob []byte) (uint64, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && len(data) >= 4 {
			return uint64(binary.NativeEndian.Uint32(data)), true
		}
		oob = rest
	}
	return 0, false
}
