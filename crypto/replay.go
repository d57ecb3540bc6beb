package crypto

import (
	"sync"
	"sync/atomic"
	"time"
)

// ReplayCache remembers accepted request frames so a captured request cannot
// be sent again. A ReplayCache is safe for concurrent use.
//
// It is bounded by time, not by refusing when full: Open accepts a frame
// only while its timestamp is within ±window of now, so a frame whose
// timestamp is older than now-window is refused anyway and its entry can
// go. Entries are therefore kept in buckets by frame timestamp (one second
// wide, or window/16 for windows under 16 s), and a bucket is dropped as soon as every timestamp it can
// hold is older than the window. (This assumes the receiver's wall clock
// does not step back by more than the window; NTP slews it.)
//
// Memory is bounded per key id: a kid holds at most perKey entries, and at
// most maxKeys kids have entries at once, so one key holder flooding the
// server can neither grow memory nor push other keys out. A kid over its
// budget first gives up its oldest buckets that lie entirely in the past
// and raises its floor past them: a frame of that kid older than the floor
// is refused from then on, so forgetting those entries reopens no replay,
// and clients sending with the current time are not affected.
//
// Buckets that are not yet entirely in the past cannot be given up that way
// (the floor would then refuse frames dated now), so they must not be able
// to fill the budget: a key holder sending frames dated up to the window
// ahead would otherwise lock out every client of its key until its frames
// are a window old (issue 9 item 7). So once a kid holds half its budget
// (under pressure), a frame dated in a bucket after the current one is
// refused (counted in FutureRefused) if it is dated more than
// futureTolerance ahead, or if the kid's future buckets already hold half
// the budget. The other half is left to the current bucket and the past,
// which the oldest past buckets make room for: to refuse a client whose
// clock is in the server's current bucket, a flood must bring more than
// perKey/2 frames into that one bucket. Only clients whose clocks run ahead
// of the server (later buckets) or behind the raised floor are refused
// during a flood. Every refusal because of a bound is counted (Full).
//
// Entries are (kid, ref, seq): every request frame has a fresh ref.
type ReplayCache struct {
	mu      sync.Mutex
	window  int64 // ms
	width   int64 // bucket width, ms
	perKey  int
	maxKeys int
	kids    map[[8]byte]*replayKid
	n       int   // entries over all kids
	sweepAt int64 // unix ms when the earliest bucket expires; 0 = none

	keyFull  atomic.Int64 // frames refused: their kid over its budget
	keysFull atomic.Int64 // frames refused: maxKeys kids already have entries
	future   atomic.Int64 // frames refused: dated ahead while their kid is under pressure
	dropped  atomic.Int64 // buckets given up early to stay within a budget
}

// futureTolerance is how far ahead of now a frame may be dated and still be
// admitted while its kid is under pressure: window/8, at least one bucket
// and at most 2 s, so clients whose clocks are a little ahead keep working
// while a flood dated far ahead is refused.
func (c *ReplayCache) futureTolerance() int64 {
	return max(c.width, min(c.window/8, 2000))
}

// replayKid holds one key id's entries.
type replayKid struct {
	n       int
	floor   int64 // unix ms: frames dated before it are refused (their entries were given up)
	buckets map[int64]map[replayEntry]struct{}
}

type replayEntry struct {
	ref [16]byte
	seq uint32
}

// NewReplayCache returns a cache for Openers using the same window, holding
// at most perKey entries for each of at most maxKeys key ids. It panics if
// window, perKey or maxKeys is not positive.
func NewReplayCache(window time.Duration, perKey, maxKeys int) *ReplayCache {
	if window <= 0 || perKey <= 0 || maxKeys <= 0 {
		panic("crypto: NewReplayCache: window, perKey and maxKeys must be positive")
	}
	w := window.Milliseconds()
	return &ReplayCache{
		window:  max(w, 1),
		width:   min(max(w/16, 1), 1000),
		perKey:  perKey,
		maxKeys: maxKeys,
		kids:    make(map[[8]byte]*replayKid),
	}
}

// Len is the number of remembered frames.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// ReplayStats counts what the cache's bounds did.
type ReplayStats struct {
	Entries  int   // remembered frames now
	Keys     int   // key ids with entries now
	KeyFull  int64 // frames refused because their key id was over its budget
	KeysFull int64 // frames refused because maxKeys key ids had entries
	// FutureRefused counts frames refused because they were dated ahead
	// of the server's current bucket while their key id held half its
	// budget (see ReplayCache).
	FutureRefused int64
	Dropped       int64 // buckets given up early (their frames are refused by age)
}

// Full is the number of frames refused because a bound was hit.
func (s ReplayStats) Full() int64 { return s.KeyFull + s.KeysFull + s.FutureRefused }

// Stats returns the counters, for sniffer_stat.
func (c *ReplayCache) Stats() ReplayStats {
	c.mu.Lock()
	st := ReplayStats{Entries: c.n, Keys: len(c.kids)}
	c.mu.Unlock()
	st.KeyFull, st.KeysFull, st.Dropped = c.keyFull.Load(), c.keysFull.Load(), c.dropped.Load()
	st.FutureRefused = c.future.Load()
	return st
}

// bucket is the index of the bucket holding timestamp ts (unix ms).
func (c *ReplayCache) bucket(ts int64) int64 { return floorDiv(ts, c.width) }

// expiry is when every frame bucket b can hold is older than the window:
// from then on Open refuses them all by their timestamp.
func (c *ReplayCache) expiry(b int64) int64 { return (b+1)*c.width + c.window }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// admit reports whether the frame (k, dated ts) is new and the bounds allow
// it, and records it if commit is set. Only commits count against bounds:
// a frame that failed other checks changes nothing.
func (c *ReplayCache) admit(kid [8]byte, k replayEntry, ts, now time.Time, commit bool) bool {
	tsMS, nowMS := ts.UnixMilli(), now.UnixMilli()
	b := c.bucket(tsMS)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sweepAt != 0 && nowMS >= c.sweepAt {
		c.sweep(nowMS)
	}
	if nowMS >= c.expiry(b) {
		return false // older than the window: refused by its timestamp anyway
	}
	kc := c.kids[kid]
	if kc != nil {
		if tsMS < kc.floor {
			return false
		}
		if _, seen := kc.buckets[b][k]; seen {
			return false
		}
	}
	if !commit {
		return true
	}
	if kc == nil {
		if len(c.kids) >= c.maxKeys {
			c.keysFull.Add(1)
			return false
		}
		kc = &replayKid{buckets: make(map[int64]map[replayEntry]struct{})}
		c.kids[kid] = kc
	}
	if c.refuseAhead(kc, b, tsMS, nowMS) {
		c.future.Add(1)
		return false
	}
	if kc.n >= c.perKey && !c.makeRoom(kc, b, nowMS) {
		c.keyFull.Add(1)
		return false
	}
	set := kc.buckets[b]
	if set == nil {
		set = make(map[replayEntry]struct{})
		kc.buckets[b] = set
		if e := c.expiry(b); c.sweepAt == 0 || e < c.sweepAt {
			c.sweepAt = e
		}
	}
	set[k] = struct{}{}
	kc.n++
	c.n++
	return true
}

// refuseAhead reports whether a frame dated tsMS, in bucket b, must be
// refused because it is dated ahead of the current bucket while kc holds
// half its budget: more than futureTolerance ahead, or with kc's buckets
// after the current one already holding half the budget. Entries that
// cannot be given up thus never take more than about half the budget.
func (c *ReplayCache) refuseAhead(kc *replayKid, b, tsMS, nowMS int64) bool {
	nowB := c.bucket(nowMS)
	if b <= nowB || kc.n < c.perKey/2 {
		return false
	}
	if tsMS > nowMS+c.futureTolerance() {
		return true
	}
	ahead := 0
	for ob, set := range kc.buckets { // at most about 2·window/width buckets
		if ob > nowB {
			ahead += len(set)
		}
	}
	return ahead >= c.perKey/2
}

// makeRoom gives up kc's oldest buckets while it is over budget, as long as
// they lie entirely in the past (before now) and are older than bucket b of
// the frame being admitted, raising kc's floor past each one so their
// frames stay refused. It reports whether kc is under budget again.
func (c *ReplayCache) makeRoom(kc *replayKid, b, nowMS int64) bool {
	for kc.n >= c.perKey {
		oldest, found := int64(0), false
		for ob := range kc.buckets {
			if !found || ob < oldest {
				oldest, found = ob, true
			}
		}
		end := (oldest + 1) * c.width
		if !found || oldest >= b || end > nowMS {
			return false
		}
		n := len(kc.buckets[oldest])
		delete(kc.buckets, oldest)
		kc.n -= n
		c.n -= n
		kc.floor = max(kc.floor, end)
		c.dropped.Add(1)
	}
	return true
}

// sweep drops every bucket that has expired at now and every kid left
// without entries, and finds the next expiry. A kid's floor can go with it:
// its last bucket expired, so everything below the floor is older than the
// window too.
func (c *ReplayCache) sweep(nowMS int64) {
	c.sweepAt = 0
	for kid, kc := range c.kids {
		for b, set := range kc.buckets {
			e := c.expiry(b)
			if nowMS >= e {
				kc.n -= len(set)
				c.n -= len(set)
				delete(kc.buckets, b)
				continue
			}
			if c.sweepAt == 0 || e < c.sweepAt {
				c.sweepAt = e
			}
		}
		if kc.n == 0 {
			delete(c.kids, kid)
		}
	}
}
