package capture

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// SIP over UDP is often fragmented: an INVITE with a rich SDP, or with many
// Via/Record-Route headers, easily passes a 1500-byte MTU. So IPv4 and IPv6
// fragments of UDP (and, rarely, TCP) datagrams are put back together here,
// in bounded memory: a few thousand datagrams in flight, a few MiB in all,
// each waiting at most fragTimeout of packet time.

const (
	fragTimeout    = 10 * time.Second
	fragMaxPending = 1024    // datagrams being reassembled
	fragMaxBytes   = 8 << 20 // their buffered bytes
	fragMaxPieces  = 64      // fragments per datagram
	fragMaxLen     = 65535   // an IP datagram's payload cannot be longer
)

type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    layers.IPProtocol
}

type fragPiece struct {
	off  int
	data []byte
}

type fragDatagram struct {
	key    fragKey
	pieces []fragPiece
	bytes  int
	total  int  // payload length, -1 until the last fragment is seen
	ignore bool // the first fragment showed no SIP port: drop the others quietly
	first  time.Time

	newer, older *fragDatagram
}

type fragState struct {
	pending                map[fragKey]*fragDatagram
	fragNewest, fragOldest *fragDatagram
	fragBytes              int
	fragBuf                []byte // reassembly buffer, reused
}

func (s *fragState) init() {
	s.pending = make(map[fragKey]*fragDatagram)
}

func (s *fragState) clear() {
	clear(s.pending)
	s.fragNewest, s.fragOldest = nil, nil
	s.fragBytes = 0
}

// fragment takes one IP fragment (the innermost IP header decoded in d).
func (d *Decoder) fragment(netLayer gopacket.LayerType, src, dst netip.Addr, ts time.Time, vlan int) {
	var (
		key  = fragKey{src: src, dst: dst}
		off  int
		more bool
		data []byte
	)
	if netLayer == layers.LayerTypeIPv4 {
		key.id, key.proto = uint32(d.ip4.Id), d.ip4.Protocol
		off = int(d.ip4.FragOffset) * 8
		more = d.ip4.Flags&layers.IPv4MoreFragments != 0
		data = d.ip4.Payload
	} else {
		h := d.ip6.Payload // the fragment header follows the fixed header
		if len(h) < 8 {
			d.c.decodeErrors.Add(1)
			return
		}
		key.proto = layers.IPProtocol(h[0])
		offFlags := binary.BigEndian.Uint16(h[2:4])
		off = int(offFlags &^ 7)
		more = offFlags&1 != 0
		key.id = binary.BigEndian.Uint32(h[4:8])
		data = h[8:]
	}
	if key.proto != layers.IPProtocolUDP && key.proto != layers.IPProtocolTCP {
		return
	}
	g := d.pending[key]
	if off == 0 && len(data) >= 4 {
		sp, dp := binary.BigEndian.Uint16(data[0:2]), binary.BigEndian.Uint16(data[2:4])
		if !d.ports.Has(sp) && !d.ports.Has(dp) {
			// Not ours. Remember that, so its other fragments are dropped
			// without being held (or counted).
			if g == nil {
				g = d.newDatagram(key)
			}
			d.fragDrop(g, len(g.pieces))
			g.ignore = true
			return
		}
	}
	if g == nil {
		g = d.newDatagram(key)
	}
	if g.ignore {
		return
	}
	d.c.fragments.Add(1)
	end := off + len(data)
	if end > fragMaxLen || len(g.pieces) >= fragMaxPieces || (!more && g.total >= 0 && g.total != end) || (g.total >= 0 && end > g.total) {
		d.fragDrop(g, len(g.pieces)+1)
		d.removeDatagram(g)
		return
	}
	if !more {
		g.total = end
	}
	for _, p := range g.pieces {
		if p.off == off && len(p.data) == len(data) {
			d.fragDrop(g, 1) // a duplicate
			return
		}
	}
	g.pieces = append(g.pieces, fragPiece{off: off, data: append([]byte(nil), data...)})
	g.bytes += len(data)
	d.fragBytes += len(data)
	for d.fragBytes > fragMaxBytes && d.fragOldest != nil && d.fragOldest != g {
		d.fragDrop(d.fragOldest, len(d.fragOldest.pieces))
		d.removeDatagram(d.fragOldest)
	}
	if g.total < 0 || !d.complete(g) {
		return
	}
	// Put it together. Overlaps are resolved by arrival order, later wins.
	if cap(d.fragBuf) < g.total {
		d.fragBuf = make([]byte, fragMaxLen)
	}
	buf := d.fragBuf[:g.total]
	for _, p := range g.pieces {
		copy(buf[p.off:], p.data)
	}
	proto := key.proto
	d.removeDatagram(g)
	if proto == layers.IPProtocolUDP {
		if d.udp.DecodeFromBytes(buf, gopacket.NilDecodeFeedback) != nil {
			d.c.decodeErrors.Add(1)
			return
		}
		d.transport(layers.LayerTypeUDP, src, dst, ts, vlan, false)
		return
	}
	if d.tcp.DecodeFromBytes(buf, gopacket.NilDecodeFeedback) != nil {
		d.c.decodeErrors.Add(1)
		return
	}
	d.transport(layers.LayerTypeTCP, src, dst, ts, vlan, false)
}

// complete reports whether the pieces cover [0, total).
func (d *Decoder) complete(g *fragDatagram) bool {
	covered := 0
	for {
		next := covered
		for _, p := range g.pieces {
			if p.off <= covered && p.off+len(p.data) > next {
				next = p.off + len(p.data)
			}
		}
		if next >= g.total {
			return true
		}
		if next == covered {
			return false
		}
		covered = next
	}
}

func (d *Decoder) fragDrop(g *fragDatagram, n int) {
	if !g.ignore && n > 0 {
		d.c.fragDrops.Add(uint64(n))
	}
}

func (d *Decoder) newDatagram(key fragKey) *fragDatagram {
	for len(d.pending) >= fragMaxPending && d.fragOldest != nil {
		d.fragDrop(d.fragOldest, len(d.fragOldest.pieces))
		d.removeDatagram(d.fragOldest)
	}
	g := &fragDatagram{key: key, total: -1, first: d.now}
	d.pending[key] = g
	g.older = d.fragNewest
	if g.older != nil {
		g.older.newer = g
	}
	d.fragNewest = g
	if d.fragOldest == nil {
		d.fragOldest = g
	}
	return g
}

func (d *Decoder) removeDatagram(g *fragDatagram) {
	delete(d.pending, g.key)
	d.fragBytes -= g.bytes
	if g.newer != nil {
		g.newer.older = g.older
	} else {
		d.fragNewest = g.older
	}
	if g.older != nil {
		g.older.newer = g.newer
	} else {
		d.fragOldest = g.newer
	}
	g.newer, g.older, g.pieces = nil, nil, nil
}

func (d *Decoder) expireFrags() {
	for g := d.fragOldest; g != nil && d.now.Sub(g.first) > fragTimeout; g = d.fragOldest {
		d.fragDrop(g, len(g.pieces))
		d.removeDatagram(g)
	}
}

// expire runs when the packet clock moves forward.
func (d *Decoder) expire() {
	d.expireTCP()
	d.expireFrags()
}
