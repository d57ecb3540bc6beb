package state

import (
	"sync"

	"tapline/sip"
)

// callShard is one slice of the call table: the dense table (live holds
// the published records, slots the mutable tracking state) and the Call-ID
// index.
type callShard struct {
	mu sync.Mutex
	table[*Call, *callSlot]
	byID   map[string]*callSlot
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

func (sl *callSlot) setIdx(i int) { sl.idx = i }

func (sh *callShard) init() {
	sh.byID = make(map[string]*callSlot)
	sh.intern.m = make(map[string]string)
}

// add inserts a new call, due for removal at due.
func (sh *callShard) add(sl *callSlot, due int64) {
	sl.idx = sh.push(sl.c, sl, due)
	sh.byID[sl.c.CallID] = sl
	sh.stats.created++
}

// publish makes c the visible record of sl.
func (sh *callShard) publish(sl *callSlot, c *Call, due int64) {
	sl.c = c
	sh.live[sl.idx] = c
	sh.due[sl.idx] = due
}

// remove drops the call at index i.
func (sh *callShard) remove(i int) {
	delete(sh.byID, sh.slots[i].c.CallID)
	sh.removeAt(i)
}

// sweep removes calls whose linger or timeout has passed.
func (sh *callShard) sweep(s *Store, now int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sweepDue(now, func(i int) bool {
		if sh.live[i].State == CallEnded {
			sh.stats.closed++
		} else {
			sh.stats.expired++
		}
		sh.remove(i)
		s.nCalls.Add(-1)
		return true
	})
	if sh.shrinkSlices() {
		sh.byID = rebuild(sh.byID)
	}
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
