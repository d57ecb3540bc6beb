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
// datagram's control messages.
func dropCount(oob []byte) (uint64, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_RXQ_OVFL && len(m.Data) >= 4 {
			return uint64(binary.NativeEndian.Uint32(m.Data)), true
		}
	}
	return 0, false
}
