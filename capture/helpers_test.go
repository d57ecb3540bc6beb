package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"tapline/config"
	"tapline/sip"
)

// got is a delivered packet with its payload copied (the decoder reuses it).
type got struct {
	TS        time.Time
	Src, Dst  netip.AddrPort
	Transport sip.Transport
	VLAN      int
	Payload   string
}

// collector is a Handler that keeps what it is given.
type collector struct {
	mu   sync.Mutex
	pkts []got
}

func (c *collector) handle(p *sip.Packet) {
	c.mu.Lock()
	c.pkts = append(c.pkts, got{p.TS, p.Src, p.Dst, p.Transport, p.VLAN, string(p.Payload)})
	c.mu.Unlock()
}

func (c *collector) all() []got {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]got(nil), c.pkts...)
}

func (c *collector) payloads() []string {
	var s []string
	for _, p := range c.all() {
		s = append(s, p.Payload)
	}
	return s
}

// sipMsg builds a SIP request with a body of bodyLen bytes.
func sipMsg(method, callID string, bodyLen int) string {
	body := strings.Repeat("v", bodyLen)
	ct := ""
	if bodyLen > 0 {
		ct = "Content-Type: application/sdp\r\n"
	}
	return fmt.Sprintf("%s sip:bob@example.com SIP/2.0\r\n"+
		"Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK-%s\r\n"+
		"From: <sip:alice@example.com>;tag=1\r\n"+
		"To: <sip:bob@example.com>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 %s\r\n"+
		"%sContent-Length: %d\r\n\r\n%s", method, callID, callID, method, ct, bodyLen, body)
}

func sipResp(callID string) string {
	return "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK-1\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
}

var (
	cli4 = netip.MustParseAddrPort("10.0.0.1:40000")
	srv4 = netip.MustParseAddrPort("10.0.0.2:5060")
	cli6 = netip.MustParseAddrPort("[2001:db8::1]:40000")
	srv6 = netip.MustParseAddrPort("[2001:db8::2]:5060")
	t0   = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
)

type tcpSpec struct {
	seq                uint32
	syn, fin, rst, ack bool
}

type frameSpec struct {
	src, dst netip.AddrPort
	vlans    []uint16 // outermost first; with two or more the outer one is an 802.1ad S-tag
	tcp      *tcpSpec // nil: UDP
	payload  []byte
	ipID     uint16
}

// ipLayers returns the serializable layers from the IP header on.
func ipLayers(fs frameSpec) ([]gopacket.SerializableLayer, layers.EthernetType) {
	var ls []gopacket.SerializableLayer
	var netl gopacket.NetworkLayer
	et := layers.EthernetTypeIPv4
	proto := layers.IPProtocolUDP
	if fs.tcp != nil {
		proto = layers.IPProtocolTCP
	}
	if fs.src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, Id: fs.ipID,
			SrcIP: fs.src.Addr().AsSlice(), DstIP: fs.dst.Addr().AsSlice()}
		ls, netl = append(ls, ip), ip
	} else {
		et = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto,
			SrcIP: fs.src.Addr().AsSlice(), DstIP: fs.dst.Addr().AsSlice()}
		ls, netl = append(ls, ip), ip
	}
	if fs.tcp != nil {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(fs.src.Port()), DstPort: layers.TCPPort(fs.dst.Port()),
			Seq: fs.tcp.seq, SYN: fs.tcp.syn, FIN: fs.tcp.fin, RST: fs.tcp.rst, ACK: fs.tcp.ack || !fs.tcp.syn, Window: 65535}
		tcp.SetNetworkLayerForChecksum(netl)
		ls = append(ls, tcp)
	} else {
		udp := &layers.UDP{SrcPort: layers.UDPPort(fs.src.Port()), DstPort: layers.UDPPort(fs.dst.Port())}
		udp.SetNetworkLayerForChecksum(netl)
		ls = append(ls, udp)
	}
	return append(ls, gopacket.Payload(fs.payload)), et
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ethFrame builds an Ethernet frame.
func ethFrame(t testing.TB, fs frameSpec) []byte {
	ipl, et := ipLayers(fs)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: et}
	ls := []gopacket.SerializableLayer{eth}
	if len(fs.vlans) > 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		if len(fs.vlans) > 1 {
			eth.EthernetType = layers.EthernetTypeQinQ
		}
		for i, v := range fs.vlans {
			tag := &layers.Dot1Q{VLANIdentifier: v, Type: layers.EthernetTypeDot1Q}
			if i == len(fs.vlans)-1 {
				tag.Type = et
			}
			ls = append(ls, tag)
		}
	}
	return serialize(t, append(ls, ipl...)...)
}

// ipPacket builds the frame from the IP header on (raw IP link type).
func ipPacket(t testing.TB, fs frameSpec) []byte {
	ipl, _ := ipLayers(fs)
	return serialize(t, ipl...)
}

// sllFrame builds a Linux cooked (v1) frame as libpcap writes for "any".
func sllFrame(t testing.TB, fs frameSpec) []byte {
	ip := ipPacket(t, fs)
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], 0) // to us
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], []byte{2, 0, 0, 0, 0, 1})
	et := layers.EthernetTypeIPv4
	if !fs.src.Addr().Is4() {
		et = layers.EthernetTypeIPv6
	}
	binary.BigEndian.PutUint16(h[14:], uint16(et))
	return append(h, ip...)
}

// sll2Frame builds a Linux cooked v2 frame.
func sll2Frame(t testing.TB, fs frameSpec) []byte {
	ip := ipPacket(t, fs)
	h := make([]byte, 20)
	et := layers.EthernetTypeIPv4
	if !fs.src.Addr().Is4() {
		et = layers.EthernetTypeIPv6
	}
	binary.BigEndian.PutUint16(h[0:], uint16(et))
	binary.BigEndian.PutUint32(h[4:], 2) // ifindex
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[10] = 0
	h[11] = 6
	copy(h[12:], []byte{2, 0, 0, 0, 0, 1})
	return append(h, ip...)
}

func udpFrame(t testing.TB, src, dst netip.AddrPort, payload string) []byte {
	return ethFrame(t, frameSpec{src: src, dst: dst, payload: []byte(payload)})
}

func tcpFrame(t testing.TB, src, dst netip.AddrPort, seq uint32, flags string, payload string) []byte {
	ts := &tcpSpec{seq: seq, syn: strings.Contains(flags, "S"), fin: strings.Contains(flags, "F"),
		rst: strings.Contains(flags, "R"), ack: strings.Contains(flags, "A")}
	return ethFrame(t, frameSpec{src: src, dst: dst, tcp: ts, payload: []byte(payload)})
}

func mustPorts(t testing.TB, spec string) config.PortSet {
	t.Helper()
	p, err := config.ParsePorts(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tcpStream feeds a TCP conversation to a decoder: a SYN, then segments
// whose offsets are relative to the first data byte.
type tcpStream struct {
	t        testing.TB
	d        *Decoder
	src, dst netip.AddrPort
	isn      uint32
	ts       time.Time
}

func (s *tcpStream) syn() {
	s.d.Decode(layers.LinkTypeEthernet, tcpFrame(s.t, s.src, s.dst, s.isn, "S", ""), s.ts, -1)
}

// seg sends data at stream offset off.
func (s *tcpStream) seg(off int, data string) {
	s.segFlags(off, data, "A")
}

func (s *tcpStream) segFlags(off int, data, flags string) {
	s.ts = s.ts.Add(time.Millisecond)
	s.d.Decode(layers.LinkTypeEthernet, tcpFrame(s.t, s.src, s.dst, s.isn+1+uint32(off), flags, data), s.ts, -1)
}

func netipAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// waitFor polls cond for up to 5 s.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
