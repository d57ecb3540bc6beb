package crypto

import (
	"sync"
	"time"
)

// ReplayCache remembers accepted request frames so a captured request cannot
// be sent again. Open accepts a frame only while its timestamp is within
// ±window of now, so a frame can be accepted during at most 2×window of
// receiver time; the cache keeps each entry at least that long (while frames
// keep arriving, no more than about 4×window), in two generations of maps
// that rotate, so forgetting is O(1) and needs no per-entry timers.
//
// Entries are (kid, ref, seq): a multi-frame request has one ref for all its
// frames, and each frame is protected on its own.
//
// The cache is bounded. When it holds max entries, new request frames are
// refused (fail closed) instead of letting a flood grow memory or evict
// entries early, which would reopen the replay window. A ReplayCache is safe
// for concurrent use.
type ReplayCache struct {
	mu        sync.Mutex
	keep      time.Duration // 2×window: how long an entry must be kept
	max       int
	cur, prev map[replayKey]struct{}
	rotated   time.Time // when cur was started; zero before first use
}

type replayKey struct {
	kid [8]byte
	ref [16]byte
	seq uint32
}

// NewReplayCache returns a cache for Openers using the same window, holding
// at most max entries. It panics if window or max is not positive.
func NewReplayCache(window time.Duration, max int) *ReplayCache {
	if window <= 0 || max <= 0 {
		panic("crypto: NewReplayCache: window and max must be positive")
	}
	return &ReplayCache{
		keep: 2 * window,
		max:  max,
		cur:  make(map[replayKey]struct{}),
		prev: make(map[replayKey]struct{}),
	}
}

// Len is the number of remembered frames.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.prev)
}

// admit reports whether k is new and the cache has room, and records it if
// commit is set.
func (c *ReplayCache) admit(k replayKey, now time.Time, commit bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rotate(now)
	_, seen := c.cur[k]
	if !seen {
		_, seen = c.prev[k]
	}
	fresh := !seen && len(c.cur)+len(c.prev) < c.max
	if fresh && commit {
		c.cur[k] = struct{}{}
	}
	return fresh
}

// rotate starts a new generation every keep. Every entry of cur was added
// before rotated+keep, so after a rotation at now the old prev is older than
// keep and can go; if now is keep past that, cur can go too. A clock that
// steps back never rotates early.
func (c *ReplayCache) rotate(now time.Time) {
	if c.rotated.IsZero() {
		c.rotated = now
		return
	}
	age := now.Sub(c.rotated)
	switch {
	case age < c.keep:
		return
	case age < 2*c.keep:
		clear(c.prev)
		c.cur, c.prev = c.prev, c.cur
	default:
		clear(c.cur)
		clear(c.prev)
	}
	c.rotated = now
}
