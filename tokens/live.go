package tokens

import (
	"math"
	"time"
)

// Whether any token is live (neither revoked nor expired) decides whether
// tokens lift protected mode (server/protected.go), which is asked at
// every TCP connect and every tick: it must cost an atomic load, not a
// walk over up to MaxTokens entries. So each table keeps a hint,
// liveUntil:
//
//	> 0   some token is live until at least this time (unix ns);
//	      math.MaxInt64 when one never expires
//	<= 0  none was live when last looked; look again from -liveUntil on
//
// A renewed token's expiry only moves forward, so a hint > 0 is a lower
// bound: once it passes, one walk finds the new latest expiry (or none).
// "None" is looked at again at most once a second, in case a renewal
// raced with the walk.

// liveRecheck is how long a "no live token" answer is trusted.
const liveRecheck = int64(time.Second)

// Live reports whether the Set holds a token that works at now: neither
// revoked nor expired. A Set never loaded holds none. It allocates nothing.
func (s *Set) Live(now time.Time) bool {
	t := s.tab.Load()
	if t == nil {
		return false
	}
	n := now.UnixNano()
	u := t.liveUntil.Load()
	switch {
	case u > 0 && n < u:
		return true
	case u <= 0 && n < -u:
		return false
	}
	u = t.latestLive(n)
	if u == 0 {
		u = -(n + liveRecheck)
	}
	t.liveUntil.Store(u)
	return u > 0
}

// latestLive walks t: the latest expiry after n of a token not revoked
// (math.MaxInt64 when one never expires), 0 when none is live at n.
func (t *table) latestLive(n int64) int64 {
	var latest int64
	for _, e := range t.m {
		if e.retired.Load() {
			continue
		}
		exp := e.expires.Load()
		if exp == 0 {
			return math.MaxInt64
		}
		if exp > n && exp > latest {
			latest = exp
		}
	}
	return latest
}
