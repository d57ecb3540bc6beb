package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"tapline/sip"
)

func hepPackets() []sip.Packet {
	return []sip.Packet{
		{TS: t0.Add(123456 * time.Microsecond), Src: cli4, Dst: srv4, Transport: sip.UDP, VLAN: -1, Payload: []byte(sipMsg("INVITE", "hep-1", 30))},
		{TS: t0, Src: srv6, Dst: cli6, Transport: sip.TCP, VLAN: -1, Payload: []byte(sipResp("hep-2"))},
	}
}

func TestHEPParse(t *testing.T) {
	for _, p := range hepPackets() {
		b := AppendHEP([]byte("prefix"), &p)
		if string(b[:6]) != "prefix" {
			t.Fatal("AppendHEP did not append")
		}
		var q sip.Packet
		if err := parseHEP(b[6:], &q); err != nil {
			t.Fatal(err)
		}
		if !q.TS.Equal(p.TS) {
			t.Fatalf("TS %v, want %v", q.TS, p.TS)
		}
		q.TS = p.TS
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", q, p)
		}
	}

	valid := AppendHEP(nil, &hepPackets()[0])
	// chunk returns a HEP packet with the chunks given (vendor 0).
	build := func(chunks ...[]byte) []byte {
		b := []byte("HEP3\x00\x00")
		for _, c := range chunks {
			b = append(b, c...)
		}
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
		return b
	}
	ch := func(typ uint16, v ...byte) []byte {
		b := binary.BigEndian.AppendUint16([]byte{0, 0}, typ)
		b = binary.BigEndian.AppendUint16(b, uint16(6+len(v)))
		return append(b, v...)
	}
	addrs := [][]byte{ch(hepSrcIP4, 1, 2, 3, 4), ch(hepDstIP4, 5, 6, 7, 8), ch(hepSrcPort, 0x13, 0xc4), ch(hepDstPort, 0x13, 0xc4)}
	payload := ch(hepPayload, []byte(sipResp("x"))...)
	withVendor := append(binary.BigEndian.AppendUint16([]byte{0, 9}, 0x77), 0, 8, 'x', 'y')

	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errHEPVersion},
		{"hepv2", append([]byte{2, 16, 2, 17}, valid[4:]...), errHEPVersion},
		{"wrong magic", append([]byte("HEP2"), valid[4:]...), errHEPVersion},
		{"total longer than datagram", valid[:len(valid)-1], errHEPLength},
		{"total too small", []byte("HEP3\x00\x03"), errHEPLength},
		{"truncated chunk header", build(addrs[0], []byte{0, 0, 0}), errHEPChunk},
		{"chunk past the end", build(addrs[0], []byte{0, 0, 0, 0xf, 0, 200, 'x'}), errHEPChunk},
		{"zero-length chunk", build(append(addrs, []byte{0, 0, 0, 0xf, 0, 0}, payload)...), errHEPChunk},
		{"wrong size chunk", build(append(addrs, ch(hepSrcPort, 1), payload)...), errHEPChunk},
		{"no payload", build(addrs...), errHEPIncomplete},
		{"no address", build(addrs[2], addrs[3], payload), errHEPIncomplete},
		{"rtcp", build(append(addrs, ch(hepProtoType, 5), payload)...), errHEPNotSIP},
		{"compressed", build(append(addrs, ch(hepZPayload, 1, 2))...), errHEPCompressed},
		{"vendor chunks skipped", build(append(addrs, withVendor, payload)...), nil},
		{"trailing bytes after total ignored", append(append([]byte(nil), valid...), 0, 0, 0), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p sip.Packet
			if err := parseHEP(tc.b, &p); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}

	big := sip.Packet{Src: cli4, Dst: srv4, Payload: make([]byte, 70000)}
	if b := AppendHEP(nil, &big); len(b) != 0 {
		t.Fatal("oversized payload encoded")
	}
}

func TestHEPListen(t *testing.T) {
	l, err := newHEPListener("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	var st HEPStats
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var serveErr error
	go func() {
		defer wg.Done()
		serveErr = l.serve(ctx, c.handle, &st)
	}()
	conn, err := net.Dial("udp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	pkts := hepPackets()
	notSIPPayload := sip.Packet{Src: cli4, Dst: srv4, Payload: []byte("\r\n\r\n")}
	noTS := sip.Packet{Src: cli4, Dst: srv4, Payload: []byte(sipResp("nots"))}
	send := [][]byte{
		AppendHEP(nil, &pkts[0]),
		[]byte("HEP3\x00"),                               // truncated header
		[]byte("\x02\x10\x02\x11abc"),                    // HEPv2
		append([]byte("HEP3\x00\x0c"), 0, 0, 0, 1, 0, 0), // zero-length chunk
		AppendHEP(nil, &notSIPPayload),
		AppendHEP(nil, &pkts[1]),
		AppendHEP(nil, &noTS),
	}
	for _, b := range send {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(func() bool { return st.Packets.Load() >= uint64(len(send)) })
	cancel()
	wg.Wait()
	if serveErr != nil {
		t.Fatal(serveErr)
	}
	want := Stats{Packets: 7, SIP: 3, NotSIP: 1, DecodeErrors: 3}
	if got := st.Stats(); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
	got := c.all()
	if len(got) != 3 {
		t.Fatalf("delivered %d", len(got))
	}
	for i, p := range pkts {
		if g := got[i]; !g.TS.Equal(p.TS) || g.Src != p.Src || g.Dst != p.Dst || g.Transport != p.Transport || g.Payload != string(p.Payload) {
			t.Fatalf("packet %d: %+v", i, g)
		}
	}
	if time.Since(got[2].TS) > time.Minute {
		t.Fatalf("a packet without a timestamp got %v, want now", got[2].TS)
	}
}

func TestListenHEPStops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ListenHEP(ctx, "127.0.0.1:0", func(*sip.Packet) {}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ListenHEP(context.Background(), "127.0.0.1:notaport", func(*sip.Packet) {}, nil); err == nil {
		t.Fatal("bad address accepted")
	}
}

// TestHEPDropsCounted: when the handler stalls and the socket buffer
// overflows, the kernel's drops are counted, so received + dropped equals
// what was sent (peers lose such bursts silently).
func TestHEPDropsCounted(t *testing.T) {
	l, err := newHEPListener("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = l.conn.SetReadBuffer(4096) // tiny, so a burst overflows it
	var st HEPStats
	gate := make(chan struct{})
	first := true
	h := func(*sip.Packet) {
		if first {
			first = false
			<-gate // stall on the first packet while the burst arrives
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.serve(ctx, h, &st) }()
	conn, err := net.Dial("udp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pkt := AppendHEP(nil, &hepPackets()[0])
	const burst = 2000
	for range burst {
		_, _ = conn.Write(pkt)
	}
	time.Sleep(100 * time.Millisecond)
	close(gate)
	time.Sleep(100 * time.Millisecond)
	_, _ = conn.Write(pkt) // carries the final drop count
	waitFor(func() bool { return st.Packets.Load()+st.Drops.Load() >= burst+1 })
	cancel()
	<-done
	got, dropped := st.Packets.Load(), st.Drops.Load()
	if dropped == 0 || got+dropped != burst+1 {
		t.Fatalf("received %d + dropped %d, want a total of %d with drops > 0", got, dropped, burst+1)
	}
}
