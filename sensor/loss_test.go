package sensor

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"tapline/config"
)

// TestNoSilentLoss replays a 210,000-message capture (the size on which
// heplify silently lost 21–33 %) with every 7th message split over two TCP
// segments at the header boundary (tshark loses those). Every message must
// come out: counted as SIP and ingested, or counted as an error.
func TestNoSilentLoss(t *testing.T) {
	const calls = 30000 // 7 messages each
	path := filepath.Join(t.TempDir(), "loss.pcap")
	writeLossCapture(t, path, calls)
	cfg := config.Default()
	cfg.Replay, cfg.ReplaySpeed, cfg.SIPPorts, cfg.CallTimeout = path, 0, "5060", time.Hour
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	t.Logf("replayed %d SIP messages in %v", st.SIPMessages, time.Since(start))
	if st.SIPMessages != 7*calls || st.ParseErrors != 0 || st.TCPGaps != 0 || st.Drops != 0 {
		t.Fatalf("stats %+v: want %d SIP messages and no losses", st, 7*calls)
	}
	if c := s.Store().Counts(); c.CallsCreated != calls {
		t.Fatalf("%d calls created, want %d", c.CallsCreated, calls)
	}
}

// writeLossCapture writes calls×7 messages: UDP except the INVITE, which
// goes over TCP cut in the middle of its headers.
func writeLossCapture(t *testing.T, path string, calls int) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1795449600, 0)
	seq := uint32(1)
	buf := gopacket.NewSerializeBuffer()
	for i := range calls {
		id := fmt.Sprintf("loss-%d@test", i)
		inv := []byte(sipText("INVITE sip:bob@b.test SIP/2.0", id, "INVITE", 1))
		half := len(inv) / 3 // inside the header block
		for _, seg := range [][]byte{inv[:half], inv[half:]} {
			writeFrame(t, w, buf, ts, &layers.TCP{SrcPort: 40000, DstPort: 5060, Seq: seq, ACK: true, PSH: true, Window: 65535}, seg)
			seq += uint32(len(seg))
		}
		for _, m := range []struct{ line, method string }{
			{"SIP/2.0 100 Trying", "INVITE"}, {"SIP/2.0 180 Ringing", "INVITE"}, {"SIP/2.0 200 OK", "INVITE"},
			{"ACK sip:bob@b.test SIP/2.0", "ACK"}, {"BYE sip:bob@b.test SIP/2.0", "BYE"}, {"SIP/2.0 200 OK", "BYE"},
		} {
			cseq := 1
			if m.method == "BYE" {
				cseq = 2
			}
			writeFrame(t, w, buf, ts, &layers.UDP{SrcPort: 5060, DstPort: 5060}, []byte(sipText(m.line, id, m.method, cseq)))
		}
		ts = ts.Add(time.Millisecond)
	}
}

func sipText(start, callID, method string, cseq int) string {
	return start + "\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK" + callID +
		"\r\nFrom: <sip:alice@a.test>;tag=1\r\nTo: <sip:bob@b.test>\r\nCall-ID: " + callID +
		fmt.Sprintf("\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n", cseq, method)
}

func writeFrame(t *testing.T, w *pcapgo.Writer, buf gopacket.SerializeBuffer, ts time.Time, l4 gopacket.SerializableLayer, payload []byte) {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	switch l := l4.(type) {
	case *layers.UDP:
		ip.Protocol = layers.IPProtocolUDP
		_ = l.SetNetworkLayerForChecksum(ip)
	case *layers.TCP:
		ip.Protocol = layers.IPProtocolTCP
		_ = l.SetNetworkLayerForChecksum(ip)
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, data); err != nil {
		t.Fatal(err)
	}
}
