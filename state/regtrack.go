package state

import (
	"net/netip"
	"time"

	"tapline/sip"
)

// ManyRegMessages: more than manyRegCount REGISTER transactions for one key
// within manyRegWindow.
const (
	manyRegCount  = 10
	manyRegWindow = 10 * time.Second
	// defaultExpires is RFC 3261's default when neither the REGISTER nor
	// its 2xx says.
	defaultExpires = 3600
)

// regKeyBuf bounds the stack buffer a registration key is built in.
const regKeyBuf = 2*maxFieldLen + maxCallIDLen + 24

// ingestRegister applies a REGISTER or a response to one.
func (s *Store) ingestRegister(p *sip.Packet, m *sip.Msg, ts time.Time) {
	ua := p.Src.Addr() // the UA sends the REGISTER, receives the response
	if !m.IsRequest {
		ua = p.Dst.Addr()
	}
	var kb [regKeyBuf]byte
	key, aorLen := regKey(kb[:0], m, ua.Unmap())
	sh := &s.regs[shardOf(key[:aorLen])]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.stats.ingested++
	if m.IsRequest {
		s.regRequest(sh, key, aorLen, p, m, ts)
	} else {
		s.regResponse(sh, key, aorLen, p, m, ts)
	}
}

// regKey appends To user@host, the Contact URI and the UA address,
// NUL-separated, and returns the key and the AOR's length.
func regKey(b []byte, m *sip.Msg, ua netip.Addr) ([]byte, int) {
	b = append(b, clip(m.To.User, maxFieldLen)...)
	b = append(b, '@')
	b = append(b, clip(m.To.Domain, maxFieldLen)...)
	aor := len(b)
	b = append(b, 0)
	b = append(b, clip(m.Contact.URI, maxCallIDLen)...)
	b = append(b, 0)
	a := ua.As16()
	return append(b, a[:]...), aor
}

func (s *Store) regRequest(sh *regShard, key []byte, aorLen int, p *sip.Packet, m *sip.Msg, ts time.Time) {
	sl := sh.byKey[string(key)]
	if sl == nil {
		if sl = s.newReg(sh, key, aorLen, ts); sl == nil {
			return
		}
	}
	sh.fill(sl, p, m, ts)
	sh.bindCallID(sl, clip(m.CallID, maxCallIDLen))
	if sl.pend && m.CSeq == sl.pendCSeq {
		sh.stats.retrans++
	} else {
		sl.pend, sl.pendCSeq, sl.pendAt = true, m.CSeq, ts
		sl.deadline = ts.UnixNano() + int64(s.cfg.RegTimeout)
		sl.reqExpires = requestExpires(m)
		if sl.flood(ts) {
			sl.cur.State, sl.cur.StateAt = RegManyRegMessages, ts
		}
	}
	sh.publish(s, sl)
}

// newReg creates a key's slot, or counts it as dropped at MaxRegisters.
func (s *Store) newReg(sh *regShard, key []byte, aorLen int, ts time.Time) *regSlot {
	if s.nRegs.Add(1) > int64(s.cfg.MaxRegisters) {
		s.nRegs.Add(-1)
		sh.stats.dropped++
		return nil
	}
	sl := &regSlot{key: string(key), aorLen: aorLen}
	sl.contactURI = sl.key[aorLen+1 : len(sl.key)-17]
	sl.wild = sl.contactURI == "*"
	sl.cur = Register{ID: s.regSeq.Add(1), Start: ts, Last: ts}
	sh.add(sl)
	return sl
}

// fill copies the REGISTER's fields into the working record. Strings are
// only replaced when they changed, so refreshes do not allocate.
func (sh *regShard) fill(sl *regSlot, p *sip.Packet, m *sip.Msg, ts time.Time) {
	r := &sl.cur
	setStr(&r.From, m.From.User)
	setStr(&r.FromName, m.From.Display)
	r.FromDomain = sh.intern.get(clip(m.From.Domain, maxFieldLen))
	setStr(&r.To, m.To.User)
	r.ToDomain = sh.intern.get(clip(m.To.Domain, maxFieldLen))
	setStr(&r.Contact, m.Contact.User)
	r.ContactDomain = sh.intern.get(clip(m.Contact.Domain, maxFieldLen))
	if len(m.DigestUser) > 0 {
		setStr(&r.DigestUser, m.DigestUser)
	}
	if len(m.DigestRealm) > 0 {
		r.DigestRealm = sh.intern.get(clip(m.DigestRealm, maxFieldLen))
	}
	if len(m.UserAgent) > 0 {
		r.UA = sh.intern.get(clip(m.UserAgent, maxFieldLen))
	}
	r.SrcIP, r.SrcPort = p.Src.Addr().Unmap(), p.Src.Port()
	r.DstIP, r.DstPort = p.Dst.Addr().Unmap(), p.Dst.Port()
	r.VLAN = p.VLAN
	if ts.After(r.Last) {
		r.Last = ts
	}
}

func setStr(dst *string, b []byte) {
	b = clip(b, maxFieldLen)
	if *dst != string(b) {
		*dst = string(b)
	}
}

// flood counts a REGISTER transaction in the key's window and reports
// whether the key is flooding.
func (sl *regSlot) flood(ts time.Time) bool {
	if n := ts.UnixNano(); n-sl.winStart > int64(manyRegWindow) {
		sl.winStart, sl.winCount = n, 0
	}
	sl.winCount++
	return sl.winCount > manyRegCount
}

func requestExpires(m *sip.Msg) int {
	switch {
	case m.ContactExpires >= 0:
		return m.ContactExpires
	case m.Expires >= 0:
		return m.Expires
	}
	return defaultExpires
}

func (s *Store) regResponse(sh *regShard, key []byte, aorLen int, p *sip.Packet, m *sip.Msg, ts time.Time) {
	sl := sh.byCallID[string(clip(m.CallID, maxCallIDLen))]
	if sl == nil {
		if m.Status/100 == 2 {
			s.unknownOK(sh, key, aorLen, p, m, ts)
		} else {
			sh.stats.orphans++
		}
		return
	}
	if ts.After(sl.cur.Last) {
		sl.cur.Last = ts
	}
	if !sl.pend || m.CSeq != sl.pendCSeq {
		sh.stats.retrans++ // a retransmitted final response, or one for an older REGISTER
		return
	}
	switch st := m.Status; {
	case st < 200:
		return
	case st < 300:
		sh.ok(s, sl, m, ts)
	case st == 401 || st == 407 || st == 423:
		// The UA retries (with credentials, or a longer expiry): wait.
		sl.deadline = ts.UnixNano() + int64(s.cfg.RegTimeout)
	default:
		sh.fail(sl)
	}
	sh.publish(s, sl)
}

// ok applies a 2xx to the pending REGISTER.
func (sh *regShard) ok(s *Store, sl *regSlot, m *sip.Msg, ts time.Time) {
	sl.pend = false
	r := &sl.cur
	if rtt := ts.Sub(sl.pendAt); rtt >= 0 {
		sl.rttSum += rtt
		r.RTTSamples++
		r.RTT = sl.rttSum / time.Duration(r.RTTSamples)
	}
	if sl.wild {
		sh.unregisterAll(s, sl, ts)
		return
	}
	exp := sl.reqExpires
	switch {
	case m.ContactExpires >= 0 && string(m.Contact.URI) == sl.contactURI:
		exp = m.ContactExpires
	case m.Expires >= 0:
		exp = m.Expires
	}
	r.Expires, r.StateAt, r.ExpiresAt = exp, ts, ts.Add(time.Duration(exp)*time.Second)
	switch {
	case exp == 0:
		r.State = RegUnregister
	case sl.winCount > manyRegCount && ts.UnixNano()-sl.winStart <= int64(manyRegWindow):
		r.State = RegManyRegMessages
	default:
		r.State, sl.everOK = RegOK, true
	}
}

// fail ends the pending REGISTER as failed. A binding that is still valid
// stays OK, as VoIPmonitor shows it (its last OK state wins until expiry).
func (sh *regShard) fail(sl *regSlot) {
	sl.pend = false
	sh.stats.regFailures++
	r := &sl.cur
	if sl.wild || (r.State.okLike() && r.ExpiresAt.After(sl.pendAt)) {
		return
	}
	r.State, r.StateAt, r.Expires = RegFailed, sl.pendAt, sl.reqExpires
	r.ExpiresAt = r.StateAt.Add(time.Duration(r.Expires) * time.Second)
}

// unregisterAll applies a Contact: * unregistration to the AOR's bindings
// from the same UA address.
func (sh *regShard) unregisterAll(s *Store, wild *regSlot, ts time.Time) {
	aor := wild.key[:wild.aorLen]
	for _, sl := range sh.slots {
		r := &sl.cur
		if sl == wild || sl.key[:sl.aorLen] != aor || r.SrcIP != wild.cur.SrcIP || !r.State.okLike() {
			continue
		}
		r.State, r.StateAt, r.Expires, r.ExpiresAt = RegUnregister, ts, 0, ts
		sh.publish(s, sl)
	}
}

// unknownOK records a 2xx whose REGISTER we did not see (capture started
// mid-transaction, or the UA changed Call-ID unseen).
func (s *Store) unknownOK(sh *regShard, key []byte, aorLen int, p *sip.Packet, m *sip.Msg, ts time.Time) {
	sl := sh.byKey[string(key)]
	if sl == nil {
		if sl = s.newReg(sh, key, aorLen, ts); sl == nil {
			return
		}
	}
	if sl.wild {
		return
	}
	sh.fill(sl, &sip.Packet{Src: p.Dst, Dst: p.Src, VLAN: p.VLAN}, m, ts)
	sl.cur.UA = "" // the Server header is the registrar's
	sh.bindCallID(sl, clip(m.CallID, maxCallIDLen))
	exp := requestExpires(m)
	r := &sl.cur
	r.State, r.Expires, r.StateAt = RegUnknownMessageOK, exp, ts
	r.ExpiresAt = ts.Add(time.Duration(exp) * time.Second)
	sl.pend, sl.everOK = false, true
	sh.publish(s, sl)
}

// regTimers runs a slot's due timers and reports whether to remove it.
func (s *Store) regTimers(sh *regShard, sl *regSlot, now int64) bool {
	r := &sl.cur
	state, at := r.State, r.StateAt
	if sl.pend && sl.deadline <= now {
		sh.fail(sl)
	}
	if r.State.okLike() && r.ExpiresAt.UnixNano()+int64(s.cfg.RegExpireGrace) <= now {
		r.State, r.StateAt, r.Expires = RegExpired, r.ExpiresAt, 0
	}
	if s.regKeepUntil(sl) <= now && !sl.pend {
		return true
	}
	if r.State != state || !r.StateAt.Equal(at) {
		sh.publish(s, sl)
	} else {
		sh.due[sl.idx] = s.regDue(sl)
	}
	return false
}

// regKeepUntil is when a slot leaves the table: RegKeep after its last
// state change, RegKeepFailed for rows that never were OK.
func (s *Store) regKeepUntil(sl *regSlot) int64 {
	r := &sl.cur
	if r.State == 0 || (r.State == RegFailed && !sl.everOK) {
		return max(r.StateAt.UnixNano(), r.Last.UnixNano()) + int64(s.cfg.RegKeepFailed)
	}
	return r.StateAt.UnixNano() + int64(s.cfg.RegKeep)
}

// regDue is the slot's next timer.
func (s *Store) regDue(sl *regSlot) int64 {
	due := s.regKeepUntil(sl)
	if sl.pend {
		due = min(due, sl.deadline)
	}
	if r := &sl.cur; r.State.okLike() {
		due = min(due, r.ExpiresAt.UnixNano()+int64(s.cfg.RegExpireGrace))
	}
	return due
}
