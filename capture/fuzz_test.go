package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"tapline/sip"
)

// checkInvariants verifies the memory bounds and the byte accounting.
func checkInvariants(t *testing.T, d *Decoder) {
	t.Helper()
	sum := 0
	n := 0
	for f := d.newest; f != nil; f = f.older {
		n++
		if d.flows[f.key] != f {
			t.Fatalf("flow list and map disagree on %v", f.key)
		}
		if len(f.buf) > d.maxMsg || len(f.ooo) > d.maxOOOSegs || f.oooBytes > d.maxOOOBytes {
			t.Fatalf("flow over its limits: buf %d, %d segments, %d bytes", len(f.buf), len(f.ooo), f.oooBytes)
		}
		ob := 0
		for _, s := range f.ooo {
			ob += len(s.data)
		}
		if ob != f.oooBytes || f.mem != cap(f.buf)+f.oooBytes {
			t.Fatalf("flow accounting: ooo %d vs %d, mem %d vs %d", ob, f.oooBytes, f.mem, cap(f.buf)+f.oooBytes)
		}
		if f.state == stateResync && (len(f.ooo) > 0 || len(f.buf) > 0) {
			t.Fatal("a resyncing flow holds data")
		}
		sum += f.mem
	}
	if n != len(d.flows) || int64(n) != d.c.tcpFlows.Load() || n > d.maxFlows {
		t.Fatalf("%d flows listed, %d in the map, gauge %d", n, len(d.flows), d.c.tcpFlows.Load())
	}
	if sum != d.bytes || d.bytes > d.maxTCPBytes+2*(d.maxMsg+d.maxOOOBytes) {
		t.Fatalf("TCP bytes %d, counted %d", sum, d.bytes)
	}
	fb := 0
	for _, g := range d.pending {
		fb += g.bytes
	}
	if fb != d.fragBytes || len(d.pending) > fragMaxPending || d.fragBytes > fragMaxBytes+fragMaxLen {
		t.Fatalf("fragments: %d bytes counted %d, %d pending", fb, d.fragBytes, len(d.pending))
	}
}

// checkedHandler fails on a delivery that is not one SIP message.
func checkedHandler(t *testing.T) Handler {
	return func(p *sip.Packet) {
		if !sip.LooksLikeSIP(p.Payload) {
			t.Fatalf("delivered non-SIP %q", p.Payload)
		}
		if p.Transport == sip.TCP {
			if n, err := sip.MessageLen(p.Payload, 0); err != nil || n != len(p.Payload) {
				t.Fatalf("TCP delivery is not one message: %d, %v: %q", n, err, p.Payload)
			}
		}
	}
}

var fuzzLinkTypes = []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, layers.LinkTypeNull, layers.LinkTypeIPv6}

// FuzzDecode feeds a sequence of frames ([link type][2-byte length][frame]...)
// to one decoder.
func FuzzDecode(f *testing.F) {
	seed := func(frames ...[]byte) []byte {
		var b []byte
		for _, fr := range frames {
			b = append(b, 0)
			b = binary.BigEndian.AppendUint16(b, uint16(len(fr)))
			b = append(b, fr...)
		}
		return b
	}
	m := sipMsg("INVITE", "fuzz", 40)
	f.Add(seed(udpFrame(f, cli4, srv4, m)))
	f.Add(seed(ethFrame(f, frameSpec{src: cli6, dst: srv6, vlans: []uint16{1, 2}, payload: []byte(m)})))
	f.Add(seed(tcpFrame(f, cli4, srv4, 1, "S", ""), tcpFrame(f, cli4, srv4, 2, "A", m[:50]), tcpFrame(f, cli4, srv4, 52, "A", m[50:])))
	f.Add(seed(tcpFrame(f, cli4, srv4, 9, "A", m+m[:10]), tcpFrame(f, cli4, srv4, 100, "A", m)))
	f.Add(append([]byte{3}, seed(ipPacket(f, frameSpec{src: cli4, dst: srv4, payload: []byte(m)}))[1:]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(mustPorts(t, "5060,5061"), checkedHandler(t))
		d.maxOOOSegs, d.maxMsg = 8, 4096 // small limits, so the fuzzer reaches them
		ts := t0
		for len(data) >= 3 {
			lt := fuzzLinkTypes[int(data[0])%len(fuzzLinkTypes)]
			n := min(int(binary.BigEndian.Uint16(data[1:3])), len(data)-3)
			frame := data[3 : 3+n]
			data = data[3+n:]
			ts = ts.Add(time.Duration(n%7) * time.Second)
			d.Decode(lt, frame, ts, -1)
			checkInvariants(t, d)
		}
	})
}

// FuzzTCPReassembly checks two things. A valid stream cut into segments and
// sent with adjacent swaps and duplicates (as the fuzz input says) comes out
// as exactly its messages. And random segments on another flow never break
// the bounds.
func FuzzTCPReassembly(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{255, 0, 255, 0, 17, 33, 99, 200, 3})
	f.Add(bytes.Repeat([]byte{0x41}, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		var msgs []string
		for i := range 5 {
			msgs = append(msgs, sipMsg("MESSAGE", fmt.Sprint("f", i), i*97%300))
		}
		stream := msgs[0] + "\r\n" + msgs[1] + msgs[2] + msgs[3] + msgs[4]
		type seg struct{ off, end int }
		var segs []seg
		for off, i := 0, 0; off < len(stream); i++ {
			n := 1 + 37*i%200
			if len(data) > 0 {
				n = 1 + int(data[i%len(data)])*3
			}
			end := min(off+n, len(stream))
			segs = append(segs, seg{off, end})
			off = end
		}
		var order []seg
		for i := 0; i < len(segs); i++ {
			var b byte
			if len(data) > 0 {
				b = data[(i*7+3)%len(data)]
			}
			if b&1 != 0 && i+1 < len(segs) {
				order = append(order, segs[i+1], segs[i])
				i++
			} else {
				order = append(order, segs[i])
			}
			if b&2 != 0 {
				order = append(order, order[len(order)-1])
			}
		}
		var c collector
		d := NewDecoder(mustPorts(t, "5060"), c.handle)
		s := &tcpStream{t: t, d: d, src: cli4, dst: srv4, isn: 0xfffffff0, ts: t0}
		s.syn()
		for _, sg := range order {
			s.seg(sg.off, stream[sg.off:sg.end])
		}
		got := c.payloads()
		if len(got) != len(msgs) {
			t.Fatalf("%d messages, want %d (stats %+v)", len(got), len(msgs), d.Stats())
		}
		for i := range msgs {
			if got[i] != msgs[i] {
				t.Fatalf("message %d: %q", i, got[i])
			}
		}
		checkInvariants(t, d)

		// Random segments: [flags][seq delta][len] headers over the input.
		d2 := NewDecoder(mustPorts(t, "5060"), checkedHandler(t))
		d2.maxOOOSegs, d2.maxMsg, d2.maxOOOBytes = 6, 2048, 4096
		seq := uint32(100)
		ts := t0
		for p := 0; p+3 <= len(data); {
			flags, delta, n := data[p], int8(data[p+1]), int(data[p+2])
			p += 3
			payload := data[p:min(p+n, len(data))]
			p += len(payload)
			if flags&0x80 != 0 {
				payload = []byte(msgs[int(flags)%len(msgs)])
			}
			seq += uint32(int32(delta) * 16)
			fl := "A"
			switch flags & 0x7 {
			case 1:
				fl = "S"
			case 2:
				fl = "FA"
			case 3:
				fl = "R"
			}
			ts = ts.Add(time.Duration(flags>>4&3) * 2 * time.Second)
			d2.Decode(layers.LinkTypeEthernet, tcpFrame(t, cli4, srv4, seq, fl, string(payload)), ts, -1)
			checkInvariants(t, d2)
		}
	})
}

// FuzzHEP: parseHEP never panics, and what it accepts survives a round trip.
func FuzzHEP(f *testing.F) {
	for _, p := range hepPackets() {
		f.Add(AppendHEP(nil, &p))
	}
	f.Add([]byte("HEP3\x00\x0c\x00\x00\x00\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p sip.Packet
		if parseHEP(b, &p) != nil {
			return
		}
		enc := AppendHEP(nil, &p)
		if len(enc) == 0 {
			return // grew past 64 KiB with the chunks we always write
		}
		var q sip.Packet
		if err := parseHEP(enc, &q); err != nil {
			t.Fatalf("re-encoded packet rejected: %v", err)
		}
		if q.Src.Addr().Unmap() != p.Src.Addr().Unmap() || q.Dst.Addr().Unmap() != p.Dst.Addr().Unmap() ||
			q.Src.Port() != p.Src.Port() || q.Dst.Port() != p.Dst.Port() ||
			q.Transport != p.Transport || !q.TS.Equal(p.TS) || !bytes.Equal(q.Payload, p.Payload) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", q, p)
		}
	})
}

func BenchmarkDecodeUDP(b *testing.B) {
	d := NewDecoder(mustPorts(b, "5060"), func(*sip.Packet) {})
	f := udpFrame(b, cli4, srv4, sipMsg("INVITE", "bench", 300))
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		d.Decode(layers.LinkTypeEthernet, f, t0, -1)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

func BenchmarkDecodeOtherPort(b *testing.B) {
	d := NewDecoder(mustPorts(b, "5060"), func(*sip.Packet) {})
	rtp := ethFrame(b, frameSpec{src: netipAP("10.0.0.1:20000"), dst: netipAP("10.0.0.2:30000"), payload: make([]byte, 172)})
	b.ReportAllocs()
	for b.Loop() {
		d.Decode(layers.LinkTypeEthernet, rtp, t0, -1)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

func BenchmarkDecodeTCP(b *testing.B) {
	d := NewDecoder(mustPorts(b, "5060"), func(*sip.Packet) {})
	m := sipMsg("INVITE", "bench", 300)
	// Precomputed segments of one long stream, one message each.
	const n = 1024
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = tcpFrame(b, cli4, srv4, uint32(1+i*len(m)), "A", m)
	}
	d.Decode(layers.LinkTypeEthernet, tcpFrame(b, cli4, srv4, 0, "S", ""), t0, -1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == n {
			d.Decode(layers.LinkTypeEthernet, tcpFrame(b, cli4, srv4, 0, "S", ""), t0, -1)
			i = 0
		}
		d.Decode(layers.LinkTypeEthernet, frames[i], t0, -1)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
