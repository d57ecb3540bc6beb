package server

import (
	"container/list"
	"net/netip"
	"sync"
	"sync/atomic"
)

// holdRegistry counts the descriptors TCP clients hold, whatever their
// connections' state: served, lingering after a complete reply (uncounted
// from the served limits), or refused and lingering on the error line.
//
// Why: the served limits (max, tcp, perIP) do not see lingering or refused
// connections, so one address sending one-shot requests and never closing
// could fill the whole descriptor budget (limits.hard) and lock out every
// other address and the Unix socket. Held connections are capped per
// address (perIP + holdRejectExtra) and for TCP as a whole (hard minus the
// Unix reserve). When a cap is reached, the oldest lingering connection (of
// that address, or of any address when TCP as a whole is full) is closed
// early: its reply is complete and it only waits for the client's EOF. Only
// when there is none is the new connection refused, at once.
type holdRegistry struct {
	mu      sync.Mutex
	perAddr map[netip.Addr]*addrHold
	linger  list.List // every lingering TCP connection held, oldest first
	tcp     int       // TCP connections held
	unix    atomic.Int64
	evicted atomic.Int64 // lingering connections closed early to make room
}

// addrHold is what one address (IPv4, or IPv6 /64) holds.
type addrHold struct {
	n      int
	linger list.List // its lingering connections, oldest first
}

// holdEntry is a connection's place in the registry (under holdRegistry.mu).
type holdEntry struct {
	tcp      bool // registered as TCP (never cleared)
	unix     bool // counted in holdRegistry.unix (loop-owned)
	held     bool // still counted
	hasKey   bool
	key      netip.Addr
	all, own *list.Element // in holdRegistry.linger and addrHold.linger while lingering
}

// holdRejectExtra: an address may hold this many descriptors beyond its
// served cap, for its refused connections lingering on their error line.
const holdRejectExtra = 16

// holdUnixRejects: refused TCP connections leave this many of the
// maxRejectLinger slots to the Unix socket.
const holdUnixRejects = 8

// holdTCP registers c, a new TCP connection, closing lingering connections
// early if that makes room. It returns the refusal when there is no room;
// the caller closes c at once (no linger: that would hold a descriptor).
func (e *engine) holdTCP(c *conn, key netip.Addr, hasKey bool) []byte {
	s := e.srv
	r := &s.hold
	var victims []*conn
	r.mu.Lock()
	if r.perAddr == nil {
		r.perAddr = map[netip.Addr]*addrHold{}
	}
	var a *addrHold
	if hasKey {
		a = r.perAddr[key]
		if a != nil && a.n >= s.limits.perIP+holdRejectExtra {
			v := r.oldest(&a.linger)
			if v == nil {
				r.mu.Unlock()
				s.rejectedPerIP.Add(1)
				return msgTooManyFromIP
			}
			victims = append(victims, v)
		}
	}
	if r.tcp >= s.limits.tcpHard {
		v := r.oldest(&r.linger)
		if v == nil {
			r.mu.Unlock()
			e.evict(victims)
			return msgTooMany
		}
		victims = append(victims, v)
	}
	if hasKey {
		if a = r.perAddr[key]; a == nil { // an eviction may have removed it
			a = &addrHold{}
			r.perAddr[key] = a
		}
		a.n++
	}
	r.tcp++
	c.hold = holdEntry{tcp: true, held: true, hasKey: hasKey, key: key}
	r.mu.Unlock()
	e.evict(victims)
	return nil
}

// oldest releases and returns the oldest lingering connection of l, or nil.
// Under r.mu.
func (r *holdRegistry) oldest(l *list.List) *conn {
	f := l.Front()
	if f == nil {
		return nil
	}
	v := f.Value.(*conn)
	r.release(v)
	return v
}

// release uncounts c, once. Under r.mu.
func (r *holdRegistry) release(c *conn) {
	h := &c.hold
	if !h.held {
		return
	}
	h.held = false
	r.tcp--
	if h.all != nil {
		r.linger.Remove(h.all)
		h.all = nil
	}
	if !h.hasKey {
		return
	}
	a := r.perAddr[h.key]
	if a == nil {
		return
	}
	if h.own != nil {
		a.linger.Remove(h.own)
		h.own = nil
	}
	if a.n--; a.n <= 0 {
		delete(r.perAddr, h.key)
	}
}

// evict closes connections released to make room, each on its loop, if
// they still linger. Their descriptors are gone a moment later; fdHeadroom
// covers that moment.
func (e *engine) evict(victims []*conn) {
	for _, v := range victims {
		e.srv.hold.evicted.Add(1)
		v.eng.execute(v, func() {
			if !v.closed && v.getPhase() == phLinger {
				_ = v.loop.Close(v.gc)
			}
		})
	}
}

// holdLingering marks c, which now lingers for its client's EOF, as the
// first to close when its address or TCP as a whole needs room. Only TCP
// connections are evicted.
func (s *Server) holdLingering(c *conn) {
	if !c.hold.tcp {
		return
	}
	r := &s.hold
	r.mu.Lock()
	defer r.mu.Unlock()
	h := &c.hold
	if !h.held || h.all != nil {
		return
	}
	h.all = r.linger.PushBack(c)
	if a := r.perAddr[h.key]; h.hasKey && a != nil {
		h.own = a.linger.PushBack(c)
	}
}

// holdRelease uncounts c when it is done (forget: once).
func (s *Server) holdRelease(c *conn) {
	switch {
	case c.hold.tcp:
		s.hold.mu.Lock()
		s.hold.release(c)
		s.hold.mu.Unlock()
	case c.hold.unix:
		s.hold.unix.Add(-1)
	}
}

// holdTCPCount is the number of TCP connections held.
func (s *Server) holdTCPCount() int {
	s.hold.mu.Lock()
	defer s.hold.mu.Unlock()
	return s.hold.tcp
}
