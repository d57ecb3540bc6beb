package capture

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"tapline/sip"
)

type capFrame struct {
	ts   time.Time
	data []byte
}

// testFrames is a small conversation: UDP INVITEs, and a TCP flow with one
// message split over two segments. Frames are step apart.
func testFrames(t testing.TB, n int, step time.Duration) (frames []capFrame, sipCount int) {
	ts := t0
	add := func(b []byte) {
		frames = append(frames, capFrame{ts, b})
		ts = ts.Add(step)
	}
	for i := 0; len(frames) < n; i++ {
		src := netip.AddrPortFrom(cli4.Addr(), uint16(30000+i%1000))
		add(udpFrame(t, src, srv4, sipMsg("INVITE", fmt.Sprintf("replay-%d", i), 100)))
		sipCount++
		if i%10 == 0 && len(frames)+3 <= n {
			m := sipMsg("MESSAGE", fmt.Sprintf("replay-tcp-%d", i), 50)
			add(tcpFrame(t, src, srv4, 100, "S", ""))
			add(tcpFrame(t, src, srv4, 101, "A", m[:70]))
			add(tcpFrame(t, src, srv4, 101+70, "A", m[70:]))
			sipCount++
		}
	}
	return frames, sipCount
}

func writePcap(t testing.TB, path string, frames []capFrame) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: fr.ts, CaptureLength: len(fr.data), Length: len(fr.data)}, fr.data); err != nil {
			t.Fatal(err)
		}
	}
}

func writePcapng(t testing.TB, path string, frames []capFrame) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	// A second interface of another link type: frames name theirs.
	sllIf, err := w.AddInterface(pcapgo.NgInterface{Name: "any", LinkType: layers.LinkTypeLinuxSLL, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: fr.ts, CaptureLength: len(fr.data), Length: len(fr.data)}
		data := fr.data
		if i%7 == 3 { // the same frame, cooked: SLL header instead of Ethernet
			sll := make([]byte, 16, 16+len(data))
			sll[3], sll[5] = 1, 6
			copy(sll[14:], data[12:14])
			data = append(sll, data[14:]...)
			ci.CaptureLength, ci.Length, ci.InterfaceIndex = len(data), len(data), sllIf
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestReplay(t *testing.T) {
	frames, nSIP := testFrames(t, 200, 10*time.Millisecond) // 2 s of packet time
	dir := t.TempDir()
	pcap, pcapng := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "a.pcapng")
	writePcap(t, pcap, frames)
	writePcapng(t, pcapng, frames)

	for _, path := range []string{pcap, pcapng} {
		t.Run(filepath.Ext(path)+" fast", func(t *testing.T) {
			var c collector
			d := NewDecoder(mustPorts(t, "5060"), c.handle)
			if err := Replay(context.Background(), ReplayOptions{Path: path}, d); err != nil {
				t.Fatal(err)
			}
			st := d.Stats()
			if st.Packets != uint64(len(frames)) || st.SIP != uint64(nSIP) || st.DecodeErrors != 0 || st.NotSIP != 0 {
				t.Fatalf("stats %+v, want %d packets and %d SIP", st, len(frames), nSIP)
			}
			got := c.all()
			if !got[0].TS.Equal(t0) || !got[len(got)-1].TS.Equal(frames[len(frames)-1].ts) {
				t.Fatalf("timestamps %v .. %v", got[0].TS, got[len(got)-1].TS)
			}
		})
		t.Run(filepath.Ext(path)+" speed 100", func(t *testing.T) {
			d := NewDecoder(mustPorts(t, "5060"), func(*sip.Packet) {})
			start := time.Now()
			if err := Replay(context.Background(), ReplayOptions{Path: path, Speed: 100}, d); err != nil {
				t.Fatal(err)
			}
			// 2 s of packet time at 100x: about 20 ms.
			if el := time.Since(start); el < 15*time.Millisecond || el > 1500*time.Millisecond {
				t.Fatalf("took %v, want about 20ms", el)
			}
			if st := d.Stats(); st.SIP != uint64(nSIP) {
				t.Fatalf("stats %+v", st)
			}
		})
	}

	t.Run("loop", func(t *testing.T) {
		var c collector
		d := NewDecoder(mustPorts(t, "5060"), c.handle)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var loops []int
		err := Replay(ctx, ReplayOptions{Path: pcapng, Loop: true, OnLoop: func(n int) {
			loops = append(loops, n)
			if n == 3 {
				cancel()
			}
		}}, d)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(loops) != "[1 2 3]" {
			t.Fatalf("OnLoop calls %v", loops)
		}
		got := c.all()
		if len(got) != 3*nSIP || d.Stats().TCPRetransmits != 0 {
			t.Fatalf("delivered %d, want %d; stats %+v", len(got), 3*nSIP, d.Stats())
		}
		for i := 1; i < len(got); i++ {
			if got[i].TS.Before(got[i-1].TS) {
				t.Fatalf("time went back at %d: %v after %v", i, got[i].TS, got[i-1].TS)
			}
		}
	})

	t.Run("cancel while sleeping", func(t *testing.T) {
		d := NewDecoder(mustPorts(t, "5060"), func(*sip.Packet) {})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := Replay(ctx, ReplayOptions{Path: pcap, Speed: 1}, d); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("returned after %v", el)
		}
	})

	t.Run("errors", func(t *testing.T) {
		d := NewDecoder(mustPorts(t, "5060"), func(*sip.Packet) {})
		if err := Replay(context.Background(), ReplayOptions{Path: filepath.Join(dir, "missing")}, d); err == nil {
			t.Fatal("missing file accepted")
		}
		junk := filepath.Join(dir, "junk")
		os.WriteFile(junk, []byte("this is not a capture file"), 0o644)
		if err := Replay(context.Background(), ReplayOptions{Path: junk}, d); err == nil {
			t.Fatal("junk accepted")
		}
		// A file cut in the middle of a record replays what it has.
		b, _ := os.ReadFile(pcap)
		cut := filepath.Join(dir, "cut.pcap")
		os.WriteFile(cut, b[:len(b)-50], 0o644)
		if err := Replay(context.Background(), ReplayOptions{Path: cut}, d); err != nil {
			t.Fatal(err)
		}
		if st := d.Stats(); st.Packets != uint64(len(frames)-1) {
			t.Fatalf("stats %+v", st)
		}
	})
}

func BenchmarkReplay(b *testing.B) {
	frames, _ := testFrames(b, 10000, time.Millisecond)
	path := filepath.Join(b.TempDir(), "bench.pcap")
	writePcap(b, path, frames)
	d := NewDecoder(mustPorts(b, "5060"), func(*sip.Packet) {})
	b.ResetTimer()
	for range b.N {
		if err := Replay(context.Background(), ReplayOptions{Path: path}, d); err != nil {
			b.Fatal(err)
		}
		d.Reset()
	}
	b.ReportMetric(float64(b.N*len(frames))/b.Elapsed().Seconds(), "packets/s")
}

// TestReplaySippCaptures replays real captures: SIPp's built-in UAC and UAS
// scenarios, 5 calls over UDP (ports 15061 -> 15060) and 5 over TCP
// (15071 -> 15070), taken by tcpdump on "any" (Linux cooked v2) and on "lo".
func TestReplaySippCaptures(t *testing.T) {
	want := map[string]int{"INVITE": 5, "ACK": 5, "BYE": 5, "SIP/2.0 180": 5, "SIP/2.0 200": 10}
	for _, f := range []string{"testdata/sipp-any-sll2.pcap", "testdata/sipp-lo.pcap"} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			counts := [2]map[string]int{{}, {}}
			d := NewDecoder(mustPorts(t, "15060-15061,15070-15071"), func(p *sip.Packet) {
				line, _, _ := strings.Cut(string(p.Payload), "\r\n")
				k := strings.Fields(line)[0]
				if k == "SIP/2.0" {
					k += " " + strings.Fields(line)[1]
				}
				counts[p.Transport][k]++
				if p.Transport == sip.TCP && (p.Src.Port() < 15070 || p.Dst.Port() < 15070) {
					t.Errorf("TCP message on the UDP ports: %+v", p)
				}
			})
			if err := Replay(context.Background(), ReplayOptions{Path: f}, d); err != nil {
				t.Fatal(err)
			}
			for tr, c := range counts {
				if fmt.Sprint(c) != fmt.Sprint(want) {
					t.Errorf("%v: %v, want %v", sip.Transport(tr), c, want)
				}
			}
			if st := d.Stats(); st.SIP != 60 || st.NotSIP != 0 || st.DecodeErrors != 0 || st.TCPGaps != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
