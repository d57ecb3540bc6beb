package server

import (
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"

	"tapline/access"
)

// connLimits are the connection limits in force, derived from the config and
// from RLIMIT_NOFILE at start. Read-only once the listeners run.
//
// Why the descriptor budget matters: gnet shuts a whole engine down when
// accept fails with EMFILE, closing every connection. tapline never lets it
// get there: every connection it holds (served, rejected, lingering) is
// registered, the registry is capped at what the descriptor budget allows,
// and a connection past the cap is closed at once with "too many
// connections". Each registered connection may hold two descriptors (gnet's
// and a dup that carries its reply).
type connLimits struct {
	nofile   uint64 // RLIMIT_NOFILE soft limit in force
	reserve  int    // descriptors kept for everything else (listeners, pollers, Redis, files)
	hard     int    // registered connections of every kind, lingering and rejected ones included
	tcpHard  int    // registered TCP connections of every kind: hard minus the Unix reserve
	max      int    // served connections on all listeners (manager_max_connections, clamped)
	tcp      int    // served TCP connections: max minus the Unix reserve
	perIP    int    // served TCP connections per client address
	reserved int    // Unix reserve in force
}

// fdsPerConn: gnet's descriptor and the dup a reply is written through.
const fdsPerConn = 2

// fdHeadroom covers descriptors opened after start (Redis connections, a
// runtime manager_file listener, capture sockets, log files) and transient
// ones (an accepted socket before OnOpen, the extra dup of net.FileConn).
const fdHeadroom = 64

// computeLimits derives the limits from the config and the descriptor
// budget: nofile minus reserve, fdsPerConn per registered connection. Served
// connections get at most three quarters of the registry (at most
// maxRejectLinger fewer), so refusals and lingering clients always have room
// for their error line.
func computeLimits(maxConns, perIP, unixReserved int, nofile uint64, reserve int) connLimits {
	l := connLimits{nofile: nofile, reserve: reserve, perIP: perIP}
	budget := int64(nofile) - int64(reserve)
	if nofile == 0 || nofile > 1<<40 { // unlimited or unknown
		budget = 1 << 40
	}
	l.hard = int(max(1, min(budget/fdsPerConn, 1<<30)))
	l.max = max(1, min(maxConns, l.hard-min(maxRejectLinger, l.hard/4)))
	l.reserved = min(unixReserved, l.max/2)
	l.tcp = l.max - l.reserved
	l.tcpHard = max(1, l.hard-l.reserved)
	return l
}

// raiseNofile raises the soft RLIMIT_NOFILE to the hard limit (Go does this
// at start too, but only for itself and silently) and returns the soft limit
// in force.
func raiseNofile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = want.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
			rl = want
		} else {
			slog.Warn("cannot raise the nofile soft limit", "soft", rl.Cur, "hard", rl.Max, "err", err)
		}
	}
	return rl.Cur
}

// openFDs counts this process's open descriptors (-1 if unknown).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// setupLimits raises the descriptor limit, derives the connection limits
// and logs them. Called by Start before any listener opens.
func (s *Server) setupLimits() {
	nofile := raiseNofile()
	loops := s.cfg.EventLoops
	if loops <= 0 {
		loops = runtime.NumCPU()
	}
	// Each TCP event loop has its own listener, poller and wake descriptor;
	// the Unix engine has a main reactor and one loop.
	reserve := max(openFDs(), 16) + fdHeadroom + 4*loops + 8
	l := computeLimits(s.cfg.MaxConnections, s.cfg.MaxConnectionsPerIP, s.cfg.UnixReserved, nofile, reserve)
	s.limits = l
	args := []any{"manager_max_connections", s.cfg.MaxConnections, "effective", l.max, "tcp", l.tcp,
		"unix_reserved", l.reserved, "per_ip", l.perIP, "hard_cap", l.hard, "tcp_hard_cap", l.tcpHard, "nofile", l.nofile, "fd_reserve", l.reserve}
	if l.max < s.cfg.MaxConnections {
		slog.Warn("manager connection limit clamped to the file descriptor limit; raise nofile to allow more", args...)
		return
	}
	slog.Info("manager connection limit", args...)
}

// admit decides whether a new connection is served, counting it if so. It
// returns the refusal message, or nil. On the loop (OnOpen), after
// holdPlace: a TCP connection's address is the one c.hold holds.
func (e *engine) admit(c *conn) []byte {
	s := e.srv
	l := &s.limits
	if s.served.Add(1) > int64(l.max) {
		s.served.Add(-1)
		return msgTooMany
	}
	if e.name != "tcp" {
		c.counted.Store(true)
		return nil
	}
	if s.tcpServed.Add(1) > int64(l.tcp) {
		s.tcpServed.Add(-1)
		s.served.Add(-1)
		return msgTooMany
	}
	if c.hold.hasKey && !s.takeIP(c.hold.key) { // the address holdTCP registered
		s.tcpServed.Add(-1)
		s.served.Add(-1)
		s.rejectedPerIP.Add(1)
		return msgTooManyFromIP
	}
	c.counted.Store(true)
	return nil
}

var (
	msgTooMany       = []byte("error: too many connections\n")
	msgTooManyFromIP = []byte("error: too many connections from your address\n")
)

// ipKey is the address a per-address limit counts against: the IPv4
// address, or the /64 of an IPv6 address (one host or LAN usually holds a
// whole /64, so counting single IPv6 addresses would not limit anything).
// access.AddrKey is the same key for the failure backoff.
func ipKey(a net.Addr) (netip.Addr, bool) {
	ip, ok := tcpAddr(a)
	if !ok {
		return netip.Addr{}, false
	}
	return access.AddrKey(ip), true
}

// takeIP counts one more connection from key unless it is at the limit.
func (s *Server) takeIP(key netip.Addr) bool {
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	if s.perIP[key] >= s.limits.perIP {
		return false
	}
	s.perIP[key]++
	return true
}

func (s *Server) releaseIP(key netip.Addr) {
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	if s.perIP[key] <= 1 {
		delete(s.perIP, key)
		return
	}
	s.perIP[key]--
}
