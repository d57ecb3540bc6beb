package server

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"tapline/access"
	"tapline/config"
)

// AllowStore keeps the runtime allowlist entries where every sensor of a
// fleet sees them (Redis; cmd/tapline adapts redisstore to it). Without one
// the runtime entries live in this process's memory only and are lost on
// restart. Whoever holds the store also watches it and calls
// Server.SetRuntimeAllow with what it holds, within about a second of a
// change made by any sensor. A RemoveAllow that leaves the store empty
// must record that it did (the clear marker), so an empty store can be
// told from a lost one.
type AllowStore interface {
	AddAllow(ctx context.Context, cidr string) error
	RemoveAllow(ctx context.Context, cidr string) (existed bool, err error)
}

// guard is what decides, beside the levels, whether a peer may connect or
// send a request: the TCP allowlist, the per-address failure backoff and
// the per-identity rate limit, with their counters. Every check at accept
// and per request is lock-free (allowlist, backoff while nobody is in a
// cool-down) or one short critical section (rate limit).
type guard struct {
	allow atomic.Pointer[access.Allowlist]
	fails *access.FailTracker
	rate  atomic.Pointer[access.RateLimiter] // nil: no limit
	audit [2]auditBound                      // global bounds of audit failure lines: [0] refusals, [1] failed credentials (audit.go)
	epoch time.Time                          // monotonic zero of the trackers' clocks

	allowMu    sync.Mutex // serialises allowlist changes (read-modify-swap)
	allowStore AllowStore // nil: runtime entries in memory only
	// The runtime entries' memory across a store that lost them and across
	// restarts (allowlist.go); the fields below allowMissing are under allowMu.
	allowMissing atomic.Bool     // the store is empty without the clear marker; entries kept
	allowGen     atomic.Uint64   // local allowlist changes so far: a store read older than one is stale
	allowFile    *allowStateFile // <statedir>/allowlist.state; nil without a store
	allowSaved   []netip.Prefix  // what allowFile holds
	allowWritten bool            // allowSaved is known
	allowFileErr string          // last write failure, "" when none

	reloadMu sync.Mutex
	loaded   config.Config                 // the config the access settings in force came from
	reread   func() (config.Config, error) // re-reads the config file (cmd/tapline)
	onReload func(config.Config)           // applies what cmd/tapline owns after a reload

	refusedAllow   atomic.Int64 // TCP connections closed at accept: not on the allowlist
	refusedBackoff atomic.Int64 // TCP connections closed at accept: address in its cool-down
	authFailures   atomic.Int64 // failed authentications (every kind)
	backoffs       atomic.Int64 // addresses put in a cool-down
	rateLimited    atomic.Int64 // requests answered rate_limited
	auditDropped   atomic.Int64 // failure audit lines left out (per-address and global bounds)
}

// auditLinesPerSec bounds the failure lines of the whole audit trail, on
// top of the per-address bound (access.AuditBurst per window): a flood
// from many addresses writes at most this many within any one second (a
// sliding window, not a token bucket: a bucket's burst plus its refill let
// twice as many through in a second, attack report F9).
const auditLinesPerSec = 50

func (s *Server) initGuard(cfg *config.Config) {
	g := &s.guard
	g.epoch = time.Now()
	g.loaded = *cfg
	g.fails = access.NewFailTracker(failSettings(cfg), 0)
	for i := range g.audit {
		g.audit[i].w = access.NewWindowLimit(auditLinesPerSec, int64(time.Second))
	}
	g.rate.Store(access.NewRateLimiter(cfg.RateLimit, 0))
	prefixes, err := access.ParsePrefixes(cfg.Allow)
	if err != nil && s.policyErr == nil {
		s.policyErr = err // config.Validate checked it: only a changed parser gets here
	}
	a, _ := access.NewAllowlist(prefixes, nil)
	g.allow.Store(a)
}

func failSettings(cfg *config.Config) access.FailSettings {
	return access.FailSettings{Limit: cfg.AuthFailLimit, Window: cfg.AuthFailWindow, Cooldown: cfg.AuthFailCooloff}
}

// auditBound is one global bound of the audit trail, with the lines it
// left out since the last summary line.
type auditBound struct {
	w       *access.WindowLimit
	dropped atomic.Int64
}

// auditAllow reports whether one more failure line of class cred (a
// failed credential, what fail2ban bans for) fits its global bound at now
// (the trackers' clock, passed in so tests need no clock), and how many
// lines of that class the bound left out since it last allowed one. The
// two classes have a bound each, so refusals that cost nothing to provoke
// (a level refused) cannot crowd failed credentials out of the log.
func (g *guard) auditAllow(now int64, cred bool) (bool, int64) {
	b := &g.audit[b2i(cred)]
	if !b.w.Allow(now) {
		b.dropped.Add(1)
		return false, 0
	}
	return true, b.dropped.Swap(0)
}

// now is the trackers' clock: monotonic nanoseconds since start.
func (g *guard) now() int64 { return int64(time.Since(g.epoch)) }

// since is the trackers' clock at t (a reading already taken).
func (g *guard) since(t time.Time) int64 { return int64(t.Sub(g.epoch)) }

// allowlistActive reports whether the TCP allowlist is in force (config or
// runtime entries): protected mode treats that as access being managed.
func (s *Server) allowlistActive() bool { return s.guard.allow.Load().Active() }

// tcpAddr is the peer address of a TCP connection, unmapped.
func tcpAddr(a net.Addr) (netip.Addr, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta == nil {
		return netip.Addr{}, false
	}
	ip := ta.AddrPort().Addr().Unmap()
	return ip, ip.IsValid()
}

// refuseAtAccept decides, before anything is read or written, whether a
// new TCP connection is closed at once without a byte: a peer outside the
// allowlist, or an address in its failure cool-down. Both are counted and
// audited (bounded). On the loop, first thing in OnOpen.
func (s *Server) refuseAtAccept(ip netip.Addr, gc gnet.Conn) bool {
	g := &s.guard
	if !ip.IsValid() {
		return false
	}
	if !g.allow.Load().Allows(ip) {
		g.refusedAllow.Add(1)
		s.auditRefused(ip, gc.RemoteAddr().String(), "allowlist")
		return true
	}
	if g.fails.Blocked(access.AddrKey(ip), g.now()) {
		g.refusedBackoff.Add(1)
		return true // the cool-down's start was logged; refusals during it are counted only
	}
	return false
}

// AllowCounters are the guard's counters for sniffer_stat, in order.
func (s *Server) guardCounters() []counter {
	g := &s.guard
	return []counter{
		{"connections_refused_allowlist", g.refusedAllow.Load()},
		{"connections_refused_backoff", g.refusedBackoff.Load()},
		{"auth_failures", g.authFailures.Load()},
		{"auth_backoffs", g.backoffs.Load()},
		{"auth_fail_evicted", g.fails.Evicted()},
		{"requests_rate_limited", g.rateLimited.Load()},
		{"rate_limit_evicted", g.rate.Load().Evicted()},
		{"audit_suppressed", g.auditDropped.Load()},
		{"allowlist_missing", b2i(g.allowMissing.Load())},
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

type counter struct {
	name string
	n    int64
}
