package state

import (
	"sync/atomic"
	"time"

	"tapline/sip"
)

// nShards splits each table so that ingest goroutines and snapshots rarely
// meet on one lock. A power of two: callreferences carry the shard index in
// their low bits.
const nShards = 64

// sweepEvery is how often (in store clock) expiry scans the tables.
const sweepEvery = time.Second

// Store is the live call and registration tables. All methods are safe for
// concurrent use.
type Store struct {
	cfg   Config
	calls [nShards]callShard
	regs  [nShards]regShard

	clock     atomic.Int64 // newest packet or Advance time, unix ns
	nextSweep atomic.Int64 // clock value at which the next sweep runs
	seq       atomic.Uint64
	regSeq    atomic.Uint64
	nCalls    atomic.Int64 // tracked calls, for MaxCalls
	nRegs     atomic.Int64 // tracked registration keys, for MaxRegisters
	invalid   atomic.Uint64
}

// New returns an empty store.
func New(cfg Config) *Store {
	s := &Store{cfg: cfg.withDefaults()}
	for i := range s.calls {
		s.calls[i].init()
		s.regs[i].init()
	}
	return s
}

// Counts are the store's gauges and counters.
type Counts struct {
	Calls     int // listed calls (active and lingering): totalcalls
	Registers int // listed registrations: totalregisters

	Ingested        uint64 // SIP messages given to Ingest
	Invalid         uint64 // messages without a Call-ID
	Ignored         uint64 // out-of-dialog methods we do not track (OPTIONS, MESSAGE, …, REGISTER when off)
	Orphans         uint64 // dialog requests/responses for no tracked call or REGISTER (ignored)
	Retransmissions uint64 // INVITE, 2xx and REGISTER retransmissions (no state change)

	CallsCreated     uint64
	CallsClosed      uint64 // ended calls removed after CallLinger
	CallsExpired     uint64 // calls removed after CallTimeout without packets
	RegistersCreated uint64
	RegistersRemoved uint64
	RegFailures      uint64 // failed or timed-out REGISTER transactions

	DroppedCalls     uint64 // new calls not tracked: MaxCalls reached
	DroppedRegisters uint64 // new registrations not tracked: MaxRegisters reached
	SIPNotKept       uint64 // messages not kept for active_call_info (per-call limits)
}

// shardStats are a shard's counters, guarded by its mutex.
type shardStats struct {
	ingested, ignored, orphans, retrans uint64
	created, closed, expired, removed   uint64
	regFailures, dropped, sipNotKept    uint64
	listed                              int // published records (registers: with a state)
}

func (c *Counts) add(st *shardStats) {
	c.Ingested += st.ingested
	c.Ignored += st.ignored
	c.Orphans += st.orphans
	c.Retransmissions += st.retrans
	c.SIPNotKept += st.sipNotKept
}

// Counts sums the shards' counters (each shard locked briefly).
func (s *Store) Counts() Counts {
	c := Counts{Invalid: s.invalid.Load()}
	for i := range s.calls {
		sh := &s.calls[i]
		sh.mu.Lock()
		c.add(&sh.stats)
		c.Calls += len(sh.live)
		c.CallsCreated += sh.stats.created
		c.CallsClosed += sh.stats.closed
		c.CallsExpired += sh.stats.expired
		c.DroppedCalls += sh.stats.dropped
		sh.mu.Unlock()
	}
	for i := range s.regs {
		sh := &s.regs[i]
		sh.mu.Lock()
		c.add(&sh.stats)
		c.Registers += sh.stats.listed
		c.RegistersCreated += sh.stats.created
		c.RegistersRemoved += sh.stats.removed
		c.RegFailures += sh.stats.regFailures
		c.DroppedRegisters += sh.stats.dropped
		sh.mu.Unlock()
	}
	return c
}

// Now is the store's clock: the newest packet time seen, or the last
// Advance. Zero before anything arrived.
func (s *Store) Now() time.Time {
	n := s.clock.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// observe moves the clock to t if it is newer and returns the clock.
func (s *Store) observe(t time.Time) int64 {
	if t.IsZero() {
		return s.clock.Load()
	}
	n := t.UnixNano()
	for {
		cur := s.clock.Load()
		if n <= cur {
			return cur
		}
		if s.clock.CompareAndSwap(cur, n) {
			return n
		}
	}
}

// Advance moves the clock forward without a packet (live: a wall-clock
// ticker; replay: idle periods) and runs expiry.
func (s *Store) Advance(now time.Time) {
	n := s.observe(now)
	s.nextSweep.Store(n + int64(sweepEvery))
	s.sweep(n)
}

// Ingest applies one parsed SIP message seen in packet p. m's slices may
// point into p.Payload: everything kept is copied. Safe for concurrent use.
func (s *Store) Ingest(p *sip.Packet, m *sip.Msg) {
	now := s.observe(p.TS)
	ts := p.TS
	if ts.IsZero() {
		ts = time.Unix(0, now)
	}
	switch {
	case len(m.CallID) == 0:
		s.invalid.Add(1)
	case s.cfg.Registers && methodOf(m.Method) == mRegister:
		s.ingestRegister(p, m, ts)
	default:
		s.ingestCall(p, m, ts)
	}
	s.maybeSweep(now)
}

// maybeSweep runs expiry when the clock crossed the next sweep time; one
// caller wins the CAS, the others go on ingesting.
func (s *Store) maybeSweep(now int64) {
	next := s.nextSweep.Load()
	if now < next || !s.nextSweep.CompareAndSwap(next, now+int64(sweepEvery)) {
		return
	}
	s.sweep(now)
}

func (s *Store) sweep(now int64) {
	for i := range s.calls {
		s.calls[i].sweep(s, now)
	}
	for i := range s.regs {
		s.regs[i].sweep(s, now)
	}
}

// Calls returns a snapshot: pointers to the immutable records of every
// listed call, in no particular order.
func (s *Store) Calls() []*Call {
	out := make([]*Call, 0, s.nCalls.Load()+64)
	for i := range s.calls {
		sh := &s.calls[i]
		sh.mu.Lock()
		out = append(out, sh.live...)
		sh.mu.Unlock()
	}
	return out
}

// Registers returns a snapshot of the listed registrations (those with a
// state), in no particular order.
func (s *Store) Registers() []*Register {
	out := make([]*Register, 0, s.nRegs.Load()+64)
	for i := range s.regs {
		sh := &s.regs[i]
		sh.mu.Lock()
		for _, r := range sh.live {
			if r != nil {
				out = append(out, r)
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// Call finds a listed call by callreference and returns it with a copy of
// its kept SIP messages (for active_call_info).
func (s *Store) Call(ref uint64) (*Call, []SIPMessage, bool) {
	sh := &s.calls[ref&(nShards-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i, c := range sh.live {
		if c.Ref == ref {
			msgs := append([]SIPMessage(nil), sh.slots[i].msgs...)
			return c, msgs, true
		}
	}
	return nil, nil, false
}

// shardOf hashes a key (FNV-1a): deterministic, so callreferences in tests
// are stable. Go maps randomise their own hashing, so a crafted key can
// only skew the shard balance, not degrade the maps.
func shardOf(b []byte) int {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return int((h ^ h>>32) & (nShards - 1))
}
