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
// frame. It counts towards the address's backoff (a loopback address
// aside: see countsTowardBackoff) and is logged within the audit bounds.
func (s *Server) auditAuthFailure(c *conn, reason, tokenID string) {
	s.authFailure(c, c.who, "", reason, tokenID)
}

// authFailure is auditAuthFailure with the identity and command of a
// refused request (need aes!, a level too low: audited, not counted).
func (s *Server) authFailure(c *conn, who access.Identity, cmd, reason, tokenID string) {
	g := &s.guard
	g.authFailures.Add(1)
	e := auditEvent{event: "auth_failure", outcome: "denied", listener: c.listener, addr: c.addr, peer: c.peer,
		who: who, cmd: cmd, reason: reason, token: tokenID}
	if reason == "bad_frame" || reason == "legacy_decrypt" {
		e.outcome = "failed"
	}
	s.failed(&e, countsTowardBackoff(reason))
}

// countsTowardBackoff reports whether a failure of this reason counts
// towards the per-address cool-down: only a credential that was presented
// and failed (a bad, expired, revoked or out-of-CIDR token, a token in
// plaintext from afar, a legacy frame that does not decrypt, a bad
// hardened frame). A request refused for its level or with need aes!
// presented no credential: anyone may send one, and counting them let
// any local user lock every 127.0.0.1 client out with ten plaintext
// requests. Refusals at connect (allowlist, protected mode) are not
// attempts either. All of them are audited all the same.
func countsTowardBackoff(reason string) bool {
	switch reason {
	case "level", "need_aes", "peercred", "allowlist", "protected_mode":
		return false
	}
	return true
}

// auditRefused records a TCP connection closed at accept (allowlist).
func (s *Server) auditRefused(ip netip.Addr, peer, reason string) {
	e := auditEvent{event: "refused", outcome: "denied", listener: "tcp", addr: ip, peer: peer, reason: reason}
	s.failed(&e, countsTowardBackoff(reason))
}

// failed logs a failure within the bounds (a first failure line per
// address and window, a summary of the lines left out, the start of a
// cool-down) and, when count, counts it towards its address's cool-down.
// A loopback peer is never put in a cool-down: it is a local user, who
// can reach the Unix socket anyway and cannot guess a 256-bit token, and
// a cool-down of 127.0.0.1 would shut out every local client (GUIs with
// the legacy key, token holders, monitoring) for all.
func (s *Server) failed(e *auditEvent, count bool) {
	g := &s.guard
	if !e.addr.IsValid() { // Unix: no address to count against; the global bound only
		s.auditBounded(e)
		return
	}
	key, now := access.AddrKey(e.addr), g.now()
	var r access.FailResult
	if count && !e.addr.IsLoopback() {
		r = g.fails.Fail(key, now)
	} else {
		r = g.fails.Note(key, now)
	}
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
	ok, left := s.guard.auditAllow(s.guard.now(), countsTowardBackoff(e.reason))
	if !ok {
		s.guard.auditDropped.Add(1)
		return
	}
	if left > 0 { // the global bound left lines out: say so before the next one
		sum := auditEvent{event: "suppressed", outcome: e.outcome, listener: e.listener, reason: "audit_global", count: int(left)}
		sum.log()
	}
	e.log()
}
