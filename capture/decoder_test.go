package capture

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"tapline/sip"
)

func TestDecodeUDP(t *testing.T) {
	invite := sipMsg("INVITE", "udp-1", 20)
	cases := []struct {
		name      string
		link      layers.LinkType
		frame     []byte
		vlanHint  int
		want      *got // nil: nothing delivered
		wantStats Stats
	}{
		{
			name:      "ipv4",
			link:      layers.LinkTypeEthernet,
			frame:     udpFrame(t, cli4, srv4, invite),
			vlanHint:  -1,
			want:      &got{t0, cli4, srv4, sip.UDP, -1, invite},
			wantStats: Stats{Packets: 1, SIP: 1},
		},
		{
			name:      "ipv6",
			link:      layers.LinkTypeEthernet,
			frame:     udpFrame(t, cli6, srv6, invite),
			vlanHint:  -1,
			want:      &got{t0, cli6, srv6, sip.UDP, -1, invite},
			wantStats: Stats{Packets: 1, SIP: 1},
		},
		{
			name:      "response from the SIP port",
			link:      layers.LinkTypeEthernet,
			frame:     udpFrame(t, srv4, cli4, sipResp("x")),
			vlanHint:  -1,
			want:      &got{t0, srv4, cli4, sip.UDP, -1, sipResp("x")},
			wantStats: Stats{Packets: 1, SIP: 1},
		},
		{
			name:      "vlan",
			link:      layers.LinkTypeEthernet,
			frame:     ethFrame(t, frameSpec{src: cli4, dst: srv4, vlans: []uint16{100}, payload: []byte(invite)}),
			vlanHint:  -1,
			want:      &got{t0, cli4, srv4, sip.UDP, 100, invite},
			wantStats: Stats{Packets: 1, SIP: 1},
		},
		{
			name:      "qinq keeps the outer tag",
			link:      layers.LinkTypeEthernet,
			frame:     ethFrame(t, frameSpec{src: cli6, dst: srv6, vlans: []uint16{200, 100}, payload: []byte(invite)}),
			vlanHint:  -1,
			want:      &got{t0, cli6, srv6, sip.UDP, 200, invite},
			wantStats: Stats{Packets: 1, SIP: 1},
		},
		{
			name:      "stripped tag from the kernel is the outer one",
			link:      layers.LinkTypeEthernet,
			frame:     ethFrame(t, frameSpec{src: cli4, dst: srv4, vlans: []uint16{100}, payload: []byte(invite)}),
			vlanHint:  300,
			want:      &got{t0, cli4, srv4, sip.UDP, 300, invite},
			wantStats: Stats{Packets: 1, SIP: 1},
		},
		{
			name:      "linux sll",
			link:      layers.LinkTypeLinuxSLL,
			frame:     sllFrame(t, frameSpec{src: cli4, dst: srv4, payload: []byte(invite)}),
			vlanHint:  -1,
			want:      &got{t0, cli4, srv4, sip.UDP, -1, invite},
			wantStats: Stats{Packets: 1, SIP: 1},
		},
		{
			name:      "linux sll2 ipv6",
			link:      layers.LinkTypeLinuxSLL2,
			frame:     sll2Frame(t, frameSpec{src: cli6, dst: srv6, payload: []byte(invite)}),
			vlanHint:  -1,
			want:      &got{t0, cli6, srv6, sip.UDP, -1, invite},
			wantStats: Stats{Packets: 1, SIP: 1},
		},
		{
			name:      "raw ip",
			link:      layers.LinkTypeRaw,
			frame:     ipPacket(t, frameSpec{src: cli6, dst: srv6, payload: []byte(invite)}),
			vlanHint:  7,
			want:      &got{t0, cli6, srv6, sip.UDP, 7, invite},
			wantStats: Stats{Packets: 1, SIP: 1},
		},
		{
			name:      "bsd loopback",
			link:      layers.LinkTypeNull,
			frame:     append([]byte{2, 0, 0, 0}, ipPacket(t, frameSpec{src: cli4, dst: srv4, payload: []byte(invite)})...),
			vlanHint:  -1,
			want:      &got{t0, cli4, srv4, sip.UDP, -1, invite},
			wantStats: Stats{Packets: 1, SIP: 1},
		},
		{
			name:      "other port ignored",
			link:      layers.LinkTypeEthernet,
			frame:     udpFrame(t, cli4, netip.MustParseAddrPort("10.0.0.2:5080"), invite),
			vlanHint:  -1,
			wantStats: Stats{Packets: 1},
		},
		{
			name:      "not sip on the sip port",
			link:      layers.LinkTypeEthernet,
			frame:     udpFrame(t, cli4, srv4, "\x80\x00\x12\x34 rtp-ish bytes"),
			vlanHint:  -1,
			wantStats: Stats{Packets: 1, NotSIP: 1},
		},
		{
			name:      "keep-alive on the sip port",
			link:      layers.LinkTypeEthernet,
			frame:     udpFrame(t, cli4, srv4, "\r\n\r\n"),
			vlanHint:  -1,
			wantStats: Stats{Packets: 1, NotSIP: 1},
		},
		{
			name:      "garbage",
			link:      layers.LinkTypeEthernet,
			frame:     []byte{1, 2, 3},
			vlanHint:  -1,
			wantStats: Stats{Packets: 1, DecodeErrors: 1},
		},
		{
			name:      "short ip header",
			link:      layers.LinkTypeEthernet,
			frame:     udpFrame(t, cli4, srv4, invite)[:14+12],
			vlanHint:  -1,
			wantStats: Stats{Packets: 1, DecodeErrors: 1},
		},
		{
			name:      "unknown link type",
			link:      layers.LinkType(147),
			frame:     udpFrame(t, cli4, srv4, invite),
			vlanHint:  -1,
			wantStats: Stats{Packets: 1, DecodeErrors: 1},
		},
		{
			name:      "arp ignored",
			link:      layers.LinkTypeEthernet,
			frame:     serialize(t, &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeARP}, &layers.ARP{AddrType: 1, Protocol: 0x800, HwAddressSize: 6, ProtAddressSize: 4, SourceHwAddress: make([]byte, 6), SourceProtAddress: make([]byte, 4), DstHwAddress: make([]byte, 6), DstProtAddress: make([]byte, 4)}),
			vlanHint:  -1,
			wantStats: Stats{Packets: 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c collector
			d := NewDecoder(mustPorts(t, "5060"), c.handle)
			d.Decode(tc.link, tc.frame, t0, tc.vlanHint)
			pk := c.all()
			switch {
			case tc.want == nil && len(pk) > 0:
				t.Fatalf("delivered %+v, want nothing", pk)
			case tc.want != nil && len(pk) != 1:
				t.Fatalf("delivered %d packets, want 1", len(pk))
			case tc.want != nil && !reflect.DeepEqual(pk[0], *tc.want):
				t.Fatalf("got  %+v\nwant %+v", pk[0], *tc.want)
			}
			if st := d.Stats(); st != tc.wantStats {
				t.Fatalf("stats %+v, want %+v", st, tc.wantStats)
			}
		})
	}
}

func TestDecodeTruncatedUDP(t *testing.T) {
	var c collector
	d := NewDecoder(mustPorts(t, "5060"), c.handle)
	f := udpFrame(t, cli4, srv4, sipMsg("INVITE", "trunc", 400))
	d.Decode(layers.LinkTypeEthernet, f[:200], t0, -1)
	st := d.Stats()
	if st.SIP != 1 || st.Truncated != 1 {
		t.Fatalf("stats %+v: want the truncated message delivered and counted", st)
	}
}

// fragments splits an IP packet (from the IP header) into fragments of at
// most size payload bytes each, as a router would.
func fragments4(t *testing.T, ip []byte, size int) [][]byte {
	t.Helper()
	hl := int(ip[0]&0xf) * 4
	payload := ip[hl:]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		h := append([]byte(nil), ip[:hl]...)
		ff := uint16(off / 8)
		if end < len(payload) {
			ff |= 0x2000 // MF
		}
		binary.BigEndian.PutUint16(h[6:], ff)
		binary.BigEndian.PutUint16(h[2:], uint16(hl+end-off))
		h[10], h[11] = 0, 0
		out = append(out, append(h, payload[off:end]...))
	}
	return out
}

func fragments6(t *testing.T, ip []byte, size int, id uint32) [][]byte {
	t.Helper()
	payload := ip[40:]
	next := ip[6]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		h := append([]byte(nil), ip[:40]...)
		h[6] = 44
		fh := make([]byte, 8)
		fh[0] = next
		of := uint16(off)
		if end < len(payload) {
			of |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], of)
		binary.BigEndian.PutUint32(fh[4:], id)
		binary.BigEndian.PutUint16(h[4:], uint16(8+end-off))
		out = append(out, append(append(h, fh...), payload[off:end]...))
	}
	return out
}

func TestDecodeFragments(t *testing.T) {
	invite := sipMsg("INVITE", "frag", 3000)
	for _, tc := range []struct {
		name  string
		frags [][]byte
		order []int
	}{
		{"ipv4 in order", fragments4(t, ipPacket(t, frameSpec{src: cli4, dst: srv4, payload: []byte(invite), ipID: 7}), 1480), []int{0, 1, 2}},
		{"ipv4 reversed", fragments4(t, ipPacket(t, frameSpec{src: cli4, dst: srv4, payload: []byte(invite), ipID: 8}), 1480), []int{2, 1, 0}},
		{"ipv4 duplicate", fragments4(t, ipPacket(t, frameSpec{src: cli4, dst: srv4, payload: []byte(invite), ipID: 9}), 1480), []int{0, 0, 2, 1}},
		{"ipv6", fragments6(t, ipPacket(t, frameSpec{src: cli6, dst: srv6, payload: []byte(invite)}), 1232, 77), []int{1, 0, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c collector
			d := NewDecoder(mustPorts(t, "5060"), c.handle)
			for _, i := range tc.order {
				d.Decode(layers.LinkTypeRaw, tc.frags[i], t0, -1)
			}
			if p := c.payloads(); len(p) != 1 || p[0] != invite {
				t.Fatalf("delivered %d messages, want the reassembled INVITE", len(p))
			}
			if st := d.Stats(); st.SIP != 1 || st.DecodeErrors != 0 || len(d.pending) != 0 {
				t.Fatalf("stats %+v, %d pending", st, len(d.pending))
			}
		})
	}

	t.Run("other port is not held", func(t *testing.T) {
		var c collector
		d := NewDecoder(mustPorts(t, "5060"), c.handle)
		fr := fragments4(t, ipPacket(t, frameSpec{src: cli4, dst: netip.MustParseAddrPort("10.0.0.2:9999"), payload: []byte(invite), ipID: 10}), 1480)
		for _, f := range fr {
			d.Decode(layers.LinkTypeRaw, f, t0, -1)
		}
		if st := d.Stats(); st.Fragments != 0 || st.FragDrops != 0 || d.fragBytes != 0 {
			t.Fatalf("stats %+v, %d bytes held", st, d.fragBytes)
		}
	})

	t.Run("incomplete expires", func(t *testing.T) {
		var c collector
		d := NewDecoder(mustPorts(t, "5060"), c.handle)
		fr := fragments4(t, ipPacket(t, frameSpec{src: cli4, dst: srv4, payload: []byte(invite), ipID: 11}), 1480)
		d.Decode(layers.LinkTypeRaw, fr[0], t0, -1)
		d.Decode(layers.LinkTypeRaw, fr[1], t0, -1)
		d.Decode(layers.LinkTypeEthernet, udpFrame(t, cli4, srv4, "x"), t0.Add(fragTimeout+time.Second), -1)
		if st := d.Stats(); st.FragDrops != 2 || len(d.pending) != 0 || d.fragBytes != 0 {
			t.Fatalf("stats %+v, %d pending", st, len(d.pending))
		}
	})
}

func TestDecodeNoAllocUDP(t *testing.T) {
	d := NewDecoder(mustPorts(t, "5060"), func(*sip.Packet) {})
	f := udpFrame(t, cli4, srv4, sipMsg("INVITE", "alloc", 200))
	f6 := ethFrame(t, frameSpec{src: cli6, dst: srv6, vlans: []uint16{5}, payload: []byte(sipMsg("INVITE", "alloc", 200))})
	d.Decode(layers.LinkTypeEthernet, f, t0, -1)
	if n := testing.AllocsPerRun(1000, func() {
		d.Decode(layers.LinkTypeEthernet, f, t0, -1)
		d.Decode(layers.LinkTypeEthernet, f6, t0, -1)
	}); n != 0 {
		t.Fatalf("%v allocations per UDP frame, want 0", n)
	}
}

// TestDecoderPortsCopy: the decoder keeps its own copy of the port set.
func TestDecoderPortsCopy(t *testing.T) {
	var c collector
	q := mustPorts(t, "5060")
	d := NewDecoder(q, c.handle)
	q.Add("7000")
	d.Decode(layers.LinkTypeEthernet, udpFrame(t, cli4, netip.MustParseAddrPort("10.0.0.2:7000"), sipResp("c")), t0, -1)
	if len(c.all()) != 0 {
		t.Fatal("a later Add on the caller's set reached the decoder")
	}
}
