package state

import (
	"math/rand/v2"
	"time"
)

// Config sets the store's identity, timeouts and bounds. Zero values mean
// the documented defaults.
type Config struct {
	IDSensor    int           // reported in rows and the summary
	CallLinger  time.Duration // ended calls stay listed this long (default 5s)
	CallTimeout time.Duration // calls with no packet for this long are expired (default 300s)

	Registers      bool          // track REGISTER (off in the zero Config; tapline's config turns it on)
	RegTimeout     time.Duration // REGISTER with no final response within this → Failed (default 32s, Timer F)
	RegExpireGrace time.Duration // OK rows become Expired this long after expires_at (default 30s; negative: none)
	RegKeep        time.Duration // rows leave this long after their last state change (default 2h)
	RegKeepFailed  time.Duration // rows that were never OK leave this long after failing (default 60s)

	MaxCalls     int // calls tracked at once (default 1,000,000); new ones beyond are dropped and counted
	MaxRegisters int // registrations tracked at once (default 1,000,000)

	MaxSIPPerCall      int // SIP messages kept per call for active_call_info (default 32; negative: none)
	MaxSIPBytesPerCall int // bytes of SIP kept per call (default 16 KiB)

	// FirstRef is the first callreference; 0 picks a random base (so
	// references differ across restarts, like VoIPmonitor's pointers).
	// Tests set it to get stable output.
	FirstRef uint64
}

// Defaults.
const (
	defaultCallLinger     = 5 * time.Second
	defaultCallTimeout    = 300 * time.Second
	defaultRegTimeout     = 32 * time.Second
	DefaultRegExpireGrace = 30 * time.Second
	defaultRegKeep        = 2 * time.Hour
	defaultRegKeepFailed  = 60 * time.Second
	defaultMaxCalls       = 1_000_000
	defaultMaxRegisters   = 1_000_000
	defaultMaxSIPPerCall  = 32
	defaultMaxSIPBytes    = 16 << 10
)

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	dur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	dur(&c.CallLinger, defaultCallLinger)
	dur(&c.CallTimeout, defaultCallTimeout)
	dur(&c.RegTimeout, defaultRegTimeout)
	dur(&c.RegExpireGrace, DefaultRegExpireGrace)
	dur(&c.RegKeep, defaultRegKeep)
	dur(&c.RegKeepFailed, defaultRegKeepFailed)
	if c.RegExpireGrace < 0 {
		c.RegExpireGrace = 0
	}
	num := func(n *int, def int) {
		if *n == 0 {
			*n = def
		}
	}
	num(&c.MaxCalls, defaultMaxCalls)
	num(&c.MaxRegisters, defaultMaxRegisters)
	num(&c.MaxSIPPerCall, defaultMaxSIPPerCall)
	num(&c.MaxSIPBytesPerCall, defaultMaxSIPBytes)
	if c.FirstRef == 0 {
		// Looks like VoIPmonitor's heap pointers (0x55…000) and is random.
		c.FirstRef = 0x5500_0000_0000 + rand.Uint64N(1<<40)
	}
	c.FirstRef &^= nShards - 1 // the low bits carry the shard index
	return c
}
