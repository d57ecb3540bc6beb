package capture

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"tapline/config"
	"tapline/sip"
)

// Decoder turns link-layer frames into SIP Packets: Ethernet, Linux cooked
// (SLL, SLL2: what "any" captures write), BSD loopback and raw IP link types;
// 802.1Q/QinQ tags (the outermost id goes to Packet.VLAN); IPv4 and IPv6,
// fragments reassembled (frag.go); UDP and TCP (reassembled per direction,
// tcp.go). Of the IPv6 extension headers only hop-by-hop and a fragment
// header right after the fixed header are walked; packets with others are
// ignored.
//
// Only frames with a source or destination port in the SIP port set are
// looked at; everything else is ignored without being counted as an error,
// because a sensor on a mirror port sees mostly RTP and other traffic.
//
// A Decoder is not safe for concurrent Decode calls (one per capture
// goroutine); Stats may be read from any goroutine.
type Decoder struct {
	ports config.PortSet
	h     Handler
	c     counters

	// Preallocated layers shared by the per-link-type parsers: decoding a
	// UDP SIP frame allocates nothing.
	eth     layers.Ethernet
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	vlan    dot1q
	ip4     layers.IPv4
	ip6     layers.IPv6
	udp     layers.UDP
	tcp     layers.TCP
	parsers [numFirst]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType

	pkt sip.Packet // reused for every delivery
	now time.Time  // newest packet time seen: the clock for TCP and fragment expiry

	tcpState
	fragState
}

// Indexes of parsers by first layer.
const (
	firstEthernet = iota
	firstSLL
	firstSLL2
	firstLoopback
	firstIPv4
	firstIPv6
	numFirst
)

// counters are atomics because Live's stats poller and a metrics reader
// run beside the decoding goroutine.
type counters struct {
	packets, sip, notSIP, decodeErrors, drops, tcpGaps, duplicates atomic.Uint64
	truncated, fragments, fragDrops, tcpRetrans, tcpEvicted        atomic.Uint64
	tcpFlows                                                       atomic.Int64
}

// dot1q remembers the outermost tag of a frame: with QinQ the parser decodes
// several tags into the same layer, and the outer (service) VLAN is the one
// that identifies the customer network.
type dot1q struct {
	layers.Dot1Q
	outer int
}

func (v *dot1q) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := v.Dot1Q.DecodeFromBytes(data, df); err != nil {
		return err
	}
	if v.outer < 0 {
		v.outer = int(v.VLANIdentifier)
	}
	return nil
}

// NewDecoder returns a decoder delivering the SIP messages found on ports to
// h. The port set is copied.
func NewDecoder(ports config.PortSet, h Handler) *Decoder {
	d := &Decoder{ports: ports.Clone(), h: h, decoded: make([]gopacket.LayerType, 0, 16)}
	d.tcpState.init()
	d.fragState.init()
	firsts := [numFirst]gopacket.LayerType{
		firstEthernet: layers.LayerTypeEthernet,
		firstSLL:      layers.LayerTypeLinuxSLL,
		firstSLL2:     layers.LayerTypeLinuxSLL2,
		firstLoopback: layers.LayerTypeLoopback,
		firstIPv4:     layers.LayerTypeIPv4,
		firstIPv6:     layers.LayerTypeIPv6,
	}
	for i, first := range firsts {
		p := gopacket.NewDecodingLayerParser(first)
		var dlc gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
		for _, l := range []gopacket.DecodingLayer{&d.eth, &d.sll, &d.sll2, &d.loop, &d.vlan, &d.ip4, &d.ip6, &d.udp, &d.tcp} {
			dlc = dlc.Put(l)
		}
		p.SetDecodingLayerContainer(dlc)
		// Stop quietly at the first layer we have no decoder for (ARP,
		// ICMP, the SIP payload itself): the decoded list says how far we got.
		p.IgnoreUnsupported = true
		d.parsers[i] = p
	}
	return d
}

// Stats returns a snapshot of the counters.
func (d *Decoder) Stats() Stats {
	c := &d.c
	return Stats{
		Packets:        c.packets.Load(),
		SIP:            c.sip.Load(),
		NotSIP:         c.notSIP.Load(),
		DecodeErrors:   c.decodeErrors.Load(),
		Drops:          c.drops.Load(),
		TCPGaps:        c.tcpGaps.Load(),
		Duplicates:     c.duplicates.Load(),
		Truncated:      c.truncated.Load(),
		Fragments:      c.fragments.Load(),
		FragDrops:      c.fragDrops.Load(),
		TCPRetransmits: c.tcpRetrans.Load(),
		TCPEvicted:     c.tcpEvicted.Load(),
		TCPFlows:       uint64(max(c.tcpFlows.Load(), 0)),
	}
}

// Reset forgets all TCP flows and pending fragments (counters are kept).
// Replay calls it when it loops, so the same connections played again are
// not taken for retransmissions.
func (d *Decoder) Reset() {
	d.tcpState.clear(d)
	d.fragState.clear()
	d.now = time.Time{}
}

// Decode takes one frame of the given link type captured at ts. vlanHint is
// a VLAN id the capture source stripped from the frame (the kernel's
// offloaded tag), or -1; it counts as the outermost tag.
func (d *Decoder) Decode(linkType layers.LinkType, frame []byte, ts time.Time, vlanHint int) {
	d.c.packets.Add(1)
	if ts.After(d.now) {
		d.now = ts
		d.expire()
	}
	var first int
	switch linkType {
	case layers.LinkTypeEthernet:
		first = firstEthernet
	case layers.LinkTypeLinuxSLL:
		first = firstSLL
	case layers.LinkTypeLinuxSLL2:
		first = firstSLL2
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		first = firstLoopback
	case layers.LinkTypeIPv4:
		first = firstIPv4
	case layers.LinkTypeIPv6:
		first = firstIPv6
	case layers.LinkTypeRaw, 12, 14: // DLT_RAW is 12 or 14 on some BSDs
		if len(frame) == 0 {
			d.c.decodeErrors.Add(1)
			return
		}
		switch frame[0] >> 4 {
		case 4:
			first = firstIPv4
		case 6:
			first = firstIPv6
		default:
			d.c.decodeErrors.Add(1)
			return
		}
	default:
		d.c.decodeErrors.Add(1)
		return
	}
	d.vlan.outer = -1
	p := d.parsers[first]
	err := p.DecodeLayers(frame, &d.decoded)
	vlan := d.vlan.outer
	if vlanHint >= 0 {
		vlan = vlanHint
	}

	// The innermost IP header and the transport after it decide.
	var netLayer, transport gopacket.LayerType
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4, layers.LayerTypeIPv6:
			netLayer, transport = t, 0
		case layers.LayerTypeUDP, layers.LayerTypeTCP:
			transport = t
		}
	}
	if err != nil {
		// A layer the parser knows failed (short header, bad length). The
		// layers after a fragment header are unsupported, not errors.
		d.c.decodeErrors.Add(1)
		return
	}
	var src, dst netip.Addr
	switch netLayer {
	case layers.LayerTypeIPv4:
		src = netip.AddrFrom4([4]byte(d.ip4.SrcIP))
		dst = netip.AddrFrom4([4]byte(d.ip4.DstIP))
	case layers.LayerTypeIPv6:
		src = netip.AddrFrom16([16]byte(d.ip6.SrcIP))
		dst = netip.AddrFrom16([16]byte(d.ip6.DstIP))
	default:
		return // not IP: ARP, LLDP, ...
	}
	if transport == 0 {
		if d.ipFragment(netLayer) {
			d.fragment(netLayer, src, dst, ts, vlan)
		}
		return // ICMP, ESP, ...
	}
	d.transport(transport, src, dst, ts, vlan, p.Truncated)
}

// ipFragment reports whether the innermost IP header is a fragment.
func (d *Decoder) ipFragment(netLayer gopacket.LayerType) bool {
	if netLayer == layers.LayerTypeIPv4 {
		return d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0
	}
	return d.ip6.NextHeader == layers.IPProtocolIPv6Fragment && d.ip6.HopByHop == nil
}

// transport handles the decoded d.udp or d.tcp.
func (d *Decoder) transport(transport gopacket.LayerType, src, dst netip.Addr, ts time.Time, vlan int, truncated bool) {
	if transport == layers.LayerTypeUDP {
		sp, dp := uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
		if !d.ports.Has(sp) && !d.ports.Has(dp) {
			return
		}
		if truncated {
			// Cut by the snap length: deliver what there is (the headers
			// that matter come first) but say so.
			d.c.truncated.Add(1)
		}
		if !sip.LooksLikeSIP(d.udp.Payload) {
			d.c.notSIP.Add(1)
			return
		}
		d.deliver(netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp), sip.UDP, ts, vlan, d.udp.Payload)
		return
	}
	sp, dp := uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
	if !d.ports.Has(sp) && !d.ports.Has(dp) {
		return
	}
	if truncated {
		d.c.truncated.Add(1)
	}
	d.segment(flowKey{netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)}, &d.tcp, ts, vlan, truncated)
}

func (d *Decoder) deliver(src, dst netip.AddrPort, t sip.Transport, ts time.Time, vlan int, payload []byte) {
	d.c.sip.Add(1)
	d.pkt = sip.Packet{TS: ts, Src: src, Dst: dst, Transport: t, VLAN: vlan, Payload: payload}
	d.h(&d.pkt)
	d.pkt.Payload = nil
}
