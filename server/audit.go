package server

import (
	"context"
	"log/slog"
	"net/netip"

	"tapline/access"
)

// The audit trail: one log line per read_write command and per refused
// authentication, with a fixed message ("audit") and stable keys in a fixed
// order, so a log shipper or fail2ban (docs/AUDIT.md) can match them:
//
//	msg=audit event=command|auth_failure|refused|backoff|suppressed
//	outcome=ok|denied|failed listener=tcp|unix addr=<IP or ""> peer=<ip:port or socket>
//	identity=<uid:N, key:<id>, token:<id>, legacy_key or ""> via=<how it was decided>
//	cmd=<command or ""> reason=<why> [token=<token id>] [count=<n>]
//
// Never a secret: a token appears by its id, a key by its id. Failure
// lines are bounded per address (access.AuditBurst per
// manager_auth_fail_window, then one "suppressed" line with the count) and
// as a whole (auditLinesPerSec within any one second); what is left out is counted in
// sniffer_stat's audit_suppressed.

// auditEvent is one audit line's content.
type auditEvent struct {
	event, outcome, listener string
	addr                     netip.Addr
	peer                     string
	who                      access.Identity
	cmd, reason, token       string
	count                    int
}

func (e *auditEvent) log() {
	lvl := slog.LevelInfo
	if e.outcome != "ok" {
		lvl = slog.LevelWarn
	}
	addr := ""
	if e.addr.IsValid() {
		addr = e.addr.String()
	}
	attrs := []slog.Attr{
		slog.String("event", e.event), slog.String("outcome", e.outcome), slog.String("listener", e.listener),
		slog.String("addr", addr), slog.String("peer", e.peer), slog.String("identity", e.who.Name),
		slog.String("via", e.who.Via.String()), slog.String("cmd", e.cmd), slog.String("reason", e.reason),
	}
	if e.token != "" {
		attrs = append(attrs, slog.String("token", e.token))
	}
	if e.count > 0 {
		attrs = append(attrs, slog.Int("count", e.count))
	}
	slog.LogAttrs(context.Background(), lvl, "audit", attrs...)
}

// auditCommand logs a read_write command that ran (outcome ok or failed)
// or was refused for a reason that is not an authentication failure
// (rate_limited: denied). Not bounded: only a connection at read_write
// gets here, and the rate limit bounds it when set.
func (s *Server) auditCommand(c *conn, who access.Identity, cmd, outcome, reason string) {
	e := auditEvent{event: "command", outcome: outcome, listener: c.listener, addr: c.addr, peer: c.peer,
		who: who, cmd: cmd, reason: reason}
	e.log()
}

// auditAuthFailure records a failed authentication of c: a bad token
// (tokenID when the token's id is known; never the token), a token from
// outside its CIDRs, a legacy frame that does not decrypt, a bad hardened
// frame. It counts towards the address's backoff and is logged within the
// audit bounds.
func (s *Server) auditAuthFailure(c *conn, reason, tokenID string) {
	s.authFailure(c, c.who, "", reason, tokenID)
}

// authFailure is auditAuthFailure with the identity and command of a
// refused request (need aes!, a level too low).
func (s *Server) authFailure(c *conn, who access.Identity, cmd, reason, tokenID string) {
	g := &s.guard
	g.authFailures.Add(1)
	e := auditEvent{event: "auth_failure", outcome: "denied", listener: c.listener, addr: c.addr, peer: c.peer,
		who: who, cmd: cmd, reason: reason, token: tokenID}
	if reason == "bad_frame" || reason == "legacy_decrypt" {
		e.outcome = "failed"
	}
	s.failed(&e)
}

// auditRefused records a TCP connection closed at accept (allowlist).
func (s *Server) auditRefused(ip netip.Addr, peer, reason string) {
	e := auditEvent{event: "refused", outcome: "denied", listener: "tcp", addr: ip, peer: peer, reason: reason}
	s.failed(&e)
}

// failed counts a failure against its address (TCP) and logs it within the
// bounds: a first failure line per address and window, a summary of the
// lines left out, the start of a cool-down.
func (s *Server) failed(e *auditEvent) {
	g := &s.guard
	if !e.addr.IsValid() { // Unix: no address to count against; the global bound only
		s.auditBounded(e)
		return
	}
	r := g.fails.Fail(access.AddrKey(e.addr), g.now())
	if r.Suppressed > 0 {
		sum := auditEvent{event: "suppressed", outcome: e.outcome, listener: e.listener, addr: e.addr, peer: e.peer,
			reason: "audit_bound", count: r.Suppressed}
		s.auditBounded(&sum)
	}
	if r.Log {
		s.auditBounded(e)
	} else {
		g.auditDropped.Add(1)
	}
	if r.Blocked {
		g.backoffs.Add(1)
		p := s.policy()
		b := auditEvent{event: "backoff", outcome: "denied", listener: e.listener, addr: e.addr, peer: e.peer,
			reason: "auth_fail_limit", count: p.fail.Limit}
		s.auditBounded(&b)
	}
}

// auditBounded logs e unless the whole trail's bound is spent.
func (s *Server) auditBounded(e *auditEvent) {
	if !s.guard.auditAllow(s.guard.now()) {
		s.guard.auditDropped.Add(1)
		return
	}
	e.log()
}
