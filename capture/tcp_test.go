package capture

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"tapline/sip"
)

func newTCPTest(t *testing.T) (*Decoder, *collector, *tcpStream) {
	c := new(collector)
	d := NewDecoder(mustPorts(t, "5060"), c.handle)
	return d, c, &tcpStream{t: t, d: d, src: cli4, dst: srv4, isn: 1000, ts: t0}
}

func expectPayloads(t *testing.T, c *collector, want ...string) {
	t.Helper()
	got := c.payloads()
	if len(got) != len(want) {
		t.Fatalf("delivered %d messages, want %d:\n%q", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
}

func TestTCPReassembly(t *testing.T) {
	m1 := sipMsg("INVITE", "tcp-1", 120)
	m2 := sipMsg("BYE", "tcp-2", 0)
	m3 := sipMsg("MESSAGE", "tcp-3", 33)
	both := m1 + m2
	for _, tc := range []struct {
		name  string
		segs  []struct{ off, end int } // byte ranges of stream, sent in this order
		data  string
		want  []string
		stats func(Stats) bool
	}{
		{name: "one message per segment", data: m1 + m2,
			segs: []struct{ off, end int }{{0, len(m1)}, {len(m1), len(both)}},
			want: []string{m1, m2}},
		{name: "two messages in one segment", data: m1 + m2,
			segs: []struct{ off, end int }{{0, len(both)}},
			want: []string{m1, m2}},
		{name: "one message over three segments", data: m1,
			segs: []struct{ off, end int }{{0, 10}, {10, 100}, {100, len(m1)}},
			want: []string{m1}},
		{name: "split inside the header terminator and body", data: m1 + m2 + m3,
			segs: []struct{ off, end int }{{0, len(m1) - 122}, {len(m1) - 122, len(m1) - 5}, {len(m1) - 5, len(both) + 3}, {len(both) + 3, len(both + m3)}},
			want: []string{m1, m2, m3}},
		{name: "out of order", data: m1 + m2 + m3,
			segs: []struct{ off, end int }{{0, 50}, {100, 300}, {50, 100}, {len(both), len(both + m3)}, {300, len(both)}},
			want: []string{m1, m2, m3}},
		{name: "retransmission", data: m1 + m2,
			segs:  []struct{ off, end int }{{0, len(m1)}, {0, len(m1)}, {0, 20}, {len(m1), len(both)}, {len(m1), len(both)}},
			want:  []string{m1, m2},
			stats: func(s Stats) bool { return s.TCPRetransmits == 3 }},
		{name: "overlapping retransmission", data: m1 + m2,
			segs: []struct{ off, end int }{{0, 100}, {50, 200}, {150, len(both)}},
			want: []string{m1, m2}},
		{name: "keep-alives between messages", data: m1 + "\r\n\r\n" + m2 + "\r\n",
			segs: []struct{ off, end int }{{0, len(m1) + 2}, {len(m1) + 2, len(both) + 6}},
			want: []string{m1, m2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, c, s := newTCPTest(t)
			s.syn()
			for _, sg := range tc.segs {
				s.seg(sg.off, tc.data[sg.off:sg.end])
			}
			expectPayloads(t, c, tc.want...)
			st := d.Stats()
			if st.TCPGaps != 0 || st.NotSIP != 0 || st.DecodeErrors != 0 {
				t.Fatalf("stats %+v", st)
			}
			if tc.stats != nil && !tc.stats(st) {
				t.Fatalf("stats %+v", st)
			}
			for _, p := range c.all() {
				if p.Transport != sip.TCP || p.Src != cli4 || p.Dst != srv4 || p.VLAN != -1 {
					t.Fatalf("bad packet %+v", p)
				}
			}
		})
	}
}

func TestTCPBothDirections(t *testing.T) {
	d, c, a := newTCPTest(t)
	b := &tcpStream{t: t, d: d, src: srv4, dst: cli4, isn: 90000, ts: t0}
	req, resp := sipMsg("INVITE", "dir", 10), sipResp("dir")
	a.syn()
	b.syn()
	a.seg(0, req[:30])
	b.seg(0, resp[:40])
	a.seg(30, req[30:])
	b.seg(40, resp[40:])
	got := c.all()
	if len(got) != 2 || got[0].Payload != req || got[0].Src != cli4 || got[1].Payload != resp || got[1].Src != srv4 {
		t.Fatalf("got %+v", got)
	}
}

func TestTCPGapResync(t *testing.T) {
	m1, m2, m3, m4 := sipMsg("INVITE", "g1", 50), sipMsg("INFO", "g2", 300), sipMsg("BYE", "g3", 0), sipMsg("BYE", "g4", 0)
	data := m1 + m2 + m3 + m4
	o2, o3 := len(m1), len(m1+m2)

	t.Run("hole times out", func(t *testing.T) {
		d, c, s := newTCPTest(t)
		s.syn()
		s.seg(0, m1)
		// m2's middle is lost; the rest of m2 and m3 wait behind the hole.
		s.seg(o2, m2[:40])
		s.seg(o2+100, data[o2+100:o3])
		s.seg(o3, m3)
		expectPayloads(t, c, m1)
		// Another packet later in time gives the hole up: m3 follows.
		d.Decode(layers.LinkTypeEthernet, udpFrame(t, cli4, srv4, "ping"), s.ts.Add(defaultHoleWait+time.Second), -1)
		expectPayloads(t, c, m1, m3)
		s.ts = s.ts.Add(defaultHoleWait + time.Second)
		s.seg(len(data)-len(m4), m4)
		expectPayloads(t, c, m1, m3, m4)
		if st := d.Stats(); st.TCPGaps != 1 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("window overflow", func(t *testing.T) {
		d, c, s := newTCPTest(t)
		d.maxOOOSegs = 4
		s.syn()
		s.seg(0, m1)
		// The first 10 bytes of m2 are lost; the rest arrives in small pieces.
		for off := o2 + 10; off < o3; off += 60 {
			s.seg(off, data[off:min(off+60, o3)])
		}
		s.seg(o3, m3)
		s.seg(o3+len(m3), m4)
		expectPayloads(t, c, m1, m3, m4)
		if st := d.Stats(); st.TCPGaps == 0 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("joined mid-stream", func(t *testing.T) {
		d, c, s := newTCPTest(t)
		// No SYN: the capture starts inside m2.
		s.seg(o2+7, data[o2+7:o3])
		s.seg(o3, m3)
		expectPayloads(t, c, m3)
		if st := d.Stats(); st.NotSIP != 1 || st.TCPFlows != 1 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("not sip at a message boundary", func(t *testing.T) {
		d, c, s := newTCPTest(t)
		s.syn()
		s.seg(0, "\x16\x03\x01\x02\x00 TLS client hello")
		s.seg(25, "more TLS")
		if st := d.Stats(); st.NotSIP != 2 || st.TCPGaps != 0 || len(c.all()) != 0 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("truncated segment", func(t *testing.T) {
		d, c, s := newTCPTest(t)
		s.syn()
		s.seg(0, m1)
		f := tcpFrame(t, cli4, srv4, s.isn+1+uint32(o2), "A", m2)
		d.Decode(layers.LinkTypeEthernet, f[:len(f)-10], s.ts, -1)
		s.seg(o3, m3)
		expectPayloads(t, c, m1, m3)
		if st := d.Stats(); st.TCPGaps != 1 || st.Truncated != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestTCPOversized(t *testing.T) {
	d, c, s := newTCPTest(t)
	big := sipMsg("MESSAGE", "big", 100_000)
	next := sipMsg("BYE", "after-big", 0)
	s.syn()
	off := 0
	for ; off < len(big); off += 1400 {
		s.seg(off, big[off:min(off+1400, len(big))])
	}
	s.seg(len(big), next)
	expectPayloads(t, c, next)
	st := d.Stats()
	if st.TCPGaps != 1 {
		t.Fatalf("stats %+v", st)
	}
	if d.bytes > 2*defaultMaxMsg {
		t.Fatalf("%d bytes buffered", d.bytes)
	}

	// A Content-Length beyond what sip accepts at all is given up at once.
	d2, c2, s2 := newTCPTest(t)
	s2.syn()
	s2.seg(0, "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\nxx")
	s2.seg(1000, next)
	expectPayloads(t, c2, next)
	if st := d2.Stats(); st.TCPGaps != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTCPCloseAndExpiry(t *testing.T) {
	m1 := sipMsg("INVITE", "c1", 10)

	t.Run("fin", func(t *testing.T) {
		d, c, s := newTCPTest(t)
		s.syn()
		s.segFlags(0, m1, "FA")
		expectPayloads(t, c, m1)
		// A late copy of the last segment is not delivered again.
		s.seg(0, m1)
		expectPayloads(t, c, m1)
		if st := d.Stats(); st.TCPRetransmits != 1 {
			t.Fatalf("stats %+v", st)
		}
		// The 4-tuple is reused by a new connection.
		s.isn = 5000
		s.syn()
		s.seg(0, m1)
		expectPayloads(t, c, m1, m1)
	})

	t.Run("fin after a hole", func(t *testing.T) {
		d, c, s := newTCPTest(t)
		s.syn()
		s.segFlags(20, m1[20:], "FA")
		s.seg(0, m1[:20])
		expectPayloads(t, c, m1)
		if f := d.flows[flowKey{cli4, srv4}]; f == nil || f.state != stateClosed {
			t.Fatal("flow not closed after its FIN was reached")
		}
	})

	t.Run("rst closes both directions", func(t *testing.T) {
		d, c, s := newTCPTest(t)
		r := &tcpStream{t: t, d: d, src: srv4, dst: cli4, isn: 7000, ts: t0}
		s.syn()
		r.syn()
		s.seg(0, m1[:30])
		r.segFlags(0, "", "R")
		s.seg(30, m1[30:])
		if len(c.all()) != 0 || d.bytes != 0 {
			t.Fatalf("delivered %d after RST, %d bytes held", len(c.all()), d.bytes)
		}
	})

	t.Run("idle flows expire", func(t *testing.T) {
		d, _, s := newTCPTest(t)
		s.syn()
		s.seg(0, m1[:30]) // an incomplete message
		other := &tcpStream{t: t, d: d, src: cli6, dst: srv6, isn: 1, ts: t0.Add(30 * time.Second)}
		other.syn()
		if st := d.Stats(); st.TCPFlows != 2 {
			t.Fatalf("stats %+v", st)
		}
		other.ts = t0.Add(61 * time.Second)
		other.seg(0, m1)
		st := d.Stats()
		if st.TCPFlows != 1 || st.TCPGaps != 1 || d.bytes != len(d.flows[flowKey{cli6, srv6}].buf) {
			t.Fatalf("stats %+v, %d bytes", st, d.bytes)
		}
		// Its late continuation is now a mid-stream join, not SIP.
		s.ts = t0.Add(62 * time.Second)
		s.seg(30, m1[30:])
		if st := d.Stats(); st.NotSIP != 1 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("table full evicts the oldest", func(t *testing.T) {
		d, c, _ := newTCPTest(t)
		d.maxFlows = 3
		var streams []*tcpStream
		for i := range 5 {
			s := &tcpStream{t: t, d: d, src: netip.AddrPortFrom(cli4.Addr(), uint16(41000+i)), dst: srv4, isn: 1, ts: t0.Add(time.Duration(i) * time.Second)}
			s.syn()
			s.seg(0, m1[:10])
			streams = append(streams, s)
		}
		st := d.Stats()
		if st.TCPFlows != 3 || st.TCPEvicted != 2 || len(d.flows) != 3 {
			t.Fatalf("stats %+v", st)
		}
		// The newest flows still work.
		streams[4].seg(10, m1[10:])
		expectPayloads(t, c, m1)
	})

	t.Run("closed flows make room uncounted", func(t *testing.T) {
		d, _, _ := newTCPTest(t)
		d.maxFlows = 2
		for i := range 4 {
			s := &tcpStream{t: t, d: d, src: netip.AddrPortFrom(cli4.Addr(), uint16(43000+i)), dst: srv4, isn: 1, ts: t0}
			s.syn()
			s.segFlags(0, m1, "FA")
		}
		if st := d.Stats(); st.TCPFlows != 2 || st.TCPEvicted != 0 || st.SIP != 4 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("memory budget evicts the oldest", func(t *testing.T) {
		d, _, _ := newTCPTest(t)
		d.maxTCPBytes = 100_000
		big := sipMsg("MESSAGE", "m", 60000)
		for i := range 4 {
			s := &tcpStream{t: t, d: d, src: netip.AddrPortFrom(cli4.Addr(), uint16(42000+i)), dst: srv4, isn: 1, ts: t0}
			s.syn()
			for off := 0; off < 50000; off += 1400 {
				s.seg(off, big[off:off+1400])
			}
		}
		if st := d.Stats(); st.TCPEvicted == 0 || d.bytes > 100_000+64<<10 {
			t.Fatalf("stats %+v, %d bytes", st, d.bytes)
		}
	})
}

func TestTCPVLANAndIPv6(t *testing.T) {
	var c collector
	d := NewDecoder(mustPorts(t, "5060"), c.handle)
	m := sipMsg("OPTIONS", "v6", 0)
	f := func(seq uint32, flags tcpSpec, data string) []byte {
		flags.seq = seq
		return ethFrame(t, frameSpec{src: cli6, dst: srv6, vlans: []uint16{42}, tcp: &flags, payload: []byte(data)})
	}
	d.Decode(layers.LinkTypeEthernet, f(1, tcpSpec{syn: true}, ""), t0, -1)
	d.Decode(layers.LinkTypeEthernet, f(2, tcpSpec{ack: true}, m[:20]), t0, -1)
	d.Decode(layers.LinkTypeEthernet, f(22, tcpSpec{ack: true}, m[20:]), t0, -1)
	want := []got{{t0, cli6, srv6, sip.TCP, 42, m}}
	if g := c.all(); !reflect.DeepEqual(g, want) {
		t.Fatalf("got %+v", g)
	}
}

func TestTCPSeqWrap(t *testing.T) {
	d, c, s := newTCPTest(t)
	s.isn = 0xffffff00
	m := sipMsg("INVITE", "wrap", 400)
	s.syn()
	s.seg(0, m[:200])
	s.seg(300, m[300:])
	s.seg(200, m[200:300])
	expectPayloads(t, c, m)
	if st := d.Stats(); st.TCPGaps != 0 {
		t.Fatalf("stats %+v", st)
	}
}
