package state

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

var registrar = netip.MustParseAddrPort("127.0.0.1:5072")

// regUA builds the REGISTER flow of one user, like the sipp scenario of
// the listregisters sample.
type regUA struct {
	user    string
	callID  string
	cseq    int
	addr    netip.AddrPort
	ua      string
	auth    bool // send Authorization
	contact string
}

func newRegUA(user string) *regUA {
	return &regUA{user: user, callID: "reg-" + user + "@127.0.0.1", addr: uac, ua: "sipp-reg",
		contact: fmt.Sprintf("<sip:%s@127.0.0.1:5060>", user)}
}

func (u *regUA) register(expires int) string {
	u.cseq++
	auth := ""
	if u.auth {
		auth = fmt.Sprintf(`Authorization: Digest username="%s", realm="pbx.example", nonce="x", uri="sip:127.0.0.1", response="y"`, u.user)
	}
	contact := u.contact
	if contact != "*" {
		contact += fmt.Sprintf(";expires=%d", expires)
	}
	return message(fmt.Sprintf("REGISTER sip:%s SIP/2.0", registrar.Addr()), []string{
		fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d", u.addr, u.user, u.cseq),
		fmt.Sprintf("From: <sip:%s@127.0.0.1>;tag=%s-tag", u.user, u.user),
		fmt.Sprintf("To: <sip:%s@127.0.0.1>", u.user),
		"Call-ID: " + u.callID, fmt.Sprintf("CSeq: %d REGISTER", u.cseq),
		"Contact: " + contact, header("Expires", map[bool]string{true: "0"}[contact == "*"]),
		"Max-Forwards: 70", header("User-Agent", u.ua), auth}, "")
}

func (u *regUA) reply(code int, reason string, expires int) string {
	contact := ""
	if code/100 == 2 && expires >= 0 && u.contact != "*" {
		contact = fmt.Sprintf("Contact: %s;expires=%d", u.contact, expires)
	}
	return message(fmt.Sprintf("SIP/2.0 %d %s", code, reason), []string{
		fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d", u.addr, u.user, u.cseq),
		fmt.Sprintf("From: <sip:%s@127.0.0.1>;tag=%s-tag", u.user, u.user),
		fmt.Sprintf("To: <sip:%s@127.0.0.1>;tag=reg-%d", u.user, u.cseq),
		"Call-ID: " + u.callID, fmt.Sprintf("CSeq: %d REGISTER", u.cseq), contact, "Server: registrar"}, "")
}

func (n *wire) regSend(u *regUA, raw string)  { n.send(u.addr, registrar, raw) }
func (n *wire) regReply(u *regUA, raw string) { n.send(registrar, u.addr, raw) }

// okRegister runs REGISTER → 200 with the given round trip.
func (n *wire) okRegister(u *regUA, at, rtt time.Duration, expires int) {
	n.at(at).regSend(u, u.register(expires))
	n.at(at+rtt).regReply(u, u.reply(200, "OK", expires))
}

func onlyReg(t *testing.T, s *Store) *Register {
	t.Helper()
	regs := s.Registers()
	if len(regs) != 1 {
		t.Fatalf("want 1 registration, have %d", len(regs))
	}
	return regs[0]
}

type regWant struct {
	state     RegState
	stateAt   time.Duration
	expires   int
	expiresAt time.Duration
	rtt       time.Duration
	samples   int
}

func checkReg(t *testing.T, r *Register, u *regUA, w regWant) {
	t.Helper()
	checks := []struct {
		name      string
		got, want any
	}{
		{"From", r.From, u.user}, {"To", r.To, u.user}, {"Contact", r.Contact, u.user},
		{"FromDomain", r.FromDomain, "127.0.0.1"}, {"ToDomain", r.ToDomain, "127.0.0.1"},
		{"ContactDomain", r.ContactDomain, "127.0.0.1"}, {"UA", r.UA, u.ua},
		{"SrcIP", r.SrcIP, u.addr.Addr()}, {"SrcPort", r.SrcPort, u.addr.Port()},
		{"DstIP", r.DstIP, registrar.Addr()}, {"DstPort", r.DstPort, registrar.Port()},
		{"State", r.State, w.state}, {"StateAt", r.StateAt, t0.Add(w.stateAt)},
		{"Expires", r.Expires, w.expires}, {"ExpiresAt", r.ExpiresAt, t0.Add(w.expiresAt)},
		{"RTT", r.RTT, w.rtt}, {"RTTSamples", r.RTTSamples, w.samples}, {"VLAN", r.VLAN, -1},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

const hour = time.Hour

func TestRegisterSequences(t *testing.T) {
	rtt := 267 * time.Microsecond
	tests := []struct {
		name string
		run  func(n *wire, u *regUA)
		want regWant
	}{
		{"OK", func(n *wire, u *regUA) { n.okRegister(u, 0, rtt, 3600) },
			regWant{RegOK, rtt, 3600, rtt + hour, rtt, 1}},
		{"401 then OK", func(n *wire, u *regUA) {
			n.at(0).regSend(u, u.register(3600))
			n.at(ms).regReply(u, u.reply(401, "Unauthorized", -1))
			u.auth = true
			n.okRegister(u, 2*ms, rtt, 3600)
		}, regWant{RegOK, 2*ms + rtt, 3600, 2*ms + rtt + hour, rtt, 1}},
		{"403", func(n *wire, u *regUA) {
			n.at(0).regSend(u, u.register(3600))
			n.at(ms).regReply(u, u.reply(403, "Forbidden", -1))
		}, regWant{RegFailed, 0, 3600, hour, 0, 0}},
		{"timeout", func(n *wire, u *regUA) {
			n.at(0).regSend(u, u.register(1800))
			n.at(500*ms).regSend(u, u.register(1800)) // new transaction
			n.s.Advance(t0.Add(500*ms + 32*time.Second))
		}, regWant{RegFailed, 500 * ms, 1800, 500*ms + 1800*time.Second, 0, 0}},
		{"challenge without retry", func(n *wire, u *regUA) {
			n.at(0).regSend(u, u.register(60))
			n.at(ms).regReply(u, u.reply(401, "Unauthorized", -1))
			n.s.Advance(t0.Add(ms + 32*time.Second - 1))
			if len(n.s.Registers()) != 0 {
				t.Error("challenged REGISTER listed before its timeout")
			}
			n.s.Advance(t0.Add(ms + 32*time.Second))
		}, regWant{RegFailed, 0, 60, time.Minute, 0, 0}},
		{"unregister", func(n *wire, u *regUA) {
			n.okRegister(u, 0, rtt, 3600)
			n.okRegister(u, time.Minute, rtt, 0)
		}, regWant{RegUnregister, time.Minute + rtt, 0, time.Minute + rtt, rtt, 2}},
		{"expiry", func(n *wire, u *regUA) {
			n.okRegister(u, 0, 0, 60)
			n.s.Advance(t0.Add(90*time.Second - 1))
			if r := onlyReg(t, n.s); r.State != RegOK {
				t.Errorf("expired early: %v", r.State)
			}
			n.s.Advance(t0.Add(90 * time.Second))
		}, regWant{RegExpired, time.Minute, 0, time.Minute, 0, 1}},
		{"refresh keeps OK", func(n *wire, u *regUA) {
			n.okRegister(u, 0, rtt, 60)
			n.okRegister(u, 55*time.Second, 3*rtt, 60)
			n.s.Advance(t0.Add(100 * time.Second))
		}, regWant{RegOK, 55*time.Second + 3*rtt, 60, 115*time.Second + 3*rtt, 2 * rtt, 2}},
		{"failure keeps a valid OK", func(n *wire, u *regUA) {
			n.okRegister(u, 0, rtt, 3600)
			n.at(time.Minute).regSend(u, u.register(3600))
			n.at(time.Minute+ms).regReply(u, u.reply(403, "Forbidden", -1))
		}, regWant{RegOK, rtt, 3600, rtt + hour, rtt, 1}},
		{"many messages", func(n *wire, u *regUA) {
			for i := range 11 {
				n.okRegister(u, time.Duration(i)*500*ms, rtt, 3600)
			}
		}, regWant{RegManyRegMessages, 5*time.Second + rtt, 3600, 5*time.Second + rtt + hour, rtt, 11}},
		{"flood over: OK again", func(n *wire, u *regUA) {
			for i := range 11 {
				n.okRegister(u, time.Duration(i)*500*ms, rtt, 3600)
			}
			n.okRegister(u, 30*time.Second, rtt, 3600)
		}, regWant{RegOK, 30*time.Second + rtt, 3600, 30*time.Second + rtt + hour, rtt, 12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newWire(t, Config{Registers: true})
			u := newRegUA("user1")
			tt.run(n, u)
			checkReg(t, onlyReg(t, n.s), u, tt.want)
		})
	}
}

func TestRegisterDigestAndRetransmission(t *testing.T) {
	n := newWire(t, Config{Registers: true})
	u := newRegUA("alice")
	u.auth = true
	reg := u.register(600)
	n.at(0).regSend(u, reg)
	n.at(500*ms).regSend(u, reg) // retransmission: RTT from the first
	n.at(600*ms).regReply(u, u.reply(200, "OK", 600))
	n.at(700*ms).regReply(u, u.reply(200, "OK", 600))
	r := onlyReg(t, n.s)
	if r.DigestUser != "alice" || r.DigestRealm != "pbx.example" || r.RTT != 600*ms || r.Expires != 600 {
		t.Fatalf("%+v", r)
	}
	if c := n.s.Counts(); c.Retransmissions != 2 || c.Registers != 1 || c.RegistersCreated != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func TestRegisterRowsLeave(t *testing.T) {
	n := newWire(t, Config{Registers: true})
	failed, ok := newRegUA("failed"), newRegUA("ok")
	n.at(0).regSend(failed, failed.register(60))
	n.at(ms).regReply(failed, failed.reply(403, "Forbidden", -1))
	n.okRegister(ok, 0, ms, 60)
	n.s.Advance(t0.Add(time.Minute + ms))
	if r := onlyReg(t, n.s); r.To != "ok" {
		t.Fatalf("left %s", r.To)
	}
	// Expired at 91 s (60 s + 30 s grace), listed until 2 h after expiry.
	n.s.Advance(t0.Add(time.Minute + ms + 2*hour - 1))
	if r := onlyReg(t, n.s); r.State != RegExpired {
		t.Fatalf("state %v", r.State)
	}
	n.s.Advance(t0.Add(time.Minute + ms + 2*hour))
	c := n.s.Counts()
	if c.Registers != 0 || c.RegistersRemoved != 2 || c.RegFailures != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func TestRegisterUnknownOKAndWildcard(t *testing.T) {
	n := newWire(t, Config{Registers: true})
	u := newRegUA("bob")
	n.at(0).regReply(u, u.reply(200, "OK", 300)) // REGISTER not seen
	r := onlyReg(t, n.s)
	if r.State != RegUnknownMessageOK || r.Expires != 300 || r.SrcIP != u.addr.Addr() || r.UA != "" {
		t.Fatalf("%+v", r)
	}
	u2 := newRegUA("bob")
	u2.contact, u2.callID = "<sip:bob@10.1.1.1:5060>", "other@x"
	n.okRegister(u2, time.Second, ms, 300)
	w := newRegUA("bob")
	w.contact, w.callID = "*", "wild@x"
	n.okRegister(w, 2*time.Second, ms, 0)
	regs := n.s.Registers()
	if len(regs) != 2 {
		t.Fatalf("%d rows (the wildcard itself must not be listed)", len(regs))
	}
	for _, r := range regs {
		if r.State != RegUnregister || !r.StateAt.Equal(t0.Add(2*time.Second+ms)) {
			t.Errorf("%s: %v at %v", r.Contact, r.State, r.StateAt)
		}
	}
}

func TestRegistersOffAndMax(t *testing.T) {
	n := newWire(t, Config{Registers: true, MaxRegisters: 1})
	n.okRegister(newRegUA("a"), 0, ms, 60)
	n.okRegister(newRegUA("b"), 0, ms, 60)
	// b's REGISTER is dropped, and so is the row its 200 would create.
	if c := n.s.Counts(); c.Registers != 1 || c.DroppedRegisters != 2 {
		t.Fatalf("counts %+v", c)
	}
}

// TestRegisterFieldColumns: each string filter field reads the column of
// the same name.
func TestRegisterFieldColumns(t *testing.T) {
	r := &Register{From: "f", FromName: "fn", FromDomain: "fd", To: "t", ToDomain: "td",
		Contact: "c", ContactDomain: "cd", DigestUser: "du", DigestRealm: "dr", UA: "ua"}
	for i, name := range regFilterFields {
		got, _ := registerField(r, i)
		want := ""
		if f := regStrField(columnIndex(registerColumns[:], name)); f != nil {
			want = f(r)
		}
		if got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}
