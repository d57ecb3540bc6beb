//go:build !linux

package capture

import "net"

func enableDropCount(*net.UDPConn) {}

func dropCount([]byte) (uint64, bool) { return 0, false }
