package state

import (
	"net/netip"
	"testing"
	"time"
)

const ms = time.Millisecond

// callWant lists the fields a sequence must leave; zero times mean "must
// be zero".
type callWant struct {
	state        CallState
	lastResponse int
	start        time.Duration
	lastPacket   time.Duration
	connect      time.Duration // -1: unanswered
	end          time.Duration // -1: not ended
	rtpSrc       string
	rtpDst       string
	callerCodec  int
	calledCodec  int
	callerAgent  string
	calledAgent  string
}

func checkCall(t *testing.T, c *Call, d *dialog, w callWant) {
	t.Helper()
	at := func(x time.Duration) time.Time {
		if x < 0 {
			return time.Time{}
		}
		return t0.Add(x)
	}
	addr := func(s string) netip.AddrPort {
		if s == "" {
			return netip.AddrPort{}
		}
		return netip.MustParseAddrPort(s)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"CallID", c.CallID, d.callID}, {"Caller", c.Caller, "sipp"}, {"Called", c.Called, "service"},
		{"CallerName", c.CallerName, "sipp"}, {"CallerDomain", c.CallerDomain, d.caller.Addr().String()},
		{"CalledDomain", c.CalledDomain, d.callee.Addr().String()},
		{"CallerIP", c.CallerIP, d.caller.Addr()}, {"CallerPort", c.CallerPort, d.caller.Port()},
		{"CalledIP", c.CalledIP, d.callee.Addr()}, {"CalledPort", c.CalledPort, d.callee.Port()},
		{"State", c.State, w.state}, {"LastResponse", c.LastResponse, w.lastResponse},
		{"Start", c.Start, at(w.start)}, {"LastPacket", c.LastPacket, at(w.lastPacket)},
		{"Connect", c.Connect, at(w.connect)}, {"End", c.End, at(w.end)},
		{"RTPSrc", c.RTPSrc, addr(w.rtpSrc)}, {"RTPDst", c.RTPDst, addr(w.rtpDst)},
		{"CallerCodec", c.CallerCodec, w.callerCodec}, {"CalledCodec", c.CalledCodec, w.calledCodec},
		{"CallerAgent", c.CallerAgent, w.callerAgent}, {"CalledAgent", c.CalledAgent, w.calledAgent},
		{"VLAN", c.VLAN, -1},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestCallSequences(t *testing.T) {
	answered := callWant{state: CallAnswered, lastResponse: 200, lastPacket: 20 * ms, connect: 20 * ms, end: -1,
		rtpSrc: "127.0.0.1:6000", rtpDst: "127.0.0.1:6000", callerCodec: 0, calledCodec: 0}
	tests := []struct {
		name  string
		run   func(n *wire, d *dialog)
		want  callWant
		count func(Counts) bool
	}{
		{"sipp call answered", func(n *wire, d *dialog) { n.fullCall(d, 0, 0) }, answered, nil},
		{"sipp call with agents", func(n *wire, d *dialog) {
			d.ua, d.server = "sipp-uac/3.6", "sipp-uas/3.6"
			n.fullCall(d, 0, 0)
		}, with(answered, func(w *callWant) { w.callerAgent, w.calledAgent = "sipp-uac/3.6", "sipp-uas/3.6" }), nil},
		{"sipp call hung up", func(n *wire, d *dialog) { n.fullCall(d, 0, 20*time.Second) },
			with(answered, func(w *callWant) { w.state, w.end, w.lastPacket = CallEnded, 20*time.Second, 20*time.Second }), nil},
		{"cancelled", func(n *wire, d *dialog) {
			n.at(0).fromCaller(d, d.request("INVITE", 1, false, sippSDP))
			n.fromCallee(d, d.response(100, "Trying", "INVITE", 1, false, ""))
			n.at(1*time.Second).fromCallee(d, d.response(180, "Ringing", "INVITE", 1, false, ""))
			n.at(3*time.Second).fromCaller(d, d.request("CANCEL", 1, false, ""))
			n.fromCallee(d, d.response(200, "OK", "CANCEL", 1, false, ""))
			n.at(3*time.Second+5*ms).fromCallee(d, d.response(487, "Request Terminated", "INVITE", 1, false, ""))
			n.fromCaller(d, d.request("ACK", 1, false, ""))
		}, callWant{state: CallEnded, lastResponse: 487, lastPacket: 3*time.Second + 5*ms, connect: -1,
			end: 3 * time.Second, rtpSrc: "127.0.0.1:6000", callerCodec: 0, calledCodec: -1}, nil},
		{"busy 486", func(n *wire, d *dialog) {
			n.at(0).fromCaller(d, d.request("INVITE", 1, false, sippSDP))
			n.fromCallee(d, d.response(100, "Trying", "INVITE", 1, false, ""))
			n.at(50*ms).fromCallee(d, d.response(486, "Busy Here", "INVITE", 1, false, ""))
			n.fromCaller(d, d.request("ACK", 1, false, ""))
		}, callWant{state: CallEnded, lastResponse: 486, lastPacket: 50 * ms, connect: -1, end: 50 * ms,
			rtpSrc: "127.0.0.1:6000", callerCodec: 0, calledCodec: -1}, nil},
		{"re-INVITEs keep start and parties", func(n *wire, d *dialog) {
			n.fullCall(d, 0, 0)
			n.at(10*time.Second).fromCaller(d, d.request("INVITE", 2, false, sdpBody("10.0.0.1", 7000, 8)))
			n.fromCallee(d, d.response(200, "OK", "INVITE", 2, false, sdpBody("10.0.0.2", 7002, 8)))
			n.at(20*time.Second).fromCallee(d, d.request("INVITE", 1, true, sdpBody("10.0.0.3", 7004, 18)))
			n.fromCaller(d, d.response(200, "OK", "INVITE", 1, true, sdpBody("10.0.0.4", 7006, 18)))
		}, with(answered, func(w *callWant) {
			w.lastPacket = 20 * time.Second
			w.rtpSrc, w.rtpDst, w.callerCodec, w.calledCodec = "10.0.0.4:7006", "10.0.0.3:7004", 18, 18
		}), nil},
		{"forked 180s", func(n *wire, d *dialog) {
			n.at(0).fromCaller(d, d.request("INVITE", 1, false, sippSDP))
			d.toTag, d.server = "fork-a", "phone-a"
			n.at(10*ms).fromCallee(d, d.response(180, "Ringing", "INVITE", 1, false, ""))
			d.toTag, d.server = "fork-b", "phone-b"
			n.at(11*ms).fromCallee(d, d.response(183, "Session Progress", "INVITE", 1, false, sdpBody("10.0.0.9", 9000, 8)))
			d.toTag, d.server = "fork-c", "phone-c"
			n.at(20*ms).fromCallee(d, d.response(200, "OK", "INVITE", 1, false, sippSDP))
			n.fromCaller(d, d.request("ACK", 1, false, ""))
			d.toTag, d.server = "fork-a", "phone-a"
			n.at(25*ms).fromCallee(d, d.response(200, "OK", "INVITE", 1, false, sdpBody("10.0.0.8", 8000, 8)))
		}, with(answered, func(w *callWant) {
			w.calledAgent, w.lastPacket = "phone-c", 25*ms // the late fork's 200 and SDP are not the call's
		}), func(c Counts) bool { return c.Retransmissions == 1 }},
		{"retransmitted INVITE and 200", func(n *wire, d *dialog) {
			n.at(0).fromCaller(d, d.request("INVITE", 1, false, sippSDP))
			n.at(500*ms).fromCaller(d, d.request("INVITE", 1, false, sippSDP))
			n.at(20*ms).fromCallee(d, d.response(200, "OK", "INVITE", 1, false, sippSDP))
			n.at(520*ms).fromCallee(d, d.response(200, "OK", "INVITE", 1, false, sippSDP))
			n.fromCaller(d, d.request("ACK", 1, false, ""))
		}, with(answered, func(w *callWant) { w.lastPacket = 520 * ms }),
			func(c Counts) bool { return c.Retransmissions == 2 }},
		{"200 before 180", func(n *wire, d *dialog) {
			n.at(0).fromCaller(d, d.request("INVITE", 1, false, sippSDP))
			n.at(20*ms).fromCallee(d, d.response(200, "OK", "INVITE", 1, false, sippSDP))
			n.at(15*ms).fromCallee(d, d.response(180, "Ringing", "INVITE", 1, false, ""))
		}, answered, nil},
		{"proxy auth then answer", func(n *wire, d *dialog) {
			n.at(0).fromCaller(d, d.request("INVITE", 1, false, sippSDP))
			n.at(5*ms).fromCallee(d, d.response(407, "Proxy Authentication Required", "INVITE", 1, false, ""))
			n.fromCaller(d, d.request("ACK", 1, false, ""))
			n.at(10*ms).fromCaller(d, d.request("INVITE", 2, false, sippSDP))
			n.at(15*ms).fromCallee(d, d.response(180, "Ringing", "INVITE", 2, false, ""))
			n.at(20*ms).fromCallee(d, d.response(200, "OK", "INVITE", 2, false, sippSDP))
		}, answered, nil},
		{"BYE from the called side", func(n *wire, d *dialog) {
			n.fullCall(d, 0, 0)
			n.at(7*time.Second).fromCallee(d, d.request("BYE", 1, true, ""))
			n.fromCaller(d, d.response(200, "OK", "BYE", 1, true, ""))
		}, with(answered, func(w *callWant) { w.state, w.end, w.lastPacket = CallEnded, 7*time.Second, 7*time.Second }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newWire(t, Config{})
			d := sippDialog(1)
			tt.run(n, d)
			checkCall(t, only(t, n.s), d, tt.want)
			if tt.count != nil && !tt.count(n.s.Counts()) {
				t.Errorf("counts: %+v", n.s.Counts())
			}
		})
	}
}

func with(w callWant, f func(*callWant)) callWant {
	f(&w)
	return w
}

func TestCallLingerAndTimeout(t *testing.T) {
	cfg := Config{CallLinger: 5 * time.Second, CallTimeout: 300 * time.Second}
	n := newWire(t, cfg)
	ended, open := sippDialog(1), sippDialog(2)
	n.fullCall(ended, 0, 10*time.Second)
	n.fullCall(open, 0, 0)

	n.s.Advance(t0.Add(15*time.Second - ms))
	if got := len(n.s.Calls()); got != 2 {
		t.Fatalf("before linger: %d calls", got)
	}
	n.s.Advance(t0.Add(15 * time.Second))
	if c := only(t, n.s); c.CallID != open.callID {
		t.Fatalf("after linger left %s", c.CallID)
	}
	n.s.Advance(t0.Add(20*ms + 300*time.Second - ms))
	only(t, n.s)
	n.s.Advance(t0.Add(20*ms + 300*time.Second))
	if got := len(n.s.Calls()); got != 0 {
		t.Fatalf("after timeout: %d calls", got)
	}
	c := n.s.Counts()
	if c.CallsCreated != 2 || c.CallsClosed != 1 || c.CallsExpired != 1 || c.Calls != 0 {
		t.Fatalf("counts %+v", c)
	}
}

// TestExpiryFromIngest: during a replay the packets' clock alone drives
// expiry, without Advance.
func TestExpiryFromIngest(t *testing.T) {
	n := newWire(t, Config{})
	n.fullCall(sippDialog(1), 0, time.Second)
	n.fullCall(sippDialog(2), 10*time.Second, 0)
	if c := only(t, n.s); c.CallID != "2-29971@127.0.0.1" {
		t.Fatalf("left %s", c.CallID)
	}
	if got := n.s.Now(); !got.Equal(t0.Add(10*time.Second + 20*ms)) {
		t.Fatalf("clock %v", got)
	}
}

func TestOrphansAndIgnored(t *testing.T) {
	n := newWire(t, Config{})
	d := sippDialog(9)
	n.fromCallee(d, d.response(200, "OK", "INVITE", 1, false, sippSDP))
	n.fromCaller(d, d.request("BYE", 2, false, ""))
	n.fromCaller(d, d.request("OPTIONS", 1, false, ""))
	n.fromCaller(d, d.request("REGISTER", 1, false, "")) // tracking off
	if len(n.s.Calls()) != 0 {
		t.Fatal("a call was created without INVITE")
	}
	c := n.s.Counts()
	if c.Orphans != 2 || c.Ignored != 2 || c.Ingested != 4 {
		t.Fatalf("counts %+v", c)
	}
}

func TestReopenAfterChallengeKeepsStart(t *testing.T) {
	n := newWire(t, Config{})
	d := sippDialog(1)
	n.at(0).fromCaller(d, d.request("INVITE", 1, false, sippSDP))
	n.at(5*ms).fromCallee(d, d.response(401, "Unauthorized", "INVITE", 1, false, ""))
	if c := only(t, n.s); c.State != CallEnded || c.LastResponse != 401 {
		t.Fatalf("after 401: %v %d", c.State, c.LastResponse)
	}
	n.at(2*time.Second).fromCaller(d, d.request("INVITE", 2, false, sippSDP))
	c := only(t, n.s)
	if c.State != CallCalling || !c.End.IsZero() || !c.Start.Equal(t0) || c.LastResponse != 401 {
		t.Fatalf("after retry: %+v", c)
	}
	n.at(2*time.Second+ms).fromCallee(d, d.response(100, "Trying", "INVITE", 2, false, ""))
	if c := only(t, n.s); c.LastResponse != 100 {
		t.Fatalf("LastResponse %d", c.LastResponse)
	}
}

func TestCancelRaceAnswers(t *testing.T) {
	n := newWire(t, Config{})
	d := sippDialog(1)
	n.at(0).fromCaller(d, d.request("INVITE", 1, false, sippSDP))
	n.at(time.Second).fromCaller(d, d.request("CANCEL", 1, false, ""))
	n.at(time.Second+ms).fromCallee(d, d.response(200, "OK", "INVITE", 1, false, sippSDP))
	c := only(t, n.s)
	if c.State != CallAnswered || !c.End.IsZero() || c.Connect.IsZero() {
		t.Fatalf("2xx after CANCEL: %+v", c)
	}
}

func TestCallVLANAndIPv6(t *testing.T) {
	n := newWire(t, Config{})
	n.vlan = 100
	d := sippDialog(1)
	d.caller = netip.MustParseAddrPort("[2001:db8::1]:5060")
	d.callee = netip.MustParseAddrPort("[2001:db8::2]:5060")
	n.fullCall(d, 0, 0)
	c := only(t, n.s)
	if c.VLAN != 100 || c.CallerIP != d.caller.Addr() || c.CalledDomain != "2001:db8::2" {
		t.Fatalf("%+v", c)
	}
}

func TestMaxCallsDrops(t *testing.T) {
	n := newWire(t, Config{MaxCalls: 2})
	for i := 1; i <= 3; i++ {
		n.fullCall(sippDialog(i), 0, 0)
	}
	c := n.s.Counts()
	if c.Calls != 2 || c.DroppedCalls != 1 || c.Orphans != 4 {
		t.Fatalf("counts %+v", c)
	}
}

func TestCallLookupAndSIPMessages(t *testing.T) {
	n := newWire(t, Config{MaxSIPPerCall: 4})
	d := sippDialog(1)
	n.fullCall(d, 0, time.Second)
	c := only(t, n.s)
	got, msgs, ok := n.s.Call(c.Ref)
	if !ok || got != c || len(msgs) != 4 {
		t.Fatalf("Call: ok=%v msgs=%d", ok, len(msgs))
	}
	if msgs[0].Src != d.caller || msgs[0].Data[:6] != "INVITE" {
		t.Fatalf("first message %+v", msgs[0])
	}
	if n.s.Counts().SIPNotKept != 3 {
		t.Fatalf("SIPNotKept %d", n.s.Counts().SIPNotKept)
	}
	if _, _, ok := n.s.Call(c.Ref + 64); ok {
		t.Fatal("found an unknown ref")
	}
}

// TestSnapshotIsImmutable: a record taken by Calls() never changes.
func TestSnapshotIsImmutable(t *testing.T) {
	n := newWire(t, Config{})
	d := sippDialog(1)
	n.at(0).fromCaller(d, d.request("INVITE", 1, false, sippSDP))
	before := only(t, n.s)
	copyBefore := *before
	n.at(20*ms).fromCallee(d, d.response(200, "OK", "INVITE", 1, false, sippSDP))
	if *before != copyBefore {
		t.Fatal("published record changed")
	}
	if after := only(t, n.s); after == before || after.State != CallAnswered {
		t.Fatal("no new record published")
	}
}

// TestShrinkAfterBurst: once a burst of calls has left, the shards give
// their arrays and maps back.
func TestShrinkAfterBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	s := New(Config{MaxSIPPerCall: -1})
	ct := newCallTemplate(t, false)
	for i := range 100_000 {
		ct.ingest(s, "burst-", i, t0)
	}
	s.Advance(t0.Add(time.Hour))
	for i := range s.calls {
		if c := cap(s.calls[i].live); c > shrinkMin {
			t.Fatalf("shard %d keeps capacity %d", i, c)
		}
	}
	if c := s.Counts(); c.Calls != 0 || c.CallsExpired != 100_000 {
		t.Fatalf("counts %+v", c)
	}
}
