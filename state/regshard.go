package state

import (
	"sync"
	"time"
)

// regShard is one slice of the registration table, chosen by the AOR (To
// user@host) so that a REGISTER and its responses, and all bindings of one
// AOR, meet in one shard.
//
// Its table's live records are nil until the slot has a state; due is the
// slot's next timer.
type regShard struct {
	mu sync.Mutex
	table[*Register, *regSlot]
	byKey    map[string]*regSlot
	byCallID map[string]*regSlot // newest REGISTER's Call-ID: responses find their slot
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

func (sl *regSlot) setIdx(i int) { sl.idx = i }

func (sh *regShard) init() {
	sh.byKey = make(map[string]*regSlot)
	sh.byCallID = make(map[string]*regSlot)
	sh.intern.m = make(map[string]string)
}

func (sh *regShard) add(sl *regSlot) {
	sl.idx = sh.push(nil, sl, 0)
	sh.byKey[sl.key] = sl
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
	sh.removeAt(i)
	sh.stats.removed++
}

// sweep runs the timers that are due: REGISTER timeouts, expiry, and the
// removal of old rows.
func (sh *regShard) sweep(s *Store, now int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sweepDue(now, func(i int) bool {
		if !s.regTimers(sh, sh.slots[i], now) {
			return false
		}
		sh.remove(i)
		s.nRegs.Add(-1)
		return true
	})
	if sh.shrinkSlices() {
		sh.byKey = rebuild(sh.byKey)
		sh.byCallID = rebuild(sh.byCallID)
	}
}
