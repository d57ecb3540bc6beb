package server

import (
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"tapline/access"
)

// Protected mode (Redis's lesson): a sensor that listens on a non-loopback
// address with nothing that protects its manager (no key in force, no live
// token, no allowlist) would hand manager_plain_level to anyone who can
// route a packet to it. Until the operator opens access on purpose, peers
// that are not loopback are refused at connect with one line that says why
// and how; loopback peers and the Unix socket are not affected.
//
// A token only raises the level of whoever presents it; it does nothing to
// a plaintext peer. So when live tokens are all that lifts protected mode
// (no key in force, no allowlist), non-loopback plaintext peers are let in
// (to authenticate) but get at most limited_read until they do.

// protection is the state protected mode is in.
type protection int32

const (
	protectUnknown protection = iota // nothing logged yet
	protectOn                        // non-loopback peers refused
	protectOff                       // a key, an allowlist, the config or the address opens TCP
	protectTokens                    // only live tokens open it: non-loopback plaintext at most limited_read
)

// protectState is protected mode's counter and last logged state. What
// protects TCP is the server's own to see: the key ring, the token set
// (UseTokens, tokens.Set.Live) and the allowlist (guard.go); each is an
// atomic load, cheap enough for every TCP connect and every tick.
type protectState struct {
	refused atomic.Int64 // connections refused by protected mode
	logged  atomic.Int32 // the protection last logged
}

// msgProtected is the one line a refused peer gets.
var msgProtected = []byte("error: protected mode: this sensor listens on a non-loopback address with no manager key, " +
	"no live token and no allowlist, so only loopback peers are served; open access with manager_allow, " +
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

// protection is protected mode's state now. A key counts only while it is
// enforced on plaintext (manager_enable_unencrypted makes every plaintext
// request pass it by); a token only while it is live (not revoked, not
// expired).
func (s *Server) protection() protection {
	p := s.policy()
	switch {
	case !p.protected || s.allowlistActive() || !s.listensWide():
		return protectOff
	case s.keys.RequireAES() && !s.cfg.Unencrypted:
		return protectOff
	}
	if t := s.tokens.Load(); t != nil && t.Live(time.Now()) {
		return protectTokens
	}
	return protectOn
}

// protected reports whether protected mode refuses non-loopback peers now.
func (s *Server) protected() bool { return s.protection() == protectOn }

// protectConnect decides for a TCP peer at addr (known: the address was
// read): refused (protected mode is on and the peer is not loopback), or
// the most a plaintext connection from it may get (access.ReadWrite: no
// cap). It logs when protected mode changed. On the loop.
func (s *Server) protectConnect(addr netip.Addr, known bool) (refused bool, most access.Level) {
	st := s.noteProtection()
	if st == protectOff || (known && addr.Unmap().IsLoopback()) {
		return false, access.ReadWrite
	}
	if st == protectTokens {
		return false, access.LimitedRead
	}
	s.prot.refused.Add(1)
	return true, access.None
}

// NoteAccessChange evaluates protected mode and logs when it changed since
// the last look: at start, at each TCP connect, on the TCP engine's tick
// (so a key, token or allowlist change shows within tickEvery), and
// whenever such a change calls it. It returns whether protected mode
// refuses non-loopback peers.
func (s *Server) NoteAccessChange() bool { return s.noteProtection() == protectOn }

func (s *Server) noteProtection() protection {
	st := s.protection()
	old := protection(s.prot.logged.Swap(int32(st)))
	if old == st {
		return st
	}
	switch {
	case st == protectOn:
		slog.Warn("manager runs in protected mode: TCP listens on a non-loopback address with no manager key, live token or allowlist; "+
			"only loopback peers are served (open access with manager_allow, a token or a key, or set manager_protected_mode = no)",
			"addr", s.cfg.ManagerIP)
	case st == protectTokens:
		slog.Warn("manager protected mode lifted by tokens only: non-loopback plaintext peers get at most limited_read until they auth "+
			"(set a manager key or manager_allow to give them manager_plain_level)",
			"addr", s.cfg.ManagerIP, "plain_level", s.policy().plain.String())
	case old == protectOn || old == protectTokens:
		slog.Info("manager protected mode ended", "addr", s.cfg.ManagerIP)
	}
	return st
}
