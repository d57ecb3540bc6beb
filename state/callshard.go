package state

import (
	"slices"
	"sync"

	"tapline/sip"
)

// callShard is one slice of the call table. live holds the published
// records densely (snapshots copy it with one append); slots is parallel to
// it and holds the mutable tracking state.
type callShard struct {
	mu     sync.Mutex
	byID   map[string]*callSlot
	live   []*Call
	slots  []*callSlot
	due    []int64 // per call: store clock (unix ns) at which the sweeper removes it
	intern interner
	stats  shardStats
	_      [64]byte // keep neighbouring shards' locks off this cache line
}

// callSlot is the tracking state of one call, guarded by the shard mutex.
type callSlot struct {
	c          *Call  // published record
	idx        int    // position in live/slots
	callerTag  string // From tag of the initial INVITE: tells the caller's requests
	inviteCSeq uint32 // CSeq of the INVITE transaction that sets the call up
	final      bool   // a final response to that transaction was recorded
	bye        bool   // a BYE was seen: nothing reopens the call
	answerTag  string // To tag of the answering 2xx: other forks' SDP is ignored
	msgs       []SIPMessage
	msgBytes   int
}

func (sh *callShard) init() {
	sh.byID = make(map[string]*callSlot)
	sh.intern.m = make(map[string]string)
}

// add inserts a new call, due for removal at due.
func (sh *callShard) add(sl *callSlot, due int64) {
	sl.idx = len(sh.live)
	sh.byID[sl.c.CallID] = sl
	sh.live = append(sh.live, sl.c)
	sh.slots = append(sh.slots, sl)
	sh.due = append(sh.due, due)
	sh.stats.created++
}

// publish makes c the visible record of sl.
func (sh *callShard) publish(sl *callSlot, c *Call, due int64) {
	sl.c = c
	sh.live[sl.idx] = c
	sh.due[sl.idx] = due
}

// remove drops the call at index i (swap with the last one).
func (sh *callShard) remove(i int) {
	sl := sh.slots[i]
	delete(sh.byID, sl.c.CallID)
	last := len(sh.live) - 1
	sh.live[i], sh.slots[i], sh.due[i] = sh.live[last], sh.slots[last], sh.due[last]
	sh.slots[i].idx = i
	sh.live[last], sh.slots[last] = nil, nil
	sh.live, sh.slots, sh.due = sh.live[:last], sh.slots[:last], sh.due[:last]
}

// sweep removes calls whose linger or timeout has passed. It scans the
// dense due slice, so a second's sweep of a million calls is a memory scan.
func (sh *callShard) sweep(s *Store, now int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i := 0; i < len(sh.due); {
		if sh.due[i] > now {
			i++
			continue
		}
		if sh.live[i].State == CallEnded {
			sh.stats.closed++
		} else {
			sh.stats.expired++
		}
		sh.remove(i)
		s.nCalls.Add(-1)
	}
	sh.shrink()
}

// shrink releases memory after a large drop (Go maps never shrink by
// themselves), so a burst of a million calls does not pin it forever.
func (sh *callShard) shrink() {
	if c := cap(sh.live); c > shrinkMin && len(sh.live) < c/4 {
		sh.live = slices.Clone(sh.live)
		sh.slots = slices.Clone(sh.slots)
		sh.due = slices.Clone(sh.due)
		sh.byID = rebuild(sh.byID)
	}
}

// shrinkMin: tables smaller than this are not worth shrinking.
const shrinkMin = 1024

// rebuild copies m into a map sized for its current length (maps.Clone
// keeps the old capacity).
func rebuild[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// keep stores a copy of the message for active_call_info, within the
// per-call limits (the first messages are kept: they set the call up).
func (sh *callShard) keep(s *Store, sl *callSlot, p *sip.Packet) {
	if s.cfg.MaxSIPPerCall < 0 {
		return
	}
	n := len(p.Payload)
	if len(sl.msgs) >= s.cfg.MaxSIPPerCall || sl.msgBytes+n > s.cfg.MaxSIPBytesPerCall {
		sh.stats.sipNotKept++
		return
	}
	if sl.msgs == nil {
		sl.msgs = make([]SIPMessage, 0, min(8, s.cfg.MaxSIPPerCall))
	}
	sl.msgs = append(sl.msgs, SIPMessage{TS: p.TS, Src: p.Src, Dst: p.Dst,
		Transport: p.Transport, Data: string(p.Payload)})
	sl.msgBytes += n
}
