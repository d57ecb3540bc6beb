package bench

import (
	"fmt"
	"net"
	"strings"
)

// Target is what the bench connects to.
type Target struct {
	Network string // "tcp" or "unix"
	Addr    string // host:port or socket path
	Builtin string // "floor" or "echo" when the bench starts the server itself
}

// ParseTarget reads "tcp:HOST:PORT", "unix:PATH", "floor", "echo" or "tapline".
// A built-in target has no address until it is started (see StartBuiltin).
func ParseTarget(s string) (Target, error) {
	switch s {
	case "floor", "echo", "tapline":
		return Target{Builtin: s}, nil
	}
	network, addr, ok := strings.Cut(s, ":")
	if !ok || addr == "" {
		return Target{}, fmt.Errorf("target %q: want tcp:HOST:PORT, unix:PATH, floor, echo or tapline", s)
	}
	switch network {
	case "tcp":
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return Target{}, fmt.Errorf("target %q: %w", s, err)
		}
		if port == "" || host == "" {
			return Target{}, fmt.Errorf("target %q: want tcp:HOST:PORT", s)
		}
	case "unix":
	default:
		return Target{}, fmt.Errorf("target %q: unknown network %q (tcp or unix)", s, network)
	}
	return Target{Network: network, Addr: addr}, nil
}

// String is the form ParseTarget reads.
func (t Target) String() string {
	if t.Network == "" {
		return t.Builtin
	}
	return t.Network + ":" + t.Addr
}
