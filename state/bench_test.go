package state

import (
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"tapline/sip"
)

// callTemplate is a sipp call's messages parsed once; each use points
// their Call-ID at a fresh id, so Ingest is measured without the parser.
type callTemplate struct {
	msgs []sip.Msg
	pkts []sip.Packet
	id   []byte
}

func newCallTemplate(tb testing.TB, withBye bool) *callTemplate {
	d := sippDialog(1)
	d.ua, d.server = "sipp-uac", "sipp-uas"
	raws := []struct {
		fromCaller bool
		raw        string
	}{
		{true, d.request("INVITE", 1, false, sippSDP)},
		{false, d.response(100, "Trying", "INVITE", 1, false, "")},
		{false, d.response(180, "Ringing", "INVITE", 1, false, "")},
		{false, d.response(200, "OK", "INVITE", 1, false, sippSDP)},
		{true, d.request("ACK", 1, false, "")},
	}
	if withBye {
		raws = append(raws, struct {
			fromCaller bool
			raw        string
		}{true, d.request("BYE", 2, false, "")}, struct {
			fromCaller bool
			raw        string
		}{false, d.response(200, "OK", "BYE", 2, false, "")})
	}
	ct := &callTemplate{id: make([]byte, 0, 64)}
	for _, r := range raws {
		var m sip.Msg
		if err := sip.Parse([]byte(r.raw), &m); err != nil {
			tb.Fatal(err)
		}
		p := sip.Packet{Src: uac, Dst: uas, VLAN: -1, Payload: []byte(r.raw)}
		if !r.fromCaller {
			p.Src, p.Dst = uas, uac
		}
		ct.msgs = append(ct.msgs, m)
		ct.pkts = append(ct.pkts, p)
	}
	return ct
}

// ingest feeds call number i at time ts.
func (ct *callTemplate) ingest(s *Store, prefix string, i int, ts time.Time) {
	ct.id = append(strconv.AppendInt(append(ct.id[:0], prefix...), int64(i), 10), "@127.0.0.1"...)
	for k := range ct.msgs {
		ct.msgs[k].CallID = ct.id
		ct.pkts[k].TS = ts
		s.Ingest(&ct.pkts[k], &ct.msgs[k])
	}
}

func BenchmarkIngest(b *testing.B) {
	ct := newCallTemplate(b, true)
	s := New(Config{FirstRef: 1 << 20})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ct.ingest(s, "bench-", i, t0.Add(time.Duration(i)*time.Millisecond))
	}
	b.ReportMetric(float64(b.N*len(ct.msgs))/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(len(ct.msgs)), "msgs/op")
}

func BenchmarkIngestParallel(b *testing.B) {
	s := New(Config{FirstRef: 1 << 20})
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ct := newCallTemplate(b, true)
		prefix := fmt.Sprintf("g%d-", seq.Add(1))
		for i := 0; pb.Next(); i++ {
			ct.ingest(s, prefix, i, t0.Add(time.Duration(i)*time.Millisecond))
		}
	})
	b.ReportMetric(float64(b.N*7)/b.Elapsed().Seconds(), "msgs/s")
}

// syntheticCalls builds n answered sipp-like calls directly.
func syntheticCalls(n int) []*Call {
	calls := make([]*Call, n)
	lo := netip.MustParseAddr("127.0.0.1")
	for i := range calls {
		start := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		calls[i] = &Call{Ref: 0x55ec92a40000 + uint64(i)<<6, CallID: strconv.Itoa(i) + "-29971@127.0.0.1",
			Caller: "sipp", Called: "service", CallerName: "sipp", CallerDomain: "127.0.0.1", CalledDomain: "127.0.0.1",
			CallerIP: lo, CalledIP: lo, CallerPort: 5060, CalledPort: 5070,
			RTPSrc: netip.AddrPortFrom(lo, 6000), RTPDst: netip.AddrPortFrom(lo, 6000),
			Start: start, LastPacket: start.Add(20 * time.Millisecond), Connect: start.Add(20 * time.Millisecond),
			LastResponse: 200, State: CallAnswered, VLAN: -1}
	}
	return calls
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func BenchmarkWriteListCalls(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		calls := syntheticCalls(n)
		p := ListParams{Now: t0.Add(time.Hour), Location: time.UTC}
		var cw countWriter
		if err := WriteListCalls(&cw, calls, p, 1); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			b.SetBytes(cw.n)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := WriteListCalls(io.Discard, calls, p, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteListCallsLimit: a GUI page (limit 100) out of a million.
func BenchmarkWriteListCallsLimit(b *testing.B) {
	calls := syntheticCalls(1_000_000)
	p, _ := ParseListParams([]byte(`{"limit":"100"}`))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := WriteListCalls(io.Discard, calls, p, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCallsSnapshot(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		s := New(Config{FirstRef: 1 << 20})
		ct := newCallTemplate(b, false)
		for i := range n {
			ct.ingest(s, "snap-", i, t0)
		}
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if len(s.Calls()) != n {
					b.Fatal("lost calls")
				}
			}
		})
	}
}

// TestMemoryPerCall ingests 100,000 answered sipp calls and reports the
// live heap per call, with and without the SIP messages kept for
// active_call_info.
func TestMemoryPerCall(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		max  float64
	}{
		{"with SIP messages", Config{}, 8 << 10},
		{"without SIP messages", Config{MaxSIPPerCall: -1}, 1 << 10},
	} {
		const n = 100_000
		ct := newCallTemplate(t, false)
		before := heapAlloc()
		s := New(tc.cfg)
		for i := range n {
			ct.ingest(s, "mem-", i, t0)
		}
		per := float64(heapAlloc()-before) / n
		runtime.KeepAlive(s)
		t.Logf("%s: %.0f bytes/call (%d calls, %d messages each)", tc.name, per, n, len(ct.msgs))
		if per > tc.max {
			t.Errorf("%.0f bytes per call, want under %.0f", per, tc.max)
		}
	}
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
