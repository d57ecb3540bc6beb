// Package keyring holds the manager keys of a running server: the current
// key, the keys rotated out that still decrypt during their grace period,
// and the state of the source they come from (config file or Redis).
//
// It is separate from crypto (pure framing) and redisstore (key names and
// I/O) because its job is the timing between them: live rotation without
// failing requests in flight, and failing closed when a Redis key source is
// configured but no key could ever be read, or when a key this sensor
// enforced vanishes from Redis (a restart without persistence, a FLUSHALL, a
// failover to an empty replica). Only an operator reopens plaintext then:
// `tapline keys delete --allow-plaintext` or manager_enable_unencrypted. The
// fact that a key was enforced survives restarts in a state file (state.go).
//
// It owns the keys in force and the state file; it imports crypto, config
// and redisstore, and must not import server, commands or sensor: the
// server asks it for keys, the commands for its status.
package keyring

import (
	"crypto/subtle"
	"sync"
	"sync/atomic"
	"time"

	"tapline/access"
	"tapline/crypto"
	"tapline/redisstore"
)

// Status describes the key source for sniffer_stat and logs.
type Status struct {
	Source      string    `json:"source"` // "config", "redis" or "none"
	State       string    `json:"state"`  // "ok", "no_key", "missing", "redis_down", "bad_key", "static", "loading"
	Fingerprint string    `json:"fingerprint,omitempty"`
	LoadedAt    time.Time `json:"loaded_at,omitzero"`
	Previous    int       `json:"previous_keys"`
	FailClosed  bool      `json:"fail_closed"`
	LastError   string    `json:"last_error,omitempty"`
	// Reason says why plaintext is refused without a key in Redis (state
	// "missing", or a restart that remembers an enforced key).
	Reason string `json:"reason,omitempty"`
	// StateError is the last failure to read or write the state file; the
	// sensor then keeps its memory in RAM only (and stays closed).
	StateError string `json:"state_error,omitempty"`
}

type entry struct {
	key   crypto.Key
	hk    *crypto.HardenedKey
	until time.Time    // zero for the current key
	level access.Level // stored with the key (keys store --level); None: manager_key_level
}

// snapshot is immutable; readers load it without locks on every request.
type snapshot struct {
	current *entry
	prev    []entry
	status  Status
}

// Ring is safe for concurrent use: one writer (the watcher), many readers.
type Ring struct {
	grace time.Duration
	mu    sync.Mutex // serialises writers
	snap  atomic.Pointer[snapshot]
	store *redisstore.Store // set by Watch; used by Refresh

	refreshMu   sync.Mutex
	lastRefresh time.Time // guarded by refreshMu

	guard guard
}

// New returns an empty ring (no key: plaintext is accepted, like VoIPmonitor
// without a key) whose rotated-out keys stay valid for grace.
func New(grace time.Duration) *Ring {
	r := &Ring{grace: grace}
	r.snap.Store(&snapshot{status: Status{Source: "none", State: "no_key"}})
	return r
}

// Static installs a key from the config file; it never changes afterwards.
func (r *Ring) Static(k crypto.Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snap.Store(&snapshot{current: newEntry(k), status: Status{
		Source: "config", State: "static", Fingerprint: k.Fingerprint(), LoadedAt: time.Now()}})
}

func newEntry(k crypto.Key) *entry { return &entry{key: k, hk: k.Hardened()} }

// Set installs k (nil: the key was deleted) as the current key. The key it
// replaces keeps working until now+grace, so clients mid-rotation do not fail.
func (r *Ring) Set(k *crypto.Key, now time.Time) { r.SetKey(k, access.None, now) }

// SetKey is Set for a key stored with a level (None: manager_key_level).
func (r *Ring) SetKey(k *crypto.Key, lvl access.Level, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snap.Load()
	if k != nil && old.current != nil && sameKey(old.current.key, *k) && old.current.level == lvl {
		r.storeStatus(old, func(s *Status) { s.State = "ok"; s.LastError = ""; s.Reason = ""; s.FailClosed = false })
		return
	}
	next := &snapshot{status: old.status}
	for _, p := range old.prev {
		if now.Before(p.until) && (k == nil || !sameKey(p.key, *k)) {
			next.prev = append(next.prev, p)
		}
	}
	if old.current != nil {
		e := *old.current
		e.until = now.Add(r.grace)
		next.prev = append([]entry{e}, next.prev...)
	}
	next.status.Source, next.status.State, next.status.LoadedAt = "redis", "no_key", now
	next.status.Fingerprint, next.status.LastError, next.status.FailClosed = "", "", false
	next.status.Reason = ""
	if k != nil {
		next.current = newEntry(*k)
		next.current.level = lvl
		next.status.State, next.status.Fingerprint = "ok", k.Fingerprint()
	}
	next.status.Previous = len(next.prev)
	r.snap.Store(next)
}

// SetState records a source problem ("redis_down", "bad_key") without
// touching the keys: the last key loaded keeps serving. failClosed is set
// when no key was ever loaded from the configured source, and always for
// "bad_key" (a key was meant to be in force); SetState also
// fails closed when the ring has no key but remembers enforcing one.
func (r *Ring) SetState(state, errText string, failClosed bool) {
	why, _ := r.guard.enforcedSince()
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snap.Load()
	r.storeStatus(old, func(s *Status) {
		s.Source, s.State, s.LastError, s.FailClosed, s.Reason = "redis", state, errText, failClosed, ""
		if why != "" && old.current == nil {
			s.FailClosed, s.Reason = true, why+"; no key loaded, plaintext refused"
		}
		if state == "bad_key" { // someone meant to set a key: never fall back to plaintext
			s.FailClosed, s.Reason = true, "the manager key stored in Redis is invalid; "+old.kept("no key loaded")+"; plaintext refused until a valid key is stored"
		}
	})
}

// setMissing records that Redis has no key although this sensor enforced
// one: the keys stay as they are (the last key keeps serving, like with
// Redis down) and plaintext stays refused.
func (r *Ring) setMissing(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snap.Load()
	r.storeStatus(old, func(s *Status) {
		s.Source, s.State, s.LastError, s.FailClosed = "redis", "missing", "", true
		s.Reason = "manager key missing from Redis after " + why + "; " + old.kept("no key to serve with") +
			"; plaintext refused until a key is stored or `tapline keys delete --allow-plaintext`"
	})
}

// kept names the key that keeps serving while Redis has no usable one, or
// says none when there is no key.
func (s *snapshot) kept(none string) string {
	if s.current == nil {
		return none
	}
	return "keeping key " + s.current.key.Fingerprint()
}

// setStateError shows a state file problem in the status ("" clears it).
func (r *Ring) setStateError(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.storeStatus(r.snap.Load(), func(s *Status) { s.StateError = text })
}

func (r *Ring) storeStatus(old *snapshot, f func(*Status)) {
	next := *old
	f(&next.status)
	r.snap.Store(&next)
}

// Current returns the key replies are encrypted with.
func (r *Ring) Current() (crypto.Key, bool) {
	s := r.snap.Load()
	if s.current == nil {
		return crypto.Key{}, false
	}
	return s.current.key, true
}

// LegacyKeys lists the keys a legacy request may be encrypted with: the
// current one first, then those still in their grace period.
func (r *Ring) LegacyKeys(now time.Time) []crypto.Key {
	s := r.snap.Load()
	keys := make([]crypto.Key, 0, 1+len(s.prev))
	if s.current != nil {
		keys = append(keys, s.current.key)
	}
	for _, p := range s.prev {
		if now.Before(p.until) {
			keys = append(keys, p.key)
		}
	}
	return keys
}

// Lookup finds a hardened key by its id among the current key and those in
// their grace period; nil when unknown or expired.
func (r *Ring) Lookup(kid [8]byte) *crypto.HardenedKey {
	s := r.snap.Load()
	if s.current != nil && s.current.hk.KID == kid {
		return s.current.hk
	}
	now := time.Now()
	for _, p := range s.prev {
		if p.hk.KID == kid && now.Before(p.until) {
			return p.hk
		}
	}
	return nil
}

// KeyLevel is the level stored with the hardened key kid (the current key
// or one in its grace period); None when it has none (manager_key_level
// applies) or kid is unknown.
func (r *Ring) KeyLevel(kid [8]byte) access.Level {
	s := r.snap.Load()
	if s.current != nil && s.current.hk.KID == kid {
		return s.current.level
	}
	for _, p := range s.prev {
		if p.hk.KID == kid {
			return p.level
		}
	}
	return access.None
}

// LegacyLevel is KeyLevel for a key that decrypted a legacy request (the
// legacy framing names no key id; the key is compared whole, in constant
// time).
func (r *Ring) LegacyLevel(k crypto.Key) access.Level {
	s := r.snap.Load()
	if s.current != nil && sameKey(s.current.key, k) {
		return s.current.level
	}
	for _, p := range s.prev {
		if sameKey(p.key, k) {
			return p.level
		}
	}
	return access.None
}

// RequireAES says whether plaintext TCP requests must be refused (unless the
// command is allowed in plaintext): a key exists, or a configured key source
// has never answered, or the key this sensor enforced is missing (fail
// closed rather than open).
func (r *Ring) RequireAES() bool {
	s := r.snap.Load()
	return s.current != nil || s.status.FailClosed
}

// Status returns the source state.
func (r *Ring) Status() Status { return r.snap.Load().status }

func sameKey(a, b crypto.Key) bool {
	return subtle.ConstantTimeCompare(a.AES, b.AES) == 1 && subtle.ConstantTimeCompare(a.IV, b.IV) == 1
}
