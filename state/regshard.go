package state

import (
	"slices"
	"sync"
	"time"
)

// regShard is one slice of the registration table, chosen by the AOR (To
// user@host) so that a REGISTER and its responses, and all bindings of one
// AOR, meet in one shard.
type regShard struct {
	mu       sync.Mutex
	byKey    map[string]*regSlot
	byCallID map[string]*regSlot // newest REGISTER's Call-ID: responses find their slot
	live     []*Register         // published records; nil until the slot has a state
	slots    []*regSlot
	due      []int64 // per slot: store clock (unix ns) of its next timer
	intern   interner
	stats    shardStats
	_        [64]byte
}

// regSlot is one registration key's tracking state, guarded by the shard
// mutex. cur is the working record; publish copies it.
type regSlot struct {
	cur        Register
	idx        int
	key        string // To user@host \x00 Contact URI \x00 UA address
	aorLen     int    // key[:aorLen] is the AOR
	contactURI string // a piece of key
	callID     string
	wild       bool // Contact: * — its 2xx unregisters every binding of the AOR

	pend       bool   // a REGISTER awaits its final response or its authenticated retry
	pendCSeq   uint32 // CSeq of that REGISTER
	pendAt     time.Time
	deadline   int64 // pend turns into Failed at this clock
	reqExpires int   // expiry the REGISTER asked for

	everOK   bool
	winStart int64 // ManyRegMessages window
	winCount int
	rttSum   time.Duration
}

func (sh *regShard) init() {
	sh.byKey = make(map[string]*regSlot)
	sh.byCallID = make(map[string]*regSlot)
	sh.intern.m = make(map[string]string)
}

func (sh *regShard) add(sl *regSlot) {
	sl.idx = len(sh.slots)
	sh.byKey[sl.key] = sl
	sh.live = append(sh.live, nil)
	sh.slots = append(sh.slots, sl)
	sh.due = append(sh.due, 0)
	sh.stats.created++
}

// publish makes a copy of the working record visible (once it has a state)
// and recomputes the slot's next timer.
func (sh *regShard) publish(s *Store, sl *regSlot) {
	sh.due[sl.idx] = s.regDue(sl)
	if sl.cur.State == 0 || sl.wild {
		return
	}
	r := new(Register)
	*r = sl.cur
	if sh.live[sl.idx] == nil {
		sh.stats.listed++
	}
	sh.live[sl.idx] = r
}

// bindCallID points responses carrying id at sl.
func (sh *regShard) bindCallID(sl *regSlot, id []byte) {
	if sl.callID == string(id) {
		return
	}
	if sh.byCallID[sl.callID] == sl {
		delete(sh.byCallID, sl.callID)
	}
	sl.callID = string(id)
	sh.byCallID[sl.callID] = sl
}

func (sh *regShard) remove(i int) {
	sl := sh.slots[i]
	delete(sh.byKey, sl.key)
	if sh.byCallID[sl.callID] == sl {
		delete(sh.byCallID, sl.callID)
	}
	if sh.live[i] != nil {
		sh.stats.listed--
	}
	last := len(sh.slots) - 1
	sh.live[i], sh.slots[i], sh.due[i] = sh.live[last], sh.slots[last], sh.due[last]
	sh.slots[i].idx = i
	sh.live[last], sh.slots[last] = nil, nil
	sh.live, sh.slots, sh.due = sh.live[:last], sh.slots[:last], sh.due[:last]
	sh.stats.removed++
}

// sweep runs the timers that are due: REGISTER timeouts, expiry, and the
// removal of old rows.
func (sh *regShard) sweep(s *Store, now int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i := 0; i < len(sh.due); {
		if sh.due[i] > now {
			i++
			continue
		}
		if s.regTimers(sh, sh.slots[i], now) {
			sh.remove(i)
			s.nRegs.Add(-1)
			continue
		}
		i++
	}
	sh.shrink()
}

// shrink is callShard.shrink for registrations.
func (sh *regShard) shrink() {
	if c := cap(sh.slots); c > shrinkMin && len(sh.slots) < c/4 {
		sh.live = slices.Clone(sh.live)
		sh.slots = slices.Clone(sh.slots)
		sh.due = slices.Clone(sh.due)
		sh.byKey = rebuild(sh.byKey)
		sh.byCallID = rebuild(sh.byCallID)
	}
}
