package tokens

import (
	"crypto/subtle"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Why a token is refused. Messages are safe to show a client: they never
// hold the token.
var (
	ErrUnknown     = errors.New("unknown token")
	ErrExpired     = errors.New("token expired")
	ErrRevoked     = errors.New("token revoked")
	ErrAddress     = errors.New("token not valid from this address")
	ErrUnavailable = errors.New("tokens unavailable (the token store was never read)")
)

// Set is the tokens in force, checked by the server at every
// authentication. Replace installs a new table whole (Watch calls it), so
// Check never waits for a lock.
type Set struct {
	tab atomic.Pointer[table]
	mu  sync.Mutex // Replace

	// counters
	ok, unknown, malformed, expired, revoked, address, unavailable atomic.Int64
	overLimit                                                      atomic.Int64 // records not loaded: over MaxTokens
}

type table struct {
	m         map[string]*Entry
	liveUntil atomic.Int64 // whether a token is live: see live.go
}

// NewSet returns a Set that was never loaded: every token is refused
// with ErrUnavailable until the first Replace.
func NewSet() *Set { return &Set{} }

// Check authenticates a token text presented from peer (invalid for a
// Unix socket peer, which no address range contains) at now. It allocates
// nothing. The secret is checked before anything about the token is
// told: only a holder of the secret learns that it expired or was revoked.
func (s *Set) Check(tok []byte, peer netip.Addr, now time.Time) (*Entry, error) {
	t := s.tab.Load()
	if t == nil {
		s.unavailable.Add(1)
		return nil, ErrUnavailable
	}
	id, secret, err := Parse(tok)
	if err != nil {
		s.malformed.Add(1)
		return nil, ErrUnknown
	}
	e := t.m[string(id)]
	h := HashSecret(secret)
	if e == nil || subtle.ConstantTimeCompare(h[:], e.hash[:]) != 1 {
		s.unknown.Add(1)
		return nil, ErrUnknown
	}
	if !e.allows(peer) {
		s.address.Add(1)
		return e, ErrAddress
	}
	switch err := e.Use(now); err {
	case nil:
	case ErrExpired:
		s.expired.Add(1)
		return e, err
	default:
		s.revoked.Add(1)
		return e, err
	}
	s.ok.Add(1)
	return e, nil
}

// Loaded reports whether the Set was ever loaded.
func (s *Set) Loaded() bool { return s.tab.Load() != nil }

// Len is the number of tokens loaded (revoked and expired ones included;
// Live tells whether one works).
func (s *Set) Len() int {
	if t := s.tab.Load(); t != nil {
		return len(t.m)
	}
	return 0
}

// Replace installs recs as the tokens in force. A token loaded before and
// unchanged keeps its Entry (sessions using it go on) and the later of
// the two expiries and last uses; any other Entry of the old table is
// retired, so sessions authenticated with a token revoked or removed stop
// at their next request. At most MaxTokens records are loaded; it returns
// how many were refused beyond that.
func (s *Set) Replace(recs []Record) (refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.tab.Load()
	t := &table{m: make(map[string]*Entry, min(len(recs), MaxTokens))}
	for i := range recs {
		r := &recs[i]
		if len(t.m) == MaxTokens {
			refused++
			continue
		}
		if r.Validate() != nil || t.m[r.ID] != nil {
			refused++
			continue
		}
		var e *Entry
		if old != nil {
			if o := old.m[r.ID]; o != nil && o.same(r) {
				e = o
				maxStore(&e.expires, nanos(r.Expires), e.renew)
				maxStore(&e.lastUsed, nanos(r.LastUsed), true)
			}
		}
		if e == nil {
			e = newEntry(r)
		}
		t.m[r.ID] = e
	}
	t.liveUntil.Store(t.latestLive(0)) // a past expiry is found out at the first Live
	s.tab.Store(t)
	if old != nil {
		for id, o := range old.m {
			if t.m[id] != o {
				o.retired.Store(true)
			}
		}
	}
	s.overLimit.Add(int64(refused))
	return refused
}

// maxStore raises a to v when v is later; for an expiry only when the
// token is renewed (a stored expiry of a fixed token is its expiry).
func maxStore(a *atomic.Int64, v int64, later bool) {
	if !later {
		a.Store(v)
		return
	}
	if v > a.Load() {
		a.Store(v)
	}
}

// Use is a token's last use and current expiry, to write back to the store.
type Use struct {
	ID       string
	LastUsed time.Time
	Expires  time.Time
}

// Uses returns the tokens used since the last call (at most MaxTokens by
// construction) and marks them written.
func (s *Set) Uses() []Use {
	t := s.tab.Load()
	if t == nil {
		return nil
	}
	var out []Use
	for id, e := range t.m {
		lu := e.lastUsed.Load()
		if lu == 0 || lu == e.written.Load() || e.retired.Load() {
			continue
		}
		e.written.Store(lu)
		out = append(out, Use{ID: id, LastUsed: fromNanos(lu), Expires: e.Expires()})
	}
	return out
}

// Stats are the Set's counters.
type Stats struct {
	Loaded                                                         int
	OK, Unknown, Malformed, Expired, Revoked, Address, Unavailable int64
	OverLimit                                                      int64
}

// Stats returns the counters.
func (s *Set) Stats() Stats {
	return Stats{Loaded: s.Len(), OK: s.ok.Load(), Unknown: s.unknown.Load(), Malformed: s.malformed.Load(),
		Expired: s.expired.Load(), Revoked: s.revoked.Load(), Address: s.address.Load(),
		Unavailable: s.unavailable.Load(), OverLimit: s.overLimit.Load()}
}
