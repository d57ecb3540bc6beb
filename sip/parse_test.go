package sip

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// na is a NameAddr as strings: Display, User, Domain, Tag, URI.
type na struct{ Display, User, Domain, Tag, URI string }

// view is the comparable, string form of the Msg fields a test checks.
type view struct {
	Req            bool
	Method, URI    string
	Status         int
	Reason         string
	CallID         string
	From, To       na
	CSeq           uint32
	CSeqMethod     string
	Via, Branch    string
	Contact        na
	ContactExpires int
	Expires        int
	UA             string
	DigestUser     string
	DigestRealm    string
	CT             string
	CL             int
	Body           int // len(Body)
	SDP            string
}

func nameAddrView(a *NameAddr) na {
	return na{string(a.Display), string(a.User), string(a.Domain), string(a.Tag), string(a.URI)}
}

// sdpView formats SDP as "ConnIP | type/port/connIP/pt,pt ...", or "" if
// not valid.
func sdpView(s *SDP) string {
	if !s.Valid {
		return ""
	}
	var b strings.Builder
	b.WriteString(string(s.ConnIP))
	b.WriteString(" |")
	for k := 0; k < s.NMedia; k++ {
		md := &s.Media[k]
		fmt.Fprintf(&b, " %s/%d/%s/", md.Type, md.Port, md.ConnIP)
		for j := 0; j < md.NPayload; j++ {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, md.Payloads[j])
		}
	}
	return b.String()
}

func viewOf(m *Msg) view {
	return view{
		Req: m.IsRequest, Method: string(m.Method), URI: string(m.RequestURI),
		Status: m.Status, Reason: string(m.Reason), CallID: string(m.CallID),
		From: nameAddrView(&m.From), To: nameAddrView(&m.To),
		CSeq: m.CSeq, CSeqMethod: string(m.CSeqMethod),
		Via: string(m.Via), Branch: string(m.ViaBranch),
		Contact: nameAddrView(&m.Contact), ContactExpires: m.ContactExpires,
		Expires: m.Expires, UA: string(m.UserAgent),
		DigestUser: string(m.DigestUser), DigestRealm: string(m.DigestRealm),
		CT: string(m.ContentType), CL: m.ContentLength, Body: len(m.Body),
		SDP: sdpView(&m.SDP),
	}
}

func readMsg(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".sip"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Participants of the sipp call flow (testdata invite ... ok_bye).
var (
	sippFrom  = na{"sipp", "sipp", "127.0.1.1", "4242SIPpTag001", "sip:sipp@127.0.1.1:5061"}
	sippTo    = na{"service", "service", "127.0.0.1", "", "sip:service@127.0.0.1:5060"}
	sippToTag = na{"service", "service", "127.0.0.1", "as5f3c9a1e", "sip:service@127.0.0.1:5060"}
	sippCt    = na{"", "sipp", "127.0.1.1", "", "sip:sipp@127.0.1.1:5061"}
	bob       = na{"Bob", "bob", "biloxi.example.com", "", "sip:bob@biloxi.example.com"}
	alice     = na{"Alice Liddell", "alice", "atlanta.example.com", "9fxced76sl", "sip:alice@atlanta.example.com"}
)

func withTag(a na, tag string) na { a.Tag = tag; return a }

var parseTests = []struct {
	file string
	want view
}{
	{"invite", view{
		Req: true, Method: "INVITE", URI: "sip:service@127.0.0.1:5060",
		CallID: "1-4242@127.0.1.1", From: sippFrom, To: sippTo,
		CSeq: 1, CSeqMethod: "INVITE",
		Via: "SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-4242-1-0", Branch: "z9hG4bK-4242-1-0",
		Contact: sippCt, ContactExpires: -1, Expires: -1,
		CT: "application/sdp", CL: 129, Body: 129,
		SDP: "127.0.1.1 | audio/6000/127.0.1.1/0",
	}},
	{"trying", view{
		Method: "INVITE", Status: 100, Reason: "Trying",
		CallID: "1-4242@127.0.1.1", From: sippFrom, To: sippTo,
		CSeq: 1, CSeqMethod: "INVITE",
		Via:    "SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-4242-1-0;received=127.0.0.1",
		Branch: "z9hG4bK-4242-1-0", ContactExpires: -1, Expires: -1,
		UA: "Asterisk PBX 20.5.0", CL: 0,
	}},
	{"ringing", view{
		Method: "INVITE", Status: 180, Reason: "Ringing",
		CallID: "1-4242@127.0.1.1", From: sippFrom, To: sippToTag,
		CSeq: 1, CSeqMethod: "INVITE",
		Via:     "SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-4242-1-0;received=127.0.0.1",
		Branch:  "z9hG4bK-4242-1-0",
		Contact: na{"", "service", "127.0.0.1", "", "sip:service@127.0.0.1:5060"}, ContactExpires: -1,
		Expires: -1, UA: "FPBX-16.0.40(18.20.0)", CL: 0,
	}},
	{"ok_invite", view{
		Method: "INVITE", Status: 200, Reason: "OK",
		CallID: "1-4242@127.0.1.1", From: sippFrom, To: sippToTag,
		CSeq: 1, CSeqMethod: "INVITE",
		Via:     "SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-4242-1-0;received=127.0.0.1",
		Branch:  "z9hG4bK-4242-1-0",
		Contact: na{"", "service", "10.1.2.3", "", "sip:service@10.1.2.3:5060"}, ContactExpires: -1,
		Expires: -1, UA: "Asterisk PBX 20.5.0",
		CT: "application/sdp", CL: 355, Body: 355,
		SDP: "10.1.2.3 | audio/17942/10.1.2.3/8,0,18,101 video/17944/10.1.2.4/99",
	}},
	{"ack", view{
		Req: true, Method: "ACK", URI: "sip:service@10.1.2.3:5060",
		CallID: "1-4242@127.0.1.1", From: sippFrom, To: sippToTag,
		CSeq: 1, CSeqMethod: "ACK",
		Via: "SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-4242-1-5", Branch: "z9hG4bK-4242-1-5",
		Contact: sippCt, ContactExpires: -1, Expires: -1, CL: 0,
	}},
	{"bye", view{
		Req: true, Method: "BYE", URI: "sip:service@10.1.2.3:5060",
		CallID: "1-4242@127.0.1.1", From: sippFrom, To: sippToTag,
		CSeq: 2, CSeqMethod: "BYE",
		Via: "SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-4242-1-7", Branch: "z9hG4bK-4242-1-7",
		Contact: sippCt, ContactExpires: -1, Expires: -1, CL: 0,
	}},
	{"ok_bye", view{
		Method: "BYE", Status: 200, Reason: "OK",
		CallID: "1-4242@127.0.1.1", From: sippFrom, To: sippToTag,
		CSeq: 2, CSeqMethod: "BYE",
		Via:    "SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-4242-1-7;received=127.0.0.1",
		Branch: "z9hG4bK-4242-1-7", ContactExpires: -1, Expires: -1,
		UA: "Grandstream GXP2170 1.0.11.23", CL: 0,
	}},
	{"cancel", view{
		Req: true, Method: "CANCEL", URI: "sip:bob@biloxi.example.com",
		CallID: "3848276298220188511@atlanta.example.com", From: alice, To: bob,
		CSeq: 1, CSeqMethod: "CANCEL",
		Via: "SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9", Branch: "z9hG4bK74bf9",
		ContactExpires: -1, Expires: -1, UA: "Linphone/5.2.0 (belle-sip/5.2.0)", CL: 0,
	}},
	{"terminated", view{
		Method: "INVITE", Status: 487, Reason: "Request Terminated",
		CallID: "3848276298220188511@atlanta.example.com", From: alice, To: withTag(bob, "8321234356"),
		CSeq: 1, CSeqMethod: "INVITE",
		Via:    "SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101",
		Branch: "z9hG4bK74bf9", ContactExpires: -1, Expires: -1, CL: 0,
	}},
	{"register", view{
		Req: true, Method: "REGISTER", URI: "sip:registrar.biloxi.example.com",
		CallID: "843817637684230@998sdasdh09", From: withTag(bob, "456248"), To: bob,
		CSeq: 1826, CSeqMethod: "REGISTER",
		Via:     "SIP/2.0/UDP bobspc.biloxi.example.com:5060;rport;branch=z9hG4bKnashds7",
		Branch:  "z9hG4bKnashds7",
		Contact: na{"", "bob", "192.0.2.4", "", "sip:bob@192.0.2.4;transport=udp"}, ContactExpires: 7200,
		Expires: 7200, UA: "Yealink SIP-T46S 66.86.0.15", CL: 0,
	}},
	{"unauthorized", view{
		Method: "REGISTER", Status: 401, Reason: "Unauthorized",
		CallID: "843817637684230@998sdasdh09", From: withTag(bob, "456248"), To: withTag(bob, "2493k59kd"),
		CSeq: 1826, CSeqMethod: "REGISTER",
		Via:    "SIP/2.0/UDP bobspc.biloxi.example.com:5060;rport=5060;branch=z9hG4bKnashds7;received=192.0.2.4",
		Branch: "z9hG4bKnashds7", ContactExpires: -1, Expires: -1,
		UA: "OpenSIPS (3.4.2 (x86_64/linux))", CL: 0,
	}},
	{"register_auth", view{
		Req: true, Method: "REGISTER", URI: "sip:registrar.biloxi.example.com",
		CallID: "843817637684230@998sdasdh09", From: withTag(bob, "ja743ks76zlflH"), To: bob,
		CSeq: 1827, CSeqMethod: "REGISTER",
		Via:     "SIP/2.0/UDP bobspc.biloxi.example.com:5060;rport;branch=z9hG4bKnashd92",
		Branch:  "z9hG4bKnashd92",
		Contact: na{"", "bob", "192.0.2.4", "", "sip:bob@192.0.2.4"}, ContactExpires: -1,
		Expires: 3600, UA: "Yealink SIP-T46S 66.86.0.15",
		DigestUser: "bob", DigestRealm: "biloxi.example.com", CL: 0,
	}},
	{"ok_register", view{
		Method: "REGISTER", Status: 200, Reason: "OK",
		CallID: "843817637684230@998sdasdh09", From: withTag(bob, "ja743ks76zlflH"), To: withTag(bob, "37GkEhwl6"),
		CSeq: 1827, CSeqMethod: "REGISTER",
		Via:     "SIP/2.0/UDP bobspc.biloxi.example.com:5060;rport=5060;branch=z9hG4bKnashd92;received=192.0.2.4",
		Branch:  "z9hG4bKnashd92",
		Contact: na{"", "bob", "192.0.2.4", "", "sip:bob@192.0.2.4"}, ContactExpires: 3600,
		Expires: -1, UA: "Kamailio (5.7.1 (x86_64/linux))", CL: 0,
	}},
	{"compact", view{
		Req: true, Method: "INVITE", URI: "sip:bob@biloxi.example.com",
		CallID: "a84b4c76e66710@pc33.atlanta.example.com",
		From:   na{"Alice", "alice", "atlanta.example.com", "1928301774", "sip:alice@atlanta.example.com"},
		To:     bob, CSeq: 314159, CSeqMethod: "INVITE",
		Via:            "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8",
		Branch:         "z9hG4bKnashds8",
		Contact:        na{"", "alice", "pc33.atlanta.example.com", "", "sip:alice@pc33.atlanta.example.com"},
		ContactExpires: -1, Expires: -1,
		CT: "application/sdp; charset=utf-8", CL: 174, Body: 174,
		SDP: "192.0.2.101 | audio/49172/192.0.2.101/0,8,9,18,3,4,97,98",
	}},
	{"ipv6", view{
		Req: true, Method: "INVITE", URI: "sip:bob@[2001:db8::20]:5060",
		CallID: "v6call@2001:db8::10",
		From:   na{"Alice", "alice", "2001:db8::10", "v6tag", "sip:alice@[2001:db8::10]:5060"},
		To:     na{"", "bob", "2001:db8::20", "", "sip:bob@[2001:db8::20]"},
		CSeq:   1, CSeqMethod: "INVITE",
		Via: "SIP/2.0/UDP [2001:db8::10]:5060;branch=z9hG4bKv6abc", Branch: "z9hG4bKv6abc",
		Contact:        na{"", "alice", "2001:db8::10", "", "sip:alice@[2001:db8::10]:5060;transport=udp"},
		ContactExpires: -1, Expires: -1,
		CT: "Application/SDP", CL: 137, Body: 137,
		SDP: "2001:db8::10 | audio/30000/2001:db8::10/9,101",
	}},
	{"tel", view{
		Req: true, Method: "INVITE", URI: "tel:+15551234567",
		CallID: "tel-call-1",
		From:   na{"+15550001111", "+15550001111", "", "t1", "tel:+15550001111;phone-context=example.net"},
		To:     na{"", "+15551234567", "", "nope", "tel:+15551234567"},
		CSeq:   7, CSeqMethod: "INVITE",
		Via: "SIP/2.0/TLS gw.example.net:5061;branch=z9hG4bKtel1", Branch: "z9hG4bKtel1",
		Contact:        na{"", "", "gw.example.net", "", "sip:gw.example.net:5061;transport=tls"},
		ContactExpires: -1, Expires: -1,
		DigestUser: "gw1", DigestRealm: "example.net", CL: 0,
	}},
	{"spacing", view{
		Req: true, Method: "OPTIONS", URI: "sip:carol@chicago.example.com",
		CallID: "sp@host",
		From:   na{`Carol \"CC\" Smith`, "carol", "chicago.example.com", "12ab", "sip:carol@chicago.example.com"},
		To:     na{"Dave Jones", "dave", "example.org", "", "sip:dave@example.org"},
		CSeq:   63104, CSeqMethod: "OPTIONS",
		Via: "SIP/2.0/UDP  host.example.com ; branch = z9hG4bKspace ; rport", Branch: "z9hG4bKspace",
		Contact:        na{"", "carol", "host.example.com", "", "sip:carol@host.example.com"},
		ContactExpires: 60, Expires: 120, UA: "spacey/1.0", CL: 0,
	}},
	{"lf_only", view{
		Req: true, Method: "INVITE", URI: "sip:bob@example.org",
		CallID: "lf-only@192.0.2.1",
		From:   na{"", "alice", "example.com", "lf1", "sip:alice@example.com"},
		To:     na{"", "bob", "example.org", "", "sip:bob@example.org"},
		CSeq:   1, CSeqMethod: "INVITE",
		Via: "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKlf", Branch: "z9hG4bKlf",
		ContactExpires: -1, Expires: -1,
		CT: "application/sdp", CL: 81, Body: 81,
		SDP: "192.0.2.1 | audio/4000/192.0.2.1/0",
	}},
	{"folded", view{
		Req: true, Method: "MESSAGE", URI: "sip:bob@example.org",
		CallID: "folded@192.0.2.1",
		From:   na{"Folded\r\n Name", "alice", "example.com", "f1", "sip:alice@example.com"},
		To:     na{"", "bob", "example.org", "", "sip:bob@example.org"},
		CSeq:   9, CSeqMethod: "MESSAGE",
		Via: "SIP/2.0/UDP 192.0.2.1:5060\r\n  ;branch=z9hG4bKfold", Branch: "z9hG4bKfold",
		ContactExpires: -1, Expires: -1,
		CT: "text/plain", CL: 7, Body: 7,
	}},
}

func TestParseGolden(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.file, func(t *testing.T) {
			b := readMsg(t, tt.file)
			var m Msg
			if err := Parse(b, &m); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := viewOf(&m); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if !LooksLikeSIP(b) {
				t.Error("LooksLikeSIP = false")
			}
			if n, err := MessageLen(b, 4096); n != len(b) || err != nil {
				t.Errorf("MessageLen = %d, %v; want %d", n, err, len(b))
			}
			checkWithin(t, b, &m)
		})
	}
}
