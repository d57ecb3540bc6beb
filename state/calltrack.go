package state

import (
	"net/netip"
	"time"

	"tapline/sip"
)

// ingestCall routes a non-REGISTER message to its call by Call-ID.
func (s *Store) ingestCall(p *sip.Packet, m *sip.Msg, ts time.Time) {
	meth := methodOf(m.Method)
	id := clip(m.CallID, maxCallIDLen)
	shard := shardOf(id)
	sh := &s.calls[shard]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.stats.ingested++
	sl := sh.byID[string(id)]
	if meth == mRegister {
		sl = nil // never part of a call
	}
	switch {
	case sl != nil:
		s.updateCall(sh, sl, p, m, meth, ts)
	case m.IsRequest && meth == mInvite:
		if sl = s.newCall(sh, shard, p, m, ts); sl == nil {
			return
		}
	case meth == mOther || meth == mRegister:
		sh.stats.ignored++ // OPTIONS, MESSAGE…, or REGISTER with tracking off
		return
	default:
		sh.stats.orphans++ // a response or in-dialog request for no call we know
		return
	}
	sh.keep(s, sl, p)
}

// newCall creates a call from its first INVITE, or counts it as dropped
// when MaxCalls calls are tracked.
func (s *Store) newCall(sh *callShard, shard int, p *sip.Packet, m *sip.Msg, ts time.Time) *callSlot {
	if s.nCalls.Add(1) > int64(s.cfg.MaxCalls) {
		s.nCalls.Add(-1)
		sh.stats.dropped++
		return nil
	}
	c := &Call{
		Ref:          s.cfg.FirstRef + (s.seq.Add(1)-1)<<6 + uint64(shard),
		CallerDomain: sh.intern.get(clip(m.From.Domain, maxFieldLen)),
		CalledDomain: sh.intern.get(clip(m.To.Domain, maxFieldLen)),
		CallerAgent:  sh.intern.get(clip(m.UserAgent, maxFieldLen)),
		CallerIP:     p.Src.Addr().Unmap(), CallerPort: p.Src.Port(),
		CalledIP: p.Dst.Addr().Unmap(), CalledPort: p.Dst.Port(),
		CallerCodec: -1, CalledCodec: -1,
		Start: ts, LastPacket: ts, State: CallCalling, VLAN: p.VLAN,
	}
	sl := &callSlot{c: c, inviteCSeq: m.CSeq}
	pack([]*string{&c.CallID, &c.Caller, &c.Called, &c.CallerName, &sl.callerTag},
		[][]byte{clip(m.CallID, maxCallIDLen), clip(m.From.User, maxFieldLen), clip(m.To.User, maxFieldLen),
			clip(m.From.Display, maxFieldLen), clip(m.From.Tag, maxFieldLen)})
	applySDP(c, m, true)
	sh.add(sl, s.callDue(c))
	return sl
}

// updateCall applies a message to an existing call: it builds the next
// record from a copy of the published one and publishes it.
func (s *Store) updateCall(sh *callShard, sl *callSlot, p *sip.Packet, m *sip.Msg, meth method, ts time.Time) {
	next := *sl.c
	c := &next
	if ts.After(c.LastPacket) {
		c.LastPacket = ts
	}
	byCaller := sl.sentByCaller(c, p, m)
	answer := false
	if m.IsRequest {
		sh.request(sl, c, m, meth, byCaller, ts)
	} else {
		answer = sh.response(sl, c, m, meth, ts)
	}
	if !sl.otherFork(m, meth) {
		sh.setAgent(c, m, byCaller, answer)
		applySDP(c, m, byCaller)
	}
	sh.publish(sl, c, s.callDue(c))
}

// sentByCaller tells the direction by the initial INVITE's From tag: the
// caller's requests carry it, and so do the called side's responses to
// them. Without a tag it falls back to the caller's address.
func (sl *callSlot) sentByCaller(c *Call, p *sip.Packet, m *sip.Msg) bool {
	if sl.callerTag == "" {
		return p.Src.Addr().Unmap() == c.CallerIP && p.Src.Port() == c.CallerPort
	}
	return (string(m.From.Tag) == sl.callerTag) == m.IsRequest
}

// otherFork reports a response to the INVITE from a fork that did not
// answer, after the call was answered: its SDP and agent are not the
// call's.
func (sl *callSlot) otherFork(m *sip.Msg, meth method) bool {
	return !m.IsRequest && sl.inviteTx(m, meth) && sl.answerTag != "" && string(m.To.Tag) != sl.answerTag
}

// inviteTx reports a response of the call's INVITE transaction: the
// caller's CSeq (the called side numbers its own requests).
func (sl *callSlot) inviteTx(m *sip.Msg, meth method) bool {
	return meth == mInvite && m.CSeq == sl.inviteCSeq && string(m.From.Tag) == sl.callerTag
}

func (sh *callShard) request(sl *callSlot, c *Call, m *sip.Msg, meth method, byCaller bool, ts time.Time) {
	switch meth {
	case mInvite:
		switch {
		case byCaller && m.CSeq == sl.inviteCSeq:
			sh.stats.retrans++
		case byCaller && !c.answered() && !sl.bye:
			// The authenticated retry after 401/407 (or a new attempt
			// after a redirect): it becomes the call's INVITE
			// transaction and reopens the call if it lingers.
			sl.inviteCSeq, sl.final = m.CSeq, false
			if c.State == CallEnded {
				c.State, c.End = CallCalling, time.Time{}
			}
		}
		// Otherwise a re-INVITE: only its SDP matters.
	case mBye:
		sl.bye = true
		c.end(ts)
	case mCancel:
		if !c.answered() {
			c.end(ts)
		}
	}
}

// response applies a response; only those to the call's INVITE
// transaction change its state. It reports whether this one answered the
// call.
func (sh *callShard) response(sl *callSlot, c *Call, m *sip.Msg, meth method, ts time.Time) bool {
	if !sl.inviteTx(m, meth) {
		return false // re-INVITE, BYE, CANCEL… responses
	}
	switch st := m.Status; {
	case st < 200:
		if !sl.final {
			c.LastResponse = st
		}
		if st > 100 && c.State == CallCalling {
			c.State = CallRinging
		}
	case st < 300:
		if c.answered() || sl.bye {
			sh.stats.retrans++ // retransmission or another fork's 2xx
			return false
		}
		c.Connect, c.State, c.End = ts, CallAnswered, time.Time{}
		c.LastResponse, sl.final = st, true
		sl.answerTag = string(m.To.Tag)
		return true
	default:
		if c.answered() {
			return false // a late error from another fork
		}
		c.LastResponse, sl.final = st, true
		c.end(ts)
	}
	return false
}

func (c *Call) end(ts time.Time) {
	if c.State != CallEnded {
		c.State, c.End = CallEnded, ts
	}
}

// setAgent records User-Agent/Server: the caller's first, and the called
// side's first (100 Trying excluded: a proxy sends it), overridden by the
// answering 2xx.
func (sh *callShard) setAgent(c *Call, m *sip.Msg, byCaller, answer bool) {
	if len(m.UserAgent) == 0 {
		return
	}
	ua := clip(m.UserAgent, maxFieldLen)
	switch {
	case byCaller:
		if c.CallerAgent == "" {
			c.CallerAgent = sh.intern.get(ua)
		}
	case !m.IsRequest && m.Status == 100:
	case c.CalledAgent == "" || answer:
		c.CalledAgent = sh.intern.get(ua)
	}
}

// applySDP takes the audio address and first payload type of an SDP body
// for the side that sent it.
func applySDP(c *Call, m *sip.Msg, byCaller bool) {
	if !m.SDP.Valid {
		return
	}
	md := audioMedia(&m.SDP)
	if md == nil {
		return
	}
	codec := -1
	if md.NPayload > 0 {
		codec = md.Payloads[0]
	}
	var ap netip.AddrPort
	if ip, ok := parseAddr(md.ConnIP); ok {
		port := md.Port
		if port < 0 || port > 65535 {
			port = 0
		}
		ap = netip.AddrPortFrom(ip, uint16(port))
	}
	if byCaller {
		c.RTPSrc, c.CallerCodec = ap, codec
	} else {
		c.RTPDst, c.CalledCodec = ap, codec
	}
}

func audioMedia(sd *sip.SDP) *sip.Media {
	for i := 0; i < sd.NMedia && i < len(sd.Media); i++ {
		if string(sd.Media[i].Type) == "audio" {
			return &sd.Media[i]
		}
	}
	return nil
}

// callDue is when the sweeper removes the call: CallLinger after its end,
// or CallTimeout after its last packet.
func (s *Store) callDue(c *Call) int64 {
	due := c.LastPacket.UnixNano() + int64(s.cfg.CallTimeout)
	if c.State == CallEnded {
		due = min(due, c.End.UnixNano()+int64(s.cfg.CallLinger))
	}
	return due
}
