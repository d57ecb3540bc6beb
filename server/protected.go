package server

import (
	"log/slog"
	"net/netip"
	"sync/atomic"
)

// Protected mode (Redis's lesson): a sensor that listens on a non-loopback
// address with nothing that protects its manager (no key in force, no
// token, no allowlist) would hand manager_plain_level to anyone who can
// route a packet to it. Until the operator opens access on purpose, peers
// that are not loopback are refused at connect with one line that says why
// and how; loopback peers and the Unix socket are not affected.

// protectState is protected mode's hooks, counter and last logged state.
// What protects TCP is the server's own to see: the key ring, the token
// set (UseTokens) and the allowlist (guard.go); each is an atomic load,
// cheap enough for every TCP connect and every tick.
type protectState struct {
	refused atomic.Int64 // connections refused by protected mode
	logged  atomic.Int32 // 0 nothing logged yet, 1 protected, 2 open
}

// msgProtected is the one line a refused peer gets.
var msgProtected = []byte("error: protected mode: this sensor listens on a non-loopback address with no manager key, " +
	"no token and no allowlist, so only loopback peers are served; open access with manager_allow, " +
	"a token (tapline tokens create) or a manager key, or set manager_protected_mode = no\n")

// listensWide reports whether TCP listens on anything but a loopback
// address ("0.0.0.0", "::", a routable address or a host name).
func (s *Server) listensWide() bool {
	if s.cfg.ManagerPort <= 0 {
		return false
	}
	a, err := netip.ParseAddr(s.cfg.ManagerIP)
	return err != nil || !a.Unmap().IsLoopback()
}

// protected reports whether protected mode is in force now. A key counts
// only while it is enforced on plaintext (manager_enable_unencrypted
// makes every plaintext request pass it by).
func (s *Server) protected() bool {
	p := s.policy()
	if !p.protected || s.allowlistActive() || !s.listensWide() {
		return false
	}
	if s.keys.RequireAES() && !s.cfg.Unencrypted {
		return false
	}
	if t := s.tokens.Load(); t != nil && t.Len() > 0 {
		return false
	}
	return true
}

// protectRefuses reports whether protected mode refuses a TCP peer at
// addr; it logs when protected mode comes into force or ends. On the loop.
func (s *Server) protectRefuses(addr netip.Addr, known bool) bool {
	on := s.NoteAccessChange()
	if !on || (known && addr.Unmap().IsLoopback()) {
		return false
	}
	s.prot.refused.Add(1)
	return true
}

// NoteAccessChange evaluates protected mode and logs when it changed since
// the last look: at start, at each TCP connect, on the TCP engine's tick
// (so a key, token or allowlist change shows within tickEvery), and
// whenever such a change calls it. It returns whether protected mode is on.
func (s *Server) NoteAccessChange() bool {
	on := s.protected()
	st := int32(2)
	if on {
		st = 1
	}
	if old := s.prot.logged.Swap(st); old != st {
		if on {
			slog.Warn("manager runs in protected mode: TCP listens on a non-loopback address with no manager key, token or allowlist; "+
				"only loopback peers are served (open access with manager_allow, a token or a key, or set manager_protected_mode = no)",
				"addr", s.cfg.ManagerIP)
		} else if old == 1 {
			slog.Info("manager protected mode ended", "addr", s.cfg.ManagerIP)
		}
	}
	return on
}
