package tokens

import (
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"tapline/access"
)

// Entry is one token in force in a Set. A server keeps the Entry of the
// token a connection authenticated with and calls Use before each of its
// requests: that is how a token expires, is renewed or is revoked in the
// middle of a session. Its identity fields never change; a record that
// changes gets a new Entry and the old one is retired.
type Entry struct {
	id, name string
	level    access.Level
	cidrs    []netip.Prefix
	hash     Hash
	ttl      int64 // nanoseconds; with renew
	renew    bool
	created  time.Time

	expires  atomic.Int64 // unix nanoseconds, 0 = never
	lastUsed atomic.Int64 // unix nanoseconds, 0 = never
	written  atomic.Int64 // lastUsed as last handed to WriteBack
	retired  atomic.Bool  // revoked, or no longer in the store
}

func newEntry(r *Record) *Entry {
	e := &Entry{id: r.ID, name: r.Name, level: r.Level, cidrs: slices.Clone(r.CIDRs), hash: r.Hash,
		ttl: int64(r.TTL), renew: r.Renew, created: r.Created}
	e.expires.Store(nanos(r.Expires))
	e.lastUsed.Store(nanos(r.LastUsed))
	e.written.Store(nanos(r.LastUsed))
	e.retired.Store(!r.Revoked.IsZero())
	return e
}

// same reports whether r describes e's token unchanged (its mutable
// fields, expiry and last use, aside).
func (e *Entry) same(r *Record) bool {
	return e.id == r.ID && e.name == r.Name && e.level == r.Level && slices.Equal(e.cidrs, r.CIDRs) &&
		e.hash == r.Hash && e.ttl == int64(r.TTL) && e.renew == r.Renew && r.Revoked.IsZero() && !e.retired.Load()
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// ID is the token's public id.
func (e *Entry) ID() string { return e.id }

// Name is the token's name ("" when it has none).
func (e *Entry) Name() string { return e.name }

// Level is the level the token carries.
func (e *Entry) Level() access.Level { return e.level }

// Expires is when the token stops working (zero: never). A renewed token's
// expiry moves with every use.
func (e *Entry) Expires() time.Time { return fromNanos(e.expires.Load()) }

// Identity is the connection identity the token gives.
func (e *Entry) Identity() access.Identity {
	return access.Identity{Level: e.level, Via: access.ViaToken, Name: "token:" + e.id, Token: e.id}
}

// Use is one use of the token at now: ErrRevoked once it was revoked or
// removed from the store, ErrExpired past its expiry; otherwise it records
// the use and, for a renewed token, pushes the expiry to now+TTL. It
// allocates nothing.
func (e *Entry) Use(now time.Time) error {
	if e.retired.Load() {
		return ErrRevoked
	}
	n := now.UnixNano()
	if exp := e.expires.Load(); exp != 0 && n >= exp {
		return ErrExpired
	}
	// Written at most every useGrain: every connection of a shared token
	// writes here on every request, and a store each time would bounce
	// the cache line between cores for nothing a reader can see.
	if e.renew && n+e.ttl-e.expires.Load() >= useGrain {
		e.expires.Store(n + e.ttl)
	}
	if n-e.lastUsed.Load() >= useGrain {
		e.lastUsed.Store(n)
	}
	return nil
}

// useGrain is the precision of a use's record (last used, a renewed
// expiry): far below the write-back interval and any TTL a token has.
const useGrain = int64(100 * time.Millisecond)

// allows reports whether peer may use the token.
func (e *Entry) allows(peer netip.Addr) bool {
	if len(e.cidrs) == 0 {
		return true
	}
	return peer.IsValid() && access.Contains(e.cidrs, peer)
}
