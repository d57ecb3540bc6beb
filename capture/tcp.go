package capture

import (
	"errors"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"

	"tapline/sip"
)

// SIP over TCP is a byte stream: a message may span many segments and a
// segment may carry several messages, so each direction of a connection is
// reassembled in sequence order and cut with sip.MessageLen.
//
// A passive sensor cannot ask for a lost segment again, and a capture that
// drops packets must not make the sensor buffer forever, so every buffer is
// bounded: a hole is waited for a little (out-of-order segments are held),
// then given up on (a "gap"), and the flow resynchronises on the next segment
// that starts with a SIP start line.

// Default TCP limits. They bound memory per flow and in all.
const (
	defaultMaxFlows    = 100_000          // tracked flows (each direction is one)
	defaultMaxMsg      = 64 << 10         // an incomplete message held per flow
	defaultMaxOOOSegs  = 64               // out-of-order segments held per flow
	defaultMaxOOOBytes = 256 << 10        // and their bytes
	defaultMaxTCPBytes = 256 << 20        // all flows' buffers together
	defaultIdle        = 60 * time.Second // a flow silent this long (packet time) is forgotten
	defaultHoleWait    = 5 * time.Second  // a hole older than this will not be filled
	holeScanEvery      = 500 * time.Millisecond
	keepBufCap         = 16 << 10 // a bigger idle buffer is released
)

type flowKey struct{ src, dst netip.AddrPort }

func (k flowKey) reverse() flowKey { return flowKey{k.dst, k.src} }

type flowState uint8

const (
	stateSynced flowState = iota // nxt is the next byte of the stream
	stateResync                  // lost our place: waiting for a segment that starts a SIP message
	stateClosed                  // FIN/RST consumed: later segments are stray retransmissions
)

type oooSeg struct {
	seq  uint32
	data []byte // a copy: the frame is not ours to keep
}

// flow is one direction of a TCP connection.
type flow struct {
	key       flowKey
	vlan      int
	state     flowState
	nxt       uint32   // next expected sequence number (stateSynced)
	buf       []byte   // the in-order bytes of an incomplete message
	ooo       []oooSeg // segments beyond a hole, sorted by seq
	oooBytes  int
	holeSince time.Time // when the oldest hole was seen
	holey     bool      // listed in tcpState.holey
	fin       bool
	finSeq    uint32    // sequence number just after the last byte, once FIN is seen
	seen      time.Time // last activity, in the decoder's packet clock
	mem       int       // bytes charged to tcpState.bytes

	newer, older *flow // LRU list, newest first
}

// tcpState is the flow table: a map for lookup and a list ordered by last
// activity, so that expiry and eviction are O(1) per packet.
type tcpState struct {
	flows          map[flowKey]*flow
	newest, oldest *flow
	holey          []*flow // flows holding out-of-order segments, checked for stale holes
	lastHoleScan   time.Time
	bytes          int // buffered bytes of all flows

	maxFlows, maxMsg, maxOOOSegs, maxOOOBytes, maxTCPBytes int
	idle, holeWait                                         time.Duration
}

func (t *tcpState) init() {
	t.flows = make(map[flowKey]*flow)
	t.maxFlows, t.maxMsg = defaultMaxFlows, defaultMaxMsg
	t.maxOOOSegs, t.maxOOOBytes, t.maxTCPBytes = defaultMaxOOOSegs, defaultMaxOOOBytes, defaultMaxTCPBytes
	t.idle, t.holeWait = defaultIdle, defaultHoleWait
}

func (t *tcpState) clear(d *Decoder) {
	for t.oldest != nil {
		d.removeFlow(t.oldest)
	}
	t.holey = t.holey[:0]
	t.lastHoleScan = time.Time{}
}

// segment handles one TCP segment on a SIP port.
func (d *Decoder) segment(key flowKey, t *layers.TCP, ts time.Time, vlan int, truncated bool) {
	payload := t.Payload
	seq := t.Seq
	f := d.flows[key]
	if t.RST {
		// The connection is gone in both directions.
		if f != nil {
			d.closeFlow(f)
		}
		if r := d.flows[key.reverse()]; r != nil {
			d.closeFlow(r)
		}
		return
	}
	switch {
	case t.SYN:
		// A new connection (or the same 4-tuple reused): start afresh. The
		// SYN takes one sequence number; TFO data follows it.
		if f == nil {
			f = d.newFlow(key)
		} else {
			d.resetFlow(f)
		}
		f.state = stateSynced
		seq++
		f.nxt = seq
	case f == nil:
		if len(payload) == 0 {
			return // an ACK or FIN of a connection we know nothing of
		}
		// Joined mid-connection (capture started late, or the flow was
		// evicted): find the start of a message first.
		f = d.newFlow(key)
		f.state = stateResync
	}
	d.touch(f)
	f.vlan = vlan
	if f.state == stateClosed {
		if len(payload) > 0 {
			d.c.tcpRetrans.Add(1)
		}
		return
	}
	if t.FIN {
		f.fin = true
		f.finSeq = seq + uint32(len(payload))
	}
	switch {
	case truncated:
		// Bytes we will never see: a hole that no segment fills.
		d.gap(f, ts)
	case len(payload) > 0:
		d.data(f, seq, payload, ts)
	}
	if f.fin && f.state != stateClosed && (f.state == stateResync || f.nxt == f.finSeq) {
		d.closeFlow(f)
	}
	for d.bytes > d.maxTCPBytes && d.oldest != nil && d.oldest != f {
		d.evict(d.oldest)
	}
}

// data places payload, which starts at seq, into the stream.
func (d *Decoder) data(f *flow, seq uint32, payload []byte, ts time.Time) {
	// Each pass either places the segment or drops buffered state, so this
	// ends; the bound is a guard.
	for range d.maxOOOSegs + 2 {
		if f.state == stateResync {
			if !sip.LooksLikeSIP(payload) {
				d.c.notSIP.Add(1)
				return
			}
			f.state, f.nxt = stateSynced, seq
		}
		diff := int32(seq - f.nxt)
		if diff <= 0 {
			end := int32(seq + uint32(len(payload)) - f.nxt)
			if end <= 0 {
				d.c.tcpRetrans.Add(1) // every byte already seen
				return
			}
			d.consume(f, payload[len(payload)-int(end):], ts)
			d.drain(f, ts)
			return
		}
		if d.store(f, seq, diff, payload, ts) {
			return
		}
		// No room to wait for the hole: the missing bytes are lost.
		d.gap(f, ts)
	}
}

// store keeps an out-of-order segment, or reports that the window is full.
func (d *Decoder) store(f *flow, seq uint32, ahead int32, payload []byte, ts time.Time) bool {
	if int(ahead) > d.maxOOOBytes || len(f.ooo) >= d.maxOOOSegs || f.oooBytes+len(payload) > d.maxOOOBytes {
		return false
	}
	i := len(f.ooo)
	for i > 0 && int32(f.ooo[i-1].seq-seq) > 0 {
		i--
	}
	if i > 0 && f.ooo[i-1].seq == seq && len(f.ooo[i-1].data) >= len(payload) {
		d.c.tcpRetrans.Add(1) // the same out-of-order segment again
		return true
	}
	f.ooo = append(f.ooo, oooSeg{})
	copy(f.ooo[i+1:], f.ooo[i:])
	f.ooo[i] = oooSeg{seq: seq, data: append([]byte(nil), payload...)}
	f.oooBytes += len(payload)
	if len(f.ooo) == 1 {
		f.holeSince = ts // a new hole
	}
	if !f.holey {
		f.holey = true
		d.holey = append(d.holey, f)
	}
	d.recount(f)
	return true
}

// drain consumes the held segments that the stream has now reached.
func (d *Decoder) drain(f *flow, ts time.Time) {
	for len(f.ooo) > 0 && f.state == stateSynced {
		s := f.ooo[0]
		if int32(s.seq-f.nxt) > 0 {
			break
		}
		f.ooo[0] = oooSeg{}
		f.ooo = f.ooo[1:]
		f.oooBytes -= len(s.data)
		end := int32(s.seq + uint32(len(s.data)) - f.nxt)
		if end <= 0 {
			d.c.tcpRetrans.Add(1)
			continue
		}
		d.consume(f, s.data[len(s.data)-int(end):], ts)
	}
	if len(f.ooo) == 0 {
		f.ooo = nil
		f.oooBytes = 0
	} else {
		f.holeSince = ts // the next hole's wait starts now
	}
	d.recount(f)
}

// consume appends in-order bytes to the stream and delivers the complete
// messages. The common case, whole messages in one segment, is cut straight
// from the frame without copying.
func (d *Decoder) consume(f *flow, b []byte, ts time.Time) {
	f.nxt += uint32(len(b))
	var rest []byte
	if len(f.buf) == 0 {
		rest = d.cut(f, b, ts)
		if f.state != stateSynced {
			return
		}
		if len(rest) > 0 && len(rest) <= d.maxMsg {
			f.buf = append(f.buf[:0], rest...)
		}
	} else {
		f.buf = append(f.buf, b...)
		rest = d.cut(f, f.buf, ts)
		if f.state != stateSynced {
			return
		}
		f.buf = f.buf[:copy(f.buf, rest)]
	}
	if len(rest) > d.maxMsg {
		// An incomplete message longer than we hold: give the stream up.
		d.c.tcpGaps.Add(1)
		d.lose(f)
		return
	}
	if len(f.buf) == 0 && cap(f.buf) > keepBufCap {
		f.buf = nil
	}
	d.recount(f)
}

// cut delivers the complete messages at the start of b and returns the
// incomplete rest.
func (d *Decoder) cut(f *flow, b []byte, ts time.Time) []byte {
	for {
		i := 0
		for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
			i++ // RFC 5626 keep-alives between messages
		}
		b = b[i:]
		if len(b) == 0 {
			return b
		}
		n, err := sip.MessageLen(b, d.maxMsg)
		if err != nil {
			if errors.Is(err, sip.ErrTooLarge) {
				d.c.tcpGaps.Add(1)
			} else {
				d.c.notSIP.Add(1) // TLS on 5061, or a stream we joined wrongly
			}
			d.lose(f)
			return nil
		}
		if n == 0 || n > len(b) {
			return b
		}
		d.deliver(f.key.src, f.key.dst, sip.TCP, ts, f.vlan, b[:n])
		b = b[n:]
	}
}

// gap gives up on the bytes up to the first held segment that starts a SIP
// message, and goes on from there; without one, the flow waits to resync.
func (d *Decoder) gap(f *flow, ts time.Time) {
	d.c.tcpGaps.Add(1)
	f.buf = f.buf[:0]
	for i, s := range f.ooo {
		if sip.LooksLikeSIP(s.data) {
			for j := range i {
				f.oooBytes -= len(f.ooo[j].data)
				f.ooo[j] = oooSeg{}
			}
			f.ooo = f.ooo[i:]
			f.state, f.nxt = stateSynced, s.seq
			d.drain(f, ts)
			return
		}
	}
	d.lose(f)
}

// lose drops everything buffered; the flow waits for a SIP start line.
func (d *Decoder) lose(f *flow) {
	f.state = stateResync
	f.buf = nil
	f.ooo = nil
	f.oooBytes = 0
	d.recount(f)
}

func (d *Decoder) closeFlow(f *flow) {
	d.lose(f)
	f.state = stateClosed
}

func (d *Decoder) resetFlow(f *flow) {
	d.lose(f)
	f.fin = false
}

// recount charges the flow's buffers to the table's memory budget.
func (d *Decoder) recount(f *flow) {
	m := cap(f.buf) + f.oooBytes
	d.bytes += m - f.mem
	f.mem = m
}

func (d *Decoder) newFlow(key flowKey) *flow {
	for len(d.flows) >= d.maxFlows && d.oldest != nil {
		d.evict(d.oldest)
	}
	f := &flow{key: key, seen: d.now}
	d.flows[key] = f
	d.c.tcpFlows.Add(1)
	d.linkNewest(f)
	return f
}

// evict makes room. A closed flow, kept only so that stray retransmissions
// are not taken for a new stream, goes uncounted.
func (d *Decoder) evict(f *flow) {
	if f.state != stateClosed {
		d.c.tcpEvicted.Add(1)
	}
	d.removeFlow(f)
}

func (d *Decoder) removeFlow(f *flow) {
	d.bytes -= f.mem
	f.mem = 0
	delete(d.flows, f.key)
	d.c.tcpFlows.Add(-1)
	d.unlink(f)
	f.state = stateClosed // a stale pointer in d.holey must not revive it
	f.ooo, f.buf = nil, nil
}

// touch marks activity. The decoder's clock never goes back, so the list
// stays ordered by last activity even when frame times jitter.
func (d *Decoder) touch(f *flow) {
	f.seen = d.now
	if d.newest != f {
		d.unlink(f)
		d.linkNewest(f)
	}
}

func (d *Decoder) linkNewest(f *flow) {
	f.older, f.newer = d.newest, nil
	if d.newest != nil {
		d.newest.newer = f
	}
	d.newest = f
	if d.oldest == nil {
		d.oldest = f
	}
}

func (d *Decoder) unlink(f *flow) {
	if f.newer != nil {
		f.newer.older = f.older
	} else if d.newest == f {
		d.newest = f.older
	}
	if f.older != nil {
		f.older.newer = f.newer
	} else if d.oldest == f {
		d.oldest = f.newer
	}
	f.newer, f.older = nil, nil
}

// expireTCP forgets idle flows and gives up on stale holes. It runs as the
// packet clock moves, so a replayed capture expires flows as a live one would.
func (d *Decoder) expireTCP() {
	for f := d.oldest; f != nil && d.now.Sub(f.seen) > d.idle; f = d.oldest {
		if len(f.buf) > 0 || len(f.ooo) > 0 {
			d.c.tcpGaps.Add(1) // an incomplete message is lost with it
		}
		d.removeFlow(f)
	}
	if len(d.holey) == 0 || d.now.Sub(d.lastHoleScan) < holeScanEvery {
		return
	}
	d.lastHoleScan = d.now
	keep := d.holey[:0]
	for _, f := range d.holey {
		if f.state == stateSynced && len(f.ooo) > 0 && d.now.Sub(f.holeSince) > d.holeWait {
			d.gap(f, d.now)
		}
		if f.state == stateSynced && len(f.ooo) > 0 {
			keep = append(keep, f)
		} else {
			f.holey = false
		}
	}
	clear(d.holey[len(keep):])
	d.holey = keep
}
