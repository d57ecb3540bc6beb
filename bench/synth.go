package bench

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// writeCallsCapture writes a pcap holding `calls` answered calls (INVITE with
// SDP, 200 OK with SDP, ACK; no BYE), so a tapline replaying it ends with
// that many active calls in listcalls. The snapshot comparison needs a large
// live table, and generating it is faster and smaller than shipping one:
// 100k calls are about 230 MB of packets, written in about a second.
func writeCallsCapture(path string, calls int) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("synthetic capture: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return fmt.Errorf("synthetic capture: %w", err)
	}
	s := synthWriter{w: w, buf: gopacket.NewSerializeBuffer(), ts: time.Unix(1795449600, 0)}
	for i := 0; i < calls && s.err == nil; i++ {
		s.call(i)
	}
	if s.err == nil {
		s.err = bw.Flush()
	}
	if err := f.Close(); s.err == nil {
		s.err = err
	}
	if s.err != nil {
		return fmt.Errorf("synthetic capture: %w", s.err)
	}
	return nil
}

type synthWriter struct {
	w   *pcapgo.Writer
	buf gopacket.SerializeBuffer
	ts  time.Time
	err error
}

// call writes call i: caller 10.1.x.y calls 10.2.x.y, 20 µs of capture
// time apart, so the calls' start times and durations differ.
func (s *synthWriter) call(i int) {
	caller := net.IP{10, 1, byte(i >> 8), byte(i)}
	callee := net.IP{10, 2, byte(i >> 8), byte(i)}
	id := fmt.Sprintf("%d-bench@%s", i, caller)
	from := fmt.Sprintf("From: \"User %d\" <sip:1%07d@a.example>;tag=f%d", i, i, i)
	to := fmt.Sprintf("To: <sip:2%07d@b.example>", i)
	inv := fmt.Sprintf("INVITE sip:2%07d@b.example SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK%d\r\n%s\r\n%s\r\n"+
		"Call-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:1%07d@%s:5060>\r\nMax-Forwards: 70\r\nUser-Agent: tapline-bench\r\n",
		i, caller, i, from, to, id, i, caller)
	ok := fmt.Sprintf("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK%d\r\n%s\r\n%s;tag=t%d\r\n"+
		"Call-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:2%07d@%s:5060>\r\nServer: tapline-bench\r\n",
		caller, i, from, to, i, id, i, callee)
	ack := fmt.Sprintf("ACK sip:2%07d@%s:5060 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK%da\r\n%s\r\n%s;tag=t%d\r\n"+
		"Call-ID: %s\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		i, callee, caller, i, from, to, i, id)
	s.packet(caller, callee, withSDP(inv, caller, 10000+2*(i%20000)))
	s.ts = s.ts.Add(10 * time.Microsecond)
	s.packet(callee, caller, withSDP(ok, callee, 30000+2*(i%20000)))
	s.packet(caller, callee, ack)
	s.ts = s.ts.Add(10 * time.Microsecond)
}

func withSDP(head string, ip net.IP, port int) string {
	sdp := fmt.Sprintf("v=0\r\no=- %d 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 8 0 101\r\n"+
		"a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n", port, ip, ip, port)
	return head + fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n", len(sdp)) + sdp
}

func (s *synthWriter) packet(src, dst net.IP, payload string) {
	if s.err != nil {
		return
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src, DstIP: dst, Protocol: layers.IPProtocolUDP}
	udp := &layers.UDP{SrcPort: 5060, DstPort: 5060}
	_ = udp.SetNetworkLayerForChecksum(ip)
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if s.err = gopacket.SerializeLayers(s.buf, opts, eth, ip, udp, gopacket.Payload(payload)); s.err != nil {
		return
	}
	data := s.buf.Bytes()
	s.err = s.w.WritePacket(gopacket.CaptureInfo{Timestamp: s.ts, CaptureLength: len(data), Length: len(data)}, data)
}
