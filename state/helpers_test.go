package state

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"tapline/sip"
)

// t0 is the sample's first calldate (2026-11-23 15:59:43 UTC).
var t0 = time.Unix(1795449583, 0).UTC()

var (
	uac = netip.MustParseAddrPort("127.0.0.1:5060") // sipp -sn uac
	uas = netip.MustParseAddrPort("127.0.0.1:5070") // sipp -sn uas
)

// wire feeds raw SIP text into a store through the real parser, with a
// clock the test moves.
type wire struct {
	t    testing.TB
	s    *Store
	now  time.Time
	vlan int
	m    sip.Msg
}

func newWire(t testing.TB, cfg Config) *wire {
	if cfg.FirstRef == 0 {
		cfg.FirstRef = 0x55ec92a40000
	}
	return &wire{t: t, s: New(cfg), now: t0, vlan: -1}
}

func (n *wire) at(d time.Duration) *wire {
	n.now = t0.Add(d)
	return n
}

// send parses raw and ingests it as sent from src to dst at the wire's
// clock.
func (n *wire) send(src, dst netip.AddrPort, raw string) {
	n.t.Helper()
	if err := sip.Parse([]byte(raw), &n.m); err != nil {
		n.t.Fatalf("parse: %v\n%s", err, raw)
	}
	n.s.Ingest(&sip.Packet{TS: n.now, Src: src, Dst: dst, VLAN: n.vlan, Payload: []byte(raw)}, &n.m)
}

// dialog builds sipp-like messages of one call.
type dialog struct {
	id      int
	callID  string
	fromTag string
	toTag   string
	ua      string // User-Agent of the caller's requests
	server  string // Server header of the called side's responses
	caller  netip.AddrPort
	callee  netip.AddrPort
}

func sippDialog(id int) *dialog {
	return &dialog{id: id, callID: fmt.Sprintf("%d-29971@127.0.0.1", id),
		fromTag: fmt.Sprintf("29971SIPpTag00%d", id), toTag: fmt.Sprintf("29971SIPpTag01%d", id),
		caller: uac, callee: uas}
}

const sippSDP = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

func sdpBody(ip string, port, pt int) string {
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP %d 101\r\n", ip, ip, port, pt)
}

func message(start string, headers []string, body string) string {
	var b strings.Builder
	b.WriteString(start + "\r\n")
	for _, h := range headers {
		if h != "" {
			b.WriteString(h + "\r\n")
		}
	}
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func (d *dialog) from() string {
	return fmt.Sprintf("From: sipp <sip:sipp@%s>;tag=%s", d.caller, d.fromTag)
}

func (d *dialog) to(withTag bool) string {
	h := fmt.Sprintf("To: service <sip:service@%s>", d.callee)
	if withTag && d.toTag != "" {
		h += ";tag=" + d.toTag
	}
	return h
}

func header(name, v string) string {
	if v == "" {
		return ""
	}
	return name + ": " + v
}

// request builds a request from the caller (or, byCallee, from the called
// side with From/To swapped).
func (d *dialog) request(method string, cseq int, byCallee bool, body string) string {
	via := fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-%d-%d-%s", d.caller, d.id, cseq, method)
	from, to := d.from(), d.to(method != "INVITE" || cseq > 1)
	if byCallee {
		via = fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-b-%d-%d", d.callee, d.id, cseq)
		from = fmt.Sprintf("From: service <sip:service@%s>;tag=%s", d.callee, d.toTag)
		to = fmt.Sprintf("To: sipp <sip:sipp@%s>;tag=%s", d.caller, d.fromTag)
	}
	return message(fmt.Sprintf("%s sip:service@%s SIP/2.0", method, d.callee), []string{via, from, to,
		"Call-ID: " + d.callID, fmt.Sprintf("CSeq: %d %s", cseq, method),
		fmt.Sprintf("Contact: sip:sipp@%s", d.caller), "Max-Forwards: 70", header("User-Agent", d.ua),
		"Subject: Performance Test"}, body)
}

// response builds a response to a request of the caller (or byCallee: of
// the called side, so sent by the caller).
func (d *dialog) response(code int, reason, method string, cseq int, byCallee bool, body string) string {
	via := fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-%d-%d-%s", d.caller, d.id, cseq, method)
	from, to := d.from(), d.to(code > 100)
	server := header("Server", d.server)
	if byCallee {
		from = fmt.Sprintf("From: service <sip:service@%s>;tag=%s", d.callee, d.toTag)
		to = fmt.Sprintf("To: sipp <sip:sipp@%s>;tag=%s", d.caller, d.fromTag)
		server = header("User-Agent", d.ua)
	}
	return message(fmt.Sprintf("SIP/2.0 %d %s", code, reason), []string{via, from, to,
		"Call-ID: " + d.callID, fmt.Sprintf("CSeq: %d %s", cseq, method),
		fmt.Sprintf("Contact: <sip:%s;transport=UDP>", d.callee), server}, body)
}

func (n *wire) fromCaller(d *dialog, raw string) { n.send(d.caller, d.callee, raw) }
func (n *wire) fromCallee(d *dialog, raw string) { n.send(d.callee, d.caller, raw) }

// fullCall runs sipp's uac/uas scenario: INVITE, 100, 180, 200, ACK, then
// BYE and its 200 after hold.
func (n *wire) fullCall(d *dialog, start, hold time.Duration) {
	n.at(start).fromCaller(d, d.request("INVITE", 1, false, sippSDP))
	n.fromCallee(d, d.response(100, "Trying", "INVITE", 1, false, ""))
	n.at(start+10*time.Millisecond).fromCallee(d, d.response(180, "Ringing", "INVITE", 1, false, ""))
	n.at(start+20*time.Millisecond).fromCallee(d, d.response(200, "OK", "INVITE", 1, false, sippSDP))
	n.fromCaller(d, d.request("ACK", 1, false, ""))
	if hold <= 0 {
		return
	}
	n.at(start+hold).fromCaller(d, d.request("BYE", 2, false, ""))
	n.fromCallee(d, d.response(200, "OK", "BYE", 2, false, ""))
}

// only returns the store's single call.
func only(t testing.TB, s *Store) *Call {
	t.Helper()
	calls := s.Calls()
	if len(calls) != 1 {
		t.Fatalf("want 1 call, have %d", len(calls))
	}
	return calls[0]
}
