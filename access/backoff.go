package access

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// FailSettings are the per-address failure backoff settings
// (manager_auth_fail_limit, _window, _cooldown). Limit 0 turns the
// refusal off; failures are still counted, for the audit trail's bound.
type FailSettings struct {
	Limit    int
	Window   time.Duration
	Cooldown time.Duration
}

// MaxFailAddrs bounds the addresses a FailTracker remembers: a flood from
// many addresses (an IPv6 host has a whole /64, so addresses are counted
// by /64 like the per-address connection limit) evicts entries instead of
// growing the map. At about 100 bytes an entry that is ~6 MiB at most.
const MaxFailAddrs = 65536

// AuditBurst is how many failure lines per address and window the audit
// trail writes; further failures in the window are counted and reported
// in one summary line (FailResult.Suppressed), so a flood cannot turn the
// log into a denial of service.
const AuditBurst = 5

// FailTracker counts failed authentications per address and refuses an
// address for Cooldown once it failed Limit times within Window. It is
// pure (time is passed in, as nanoseconds on any monotonic scale) and
// safe for concurrent use. Blocked, asked at every accept, takes no lock
// while no address is in its cool-down.
type FailTracker struct {
	mu       sync.Mutex
	set      FailSettings
	m        map[netip.Addr]*failEntry
	max      int
	maxUntil atomic.Int64 // the latest cool-down end ever set: no lock before it
	evicted  atomic.Int64
}

type failEntry struct {
	start      int64 // window start
	until      int64 // cool-down end, 0 = none
	n          int   // failures in the window
	logged     int   // failure lines written in the window
	suppressed int   // failure lines not written since the last summary
}

// FailResult tells the caller what one failure means.
type FailResult struct {
	Log        bool // write this failure's audit line (within AuditBurst)
	Blocked    bool // this failure started the address's cool-down
	Suppressed int  // failure lines left out since the last report: say so now
}

// NewFailTracker remembers at most max addresses (MaxFailAddrs if <= 0).
func NewFailTracker(set FailSettings, max int) *FailTracker {
	if max <= 0 {
		max = MaxFailAddrs
	}
	return &FailTracker{set: set, m: map[netip.Addr]*failEntry{}, max: max}
}

// SetSettings changes the settings (reload); addresses already in their
// cool-down keep it.
func (f *FailTracker) SetSettings(set FailSettings) {
	f.mu.Lock()
	f.set = set
	f.mu.Unlock()
}

// Fail records a failed authentication of addr (an AddrKey) at now: it
// counts towards the address's cool-down and is bounded in the audit trail.
func (f *FailTracker) Fail(addr netip.Addr, now int64) FailResult { return f.record(addr, now, true) }

// Note records a failure of addr at now that is audited but never counts
// towards a cool-down: a request refused for its level or for need aes!
// (no credential was tried) or any failure of a loopback peer (a local
// user, who could lock every local client out). Its audit line shares the
// address's bound (AuditBurst per window) with Fail's; its Blocked is
// always false.
func (f *FailTracker) Note(addr netip.Addr, now int64) FailResult { return f.record(addr, now, false) }

// record is Fail (count) and Note (!count).
func (f *FailTracker) record(addr netip.Addr, now int64, count bool) FailResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r FailResult
	e := f.m[addr]
	if e == nil {
		if len(f.m) >= f.max {
			f.evict(now)
		}
		e = &failEntry{start: now}
		f.m[addr] = e
	}
	if now-e.start >= int64(f.set.Window) {
		r.Suppressed, e.suppressed = e.suppressed, 0
		e.start, e.n, e.logged = now, 0, 0
	}
	if count {
		e.n++
	}
	if e.logged < AuditBurst {
		e.logged++
		r.Log = true
	} else {
		e.suppressed++
	}
	if count && f.set.Limit > 0 && e.n >= f.set.Limit && now >= e.until {
		e.until = now + int64(f.set.Cooldown)
		if e.until > f.maxUntil.Load() {
			f.maxUntil.Store(e.until)
		}
		r.Blocked = true
		r.Suppressed += e.suppressed
		e.suppressed, e.start, e.n, e.logged = 0, now, 0, 0
	}
	return r
}

// Blocked reports whether addr is in its cool-down at now.
func (f *FailTracker) Blocked(addr netip.Addr, now int64) bool {
	if now >= f.maxUntil.Load() {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.m[addr]
	return e != nil && now < e.until
}

// evictScan bounds the work of one eviction.
const evictScan = 16

// evict makes room for one address: among a few entries (Go's map order is
// random) it drops one whose window and cool-down are over, else the one
// not in a cool-down with the oldest window, else the one whose cool-down
// ends first. Evicted entries are counted (Evicted).
func (f *FailTracker) evict(now int64) {
	var victim netip.Addr
	var best *failEntry
	i := 0
	for a, e := range f.m {
		if now-e.start >= int64(f.set.Window) && now >= e.until {
			victim, best = a, e
			break
		}
		if best == nil || worse(e, best, now) {
			victim, best = a, e
		}
		if i++; i == evictScan {
			break
		}
	}
	delete(f.m, victim)
	f.evicted.Add(1)
}

// worse: e is a better eviction victim than b.
func worse(e, b *failEntry, now int64) bool {
	eb, bb := now < e.until, now < b.until
	if eb != bb {
		return !eb
	}
	if eb {
		return e.until < b.until
	}
	return e.start < b.start
}

// Len is the number of addresses remembered; Evicted how many were
// dropped to make room.
func (f *FailTracker) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

// Evicted: see Len.
func (f *FailTracker) Evicted() int64 { return f.evicted.Load() }

// AddrKey is the address failures and rate limits count against: an IPv4
// address, or the /64 of an IPv6 one (one host or LAN usually holds a
// whole /64, so single IPv6 addresses would not limit anything).
func AddrKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}
