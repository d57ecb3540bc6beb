package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"tapline/sip"
)

// HEPv3 (the Homer encapsulation protocol) is how SIP servers mirror their
// traffic to a collector: Kamailio's siptrace, OpenSIPS' proto_hep,
// FreeSWITCH and Asterisk res_hep. Each UDP datagram is
//
//	"HEP3" | total length (2) | chunks
//
// and each chunk is vendor id (2) | type id (2) | length (2, header
// included) | value, big-endian. A sensor fed by HEP needs no capture
// privileges and sees TLS-decrypted SIP.

// HEPv3 chunk types of the generic vendor (0) that are read or written.
const (
	hepFamily    = 0x0001
	hepProto     = 0x0002
	hepSrcIP4    = 0x0003
	hepDstIP4    = 0x0004
	hepSrcIP6    = 0x0005
	hepDstIP6    = 0x0006
	hepSrcPort   = 0x0007
	hepDstPort   = 0x0008
	hepTSSec     = 0x0009
	hepTSUsec    = 0x000a
	hepProtoType = 0x000b
	hepPayload   = 0x000f
	hepZPayload  = 0x0010

	hepTypeSIP = 1
	afInet     = 2
	afInet6    = 10
)

// Bits of parseHEP's seen mask: the chunks whose presence matters.
const (
	seenSrc4 uint32 = 1 << iota
	seenDst4
	seenSrc6
	seenDst6
	seenSrcPort
	seenDstPort
	seenTSSec
	seenPayload

	seen4     = seenSrc4 | seenDst4
	seen6     = seenSrc6 | seenDst6
	seenPorts = seenSrcPort | seenDstPort
)

// Errors of parseHEP.
var (
	errHEPVersion    = errors.New("hep: not a HEPv3 packet")
	errHEPLength     = errors.New("hep: bad total length")
	errHEPChunk      = errors.New("hep: bad chunk")
	errHEPIncomplete = errors.New("hep: missing address, port or payload")
	errHEPNotSIP     = errors.New("hep: payload is not SIP")
	errHEPCompressed = errors.New("hep: compressed payloads are not supported")
)

// parseHEP decodes one HEPv3 packet into p. p.Payload points into b. A
// packet whose protocol type is not SIP (RTCP, logs, ...) gives errHEPNotSIP;
// anything broken gives another error. p.TS is zero when the packet carries
// no timestamp.
func parseHEP(b []byte, p *sip.Packet) error {
	if len(b) < 6 || string(b[:4]) != "HEP3" {
		return errHEPVersion
	}
	total := int(binary.BigEndian.Uint16(b[4:6]))
	if total < 6 || total > len(b) {
		return errHEPLength
	}
	b = b[6:total]
	var (
		family, proto, ptype = 0, -1, -1
		src4, dst4           [4]byte
		src6, dst6           [16]byte
		sport, dport         uint16
		sec, usec            uint32
		payload              []byte
		seen                 uint32 // seen* bits
	)
	for len(b) > 0 {
		if len(b) < 6 {
			return errHEPChunk
		}
		vendor := binary.BigEndian.Uint16(b[0:2])
		typ := binary.BigEndian.Uint16(b[2:4])
		n := int(binary.BigEndian.Uint16(b[4:6]))
		if n < 6 || n > len(b) {
			return errHEPChunk
		}
		v := b[6:n]
		b = b[n:]
		if vendor != 0 {
			continue // vendor extensions
		}
		want := -1 // expected value size, -1 for any
		switch typ {
		case hepFamily, hepProto, hepProtoType:
			want = 1
		case hepSrcIP4, hepDstIP4, hepTSSec, hepTSUsec:
			want = 4
		case hepSrcIP6, hepDstIP6:
			want = 16
		case hepSrcPort, hepDstPort:
			want = 2
		}
		if want >= 0 && len(v) != want {
			return errHEPChunk
		}
		switch typ {
		case hepFamily:
			family = int(v[0])
		case hepProto:
			proto = int(v[0])
		case hepSrcIP4:
			src4 = [4]byte(v)
			seen |= seenSrc4
		case hepDstIP4:
			dst4 = [4]byte(v)
			seen |= seenDst4
		case hepSrcIP6:
			src6 = [16]byte(v)
			seen |= seenSrc6
		case hepDstIP6:
			dst6 = [16]byte(v)
			seen |= seenDst6
		case hepSrcPort:
			sport = binary.BigEndian.Uint16(v)
			seen |= seenSrcPort
		case hepDstPort:
			dport = binary.BigEndian.Uint16(v)
			seen |= seenDstPort
		case hepTSSec:
			sec = binary.BigEndian.Uint32(v)
			seen |= seenTSSec
		case hepTSUsec:
			usec = binary.BigEndian.Uint32(v)
		case hepProtoType:
			ptype = int(v[0])
		case hepPayload:
			payload = v
			seen |= seenPayload
		case hepZPayload:
			return errHEPCompressed
		}
	}
	var src, dst netip.Addr
	switch {
	case seen&seen4 == seen4 && (family == afInet || family == 0 || seen&seen6 != seen6):
		src, dst = netip.AddrFrom4(src4), netip.AddrFrom4(dst4)
	case seen&seen6 == seen6:
		src, dst = netip.AddrFrom16(src6), netip.AddrFrom16(dst6)
	default:
		return errHEPIncomplete
	}
	if seen&seenPorts != seenPorts || seen&seenPayload == 0 {
		return errHEPIncomplete
	}
	if ptype >= 0 && ptype != hepTypeSIP {
		return errHEPNotSIP
	}
	*p = sip.Packet{
		Src:       netip.AddrPortFrom(src, sport),
		Dst:       netip.AddrPortFrom(dst, dport),
		Transport: sip.UDP,
		VLAN:      -1,
		Payload:   payload,
	}
	if proto == 6 {
		p.Transport = sip.TCP // already one complete message: the sender cut it
	}
	if seen&seenTSSec != 0 {
		p.TS = time.Unix(int64(sec), int64(usec%1_000_000)*1000)
	}
	return nil
}

// AppendHEP appends p as a HEPv3 packet to dst, the way Kamailio's siptrace
// writes it. A payload too long for one HEP packet (64 KiB in all) leaves dst
// unchanged.
func AppendHEP(dst []byte, p *sip.Packet) []byte {
	if len(p.Payload) > 0xffff { // too long whatever the other chunks
		return dst
	}
	src, dstA := p.Src.Addr().Unmap(), p.Dst.Addr().Unmap()
	chunk := func(b []byte, typ uint16, v ...byte) []byte {
		b = binary.BigEndian.AppendUint16(b, 0)
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint16(b, uint16(6+len(v)))
		return append(b, v...)
	}
	start := len(dst)
	b := append(dst, "HEP3"...)
	b = binary.BigEndian.AppendUint16(b, 0) // total length, set once known
	proto := byte(17)
	if p.Transport == sip.TCP {
		proto = 6
	}
	if src.Is4() && dstA.Is4() {
		s, d := src.As4(), dstA.As4()
		b = chunk(b, hepFamily, afInet)
		b = chunk(b, hepProto, proto)
		b = chunk(b, hepSrcIP4, s[:]...)
		b = chunk(b, hepDstIP4, d[:]...)
	} else {
		s, d := p.Src.Addr().As16(), p.Dst.Addr().As16()
		b = chunk(b, hepFamily, afInet6)
		b = chunk(b, hepProto, proto)
		b = chunk(b, hepSrcIP6, s[:]...)
		b = chunk(b, hepDstIP6, d[:]...)
	}
	b = chunk(b, hepSrcPort, byte(p.Src.Port()>>8), byte(p.Src.Port()))
	b = chunk(b, hepDstPort, byte(p.Dst.Port()>>8), byte(p.Dst.Port()))
	if !p.TS.IsZero() { // else the receiver stamps it
		sec, usec := uint32(p.TS.Unix()), uint32(p.TS.Nanosecond()/1000)
		b = chunk(b, hepTSSec, byte(sec>>24), byte(sec>>16), byte(sec>>8), byte(sec))
		b = chunk(b, hepTSUsec, byte(usec>>24), byte(usec>>16), byte(usec>>8), byte(usec))
	}
	b = chunk(b, hepProtoType, hepTypeSIP)
	b = chunk(b, hepPayload, p.Payload...)
	size := len(b) - start
	if size > 0xffff {
		return dst
	}
	binary.BigEndian.PutUint16(b[start+4:], uint16(size))
	return b
}

// HEPStats are a HEP listener's counters, safe to read while it runs.
type HEPStats struct {
	Packets   atomic.Uint64 // datagrams received
	SIP       atomic.Uint64 // SIP payloads delivered
	NotSIP    atomic.Uint64 // valid HEP carrying something else (RTCP, logs) or a payload that is not SIP
	Malformed atomic.Uint64 // not HEPv3, or broken
	Drops     atomic.Uint64 // datagrams the kernel dropped on the socket (buffer full), as it reports them
}

// Stats returns the counters in the common form (Malformed as DecodeErrors).
func (s *HEPStats) Stats() Stats {
	return Stats{
		Packets:      s.Packets.Load(),
		SIP:          s.SIP.Load(),
		NotSIP:       s.NotSIP.Load(),
		DecodeErrors: s.Malformed.Load(),
		Drops:        s.Drops.Load(),
	}
}

// hepListener is a bound HEP socket; newHEPListener then serve lets a caller
// learn the address (":0" in tests) before packets flow.
type hepListener struct {
	conn *net.UDPConn
}

// newHEPListener binds a UDP socket for HEP.
func newHEPListener(addr string) (*hepListener, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("hep: %w", err)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("hep: %w", err)
	}
	// A burst of mirrored traffic must not overflow the default buffer.
	_ = c.SetReadBuffer(8 << 20)
	enableDropCount(c)
	return &hepListener{conn: c}, nil
}

// Addr is the bound address.
func (l *hepListener) Addr() net.Addr { return l.conn.LocalAddr() }

// Close closes the socket (Serve then returns).
func (l *hepListener) Close() error { return l.conn.Close() }

// Serve reads HEP packets and hands their SIP payloads to h until ctx is
// done, then closes the socket and returns nil. st may be nil.
func (l *hepListener) serve(ctx context.Context, h Handler, st *HEPStats) error {
	if st == nil {
		st = new(HEPStats)
	}
	stop := context.AfterFunc(ctx, func() { l.conn.Close() })
	defer stop()
	defer l.conn.Close()
	buf := make([]byte, 65536)
	oob := make([]byte, 128)
	var p sip.Packet
	for {
		n, oobn, _, _, err := l.conn.ReadMsgUDP(buf, oob)
		if d, ok := dropCount(oob[:oobn]); ok {
			st.Drops.Store(d)
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("hep: %w", err)
		}
		st.Packets.Add(1)
		switch err := parseHEP(buf[:n], &p); {
		case errors.Is(err, errHEPNotSIP):
			st.NotSIP.Add(1)
			continue
		case err != nil:
			st.Malformed.Add(1)
			continue
		}
		if !sip.LooksLikeSIP(p.Payload) {
			st.NotSIP.Add(1)
			continue
		}
		if p.TS.IsZero() {
			p.TS = time.Now()
		}
		st.SIP.Add(1)
		h(&p)
		p.Payload = nil
	}
}

// ListenHEP listens on addr (e.g. ":9060") for HEPv3 over UDP and hands the
// SIP payloads to h until ctx is done.
func ListenHEP(ctx context.Context, addr string, h Handler, st *HEPStats) error {
	l, err := newHEPListener(addr)
	if err != nil {
		return err
	}
	return l.serve(ctx, h, st)
}
