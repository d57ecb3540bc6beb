package sip

import (
	"strings"
	"testing"
)

// crlf turns the test's \n line endings into CRLF.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

const minimalReq = "OPTIONS sip:a@b SIP/2.0\nCall-ID: x\nCSeq: 1 OPTIONS\n"

func TestParseErrors(t *testing.T) {
	many := minimalReq + strings.Repeat("X-H: 1\n", maxHeaders) + "\n"
	tests := []struct {
		name, msg string
		want      error
	}{
		{"empty", "", errNotSIP},
		{"only CRLF", "\n\n\n", errNotSIP},
		{"binary", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", errNotSIP},
		{"http", "GET / HTTP/1.1\nHost: x\n\n", errNotSIP},
		{"no version", "INVITE sip:a@b\n\n", errNotSIP},
		{"version 3", "INVITE sip:a@b SIP/3.0\n\n", errNotSIP},
		{"trailing junk", "INVITE sip:a@b SIP/2.0 x\n\n", errNotSIP},
		{"uri without scheme", "INVITE ab SIP/2.0\n\n", errNotSIP},
		{"method not token", "INV(TE sip:a@b SIP/2.0\n\n", errNotSIP},
		{"status 2 digits", "SIP/2.0 20 OK\n\n", errNotSIP},
		{"status 4 digits", "SIP/2.0 2000 OK\n\n", errNotSIP},
		{"status 099", "SIP/2.0 099 X\n\n", errNotSIP},
		{"status 700", "SIP/2.0 700 X\n\n", errNotSIP},
		{"start line only", "OPTIONS sip:a@b SIP/2.0", errTruncated},
		{"no blank line", minimalReq, errTruncated},
		{"cut in header", "OPTIONS sip:a@b SIP/2.0\nCall-I", errTruncated},
		{"cut in body", minimalReq + "Content-Length: 10\n\n12345", errTruncated},
		{"header without colon", minimalReq + "Bogus\n\n", errMalformed},
		{"space in name", minimalReq + "Call ID: y\n\n", errMalformed},
		{"leading continuation", "OPTIONS sip:a@b SIP/2.0\n folded: x\n\n", errMalformed},
		{"bare CR line", minimalReq + "\rX: y\n\n", errMalformed},
		{"bad cseq", "OPTIONS sip:a@b SIP/2.0\nCSeq: one OPTIONS\n\n", errMalformed},
		{"cseq without method", "OPTIONS sip:a@b SIP/2.0\nCSeq: 1\n\n", errMalformed},
		{"bad content-length", minimalReq + "Content-Length: 1x\n\n", errMalformed},
		{"huge content-length", minimalReq + "Content-Length: 99999999999999999999\n\n", errMalformed},
		{"unterminated display", minimalReq + "From: \"Bob <sip:b@c>\n\n", errMalformed},
		{"unterminated angle", minimalReq + "To: Bob <sip:b@c\n\n", errMalformed},
		{"empty from", minimalReq + "From:\n\n", errMalformed},
		{"empty call-id", "OPTIONS sip:a@b SIP/2.0\ni:\n\n", errMalformed},
		{"too many headers", many, ErrTooLarge},
		{"max headers ok", minimalReq + strings.Repeat("X-H: 1\n", maxHeaders-2) + "\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Msg
			for i, b := range [][]byte{[]byte(tt.msg), crlf(tt.msg)} {
				if err := Parse(b, &m); err != tt.want {
					t.Fatalf("Parse(%s) = %v, want %v", [...]string{"LF", "CRLF"}[i], err, tt.want)
				}
			}
		})
	}
}

// A broken header value is reported, but the other fields are still parsed.
func TestParseKeepsGoingAfterBadValue(t *testing.T) {
	var m Msg
	err := Parse(crlf("BYE sip:a@b SIP/2.0\nFrom: <sip:x\nCall-ID: still-here\nCSeq: 5 BYE\n\n"), &m)
	if err != errMalformed {
		t.Fatalf("err = %v", err)
	}
	if string(m.CallID) != "still-here" || m.CSeq != 5 {
		t.Fatalf("Call-ID %q CSeq %d", m.CallID, m.CSeq)
	}
}

func TestParseDetails(t *testing.T) {
	type check func(m *Msg) (got, want any)
	tests := []struct {
		name, msg string
		checks    []check
	}{
		{"body without content-length is the rest", minimalReq + "\nhello\nworld", []check{
			func(m *Msg) (any, any) { return string(m.Body), "hello\nworld" },
			func(m *Msg) (any, any) { return m.ContentLength, -1 },
		}},
		{"bytes after content-length ignored", minimalReq + "l: 3\n\nabcdef", []check{
			func(m *Msg) (any, any) { return string(m.Body), "abc" },
		}},
		{"first content-length wins", minimalReq + "Content-Length: 2\nl: 5\n\nabcdef", []check{
			func(m *Msg) (any, any) { return string(m.Body), "ab" },
		}},
		{"leading empty lines skipped", "\n\n" + minimalReq + "\n", []check{
			func(m *Msg) (any, any) { return string(m.Method), "OPTIONS" },
		}},
		{"contact star", minimalReq + "Contact: *\nExpires: 0\n\n", []check{
			func(m *Msg) (any, any) { return string(m.Contact.URI), "*" },
			func(m *Msg) (any, any) { return m.ContactExpires, -1 },
			func(m *Msg) (any, any) { return m.Expires, 0 },
		}},
		{"contact without angle brackets", minimalReq + "m: sip:u@h:5070;expires=30;q=0.5\n\n", []check{
			func(m *Msg) (any, any) { return string(m.Contact.URI), "sip:u@h:5070" },
			func(m *Msg) (any, any) { return string(m.Contact.Domain), "h" },
			func(m *Msg) (any, any) { return m.ContactExpires, 30 },
		}},
		{"first contact of a list", minimalReq + "Contact: \"a,b\" <sip:x@y;p=1,2>;expires=5, <sip:z@w>\n\n", []check{
			func(m *Msg) (any, any) { return string(m.Contact.Display), "a,b" },
			func(m *Msg) (any, any) { return string(m.Contact.URI), "sip:x@y;p=1,2" },
			func(m *Msg) (any, any) { return m.ContactExpires, 5 },
		}},
		{"uri without user, password, sips", minimalReq + "From: <sips:u:pw@host.example:5061;transport=tls?X=1>;tag=9\nTo: <sip:host>\n\n", []check{
			func(m *Msg) (any, any) { return string(m.From.User), "u" },
			func(m *Msg) (any, any) { return string(m.From.Domain), "host.example" },
			func(m *Msg) (any, any) { return string(m.From.Tag), "9" },
			func(m *Msg) (any, any) { return string(m.To.User), "" },
			func(m *Msg) (any, any) { return string(m.To.Domain), "host" },
		}},
		{"user with params and other schemes", minimalReq + "From: <sip:+1555;npdi@gw>\nTo: <urn:service:sos>\n\n", []check{
			func(m *Msg) (any, any) { return string(m.From.User), "+1555;npdi" },
			func(m *Msg) (any, any) { return string(m.To.URI), "urn:service:sos" },
			func(m *Msg) (any, any) { return string(m.To.User) + string(m.To.Domain), "" },
		}},
		{"multiple vias on one line", minimalReq + "Via: SIP/2.0/UDP a;branch=1, SIP/2.0/UDP b;branch=2\n\n", []check{
			func(m *Msg) (any, any) { return string(m.Via), "SIP/2.0/UDP a;branch=1" },
			func(m *Msg) (any, any) { return string(m.ViaBranch), "1" },
		}},
		{"user-agent fallback for responses", "SIP/2.0 200 OK\nCSeq: 3 OPTIONS\nUser-Agent: ua\n\n", []check{
			func(m *Msg) (any, any) { return string(m.UserAgent), "ua" },
			func(m *Msg) (any, any) { return string(m.Method), "OPTIONS" },
		}},
		{"server ignored for requests", minimalReq + "Server: srv\n\n", []check{
			func(m *Msg) (any, any) { return string(m.UserAgent), "" },
		}},
		{"status line without reason", "SIP/2.0 200\nCSeq: 3 OPTIONS\n\n", []check{
			func(m *Msg) (any, any) { return m.Status, 200 },
			func(m *Msg) (any, any) { return string(m.Reason), "" },
		}},
		{"lower-case version and utf-8 reason", "sip/2.0 480 Temporarily Unavailable – busy\n\n", []check{
			func(m *Msg) (any, any) { return string(m.Reason), "Temporarily Unavailable – busy" },
		}},
		{"non-digest authorization ignored", minimalReq + "Authorization: Bearer abc\nProxy-Authorization: Digest realm=r, username=\"u\\\"q\"\n\n", []check{
			func(m *Msg) (any, any) { return string(m.DigestUser), `u\"q` },
			func(m *Msg) (any, any) { return string(m.DigestRealm), "r" },
		}},
		{"non-numeric expires ignored", minimalReq + "Expires: Thu, 01 Dec 1994 16:00:00 GMT\n\n", []check{
			func(m *Msg) (any, any) { return m.Expires, -1 },
		}},
		{"sdp with params and no session c=", minimalReq + "Content-Type: APPLICATION/SDP ; charset=x\n\n" +
			"v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nm=video 5000/2 RTP/AVP 96\nc=IN IP4 239.1.1.1/127\nm=audio 6000 RTP/SAVP 0 x 8\nc=IN IP4 10.0.0.2\n", []check{
			func(m *Msg) (any, any) {
				return sdpView(&m.SDP), "10.0.0.2 | video/5000/239.1.1.1/96 audio/6000/10.0.0.2/0,8"
			},
		}},
		{"sdp media beyond four and payloads beyond eight", minimalReq + "c: application/sdp\n\nv=0\nc=IN IP4 1.1.1.1\n" +
			"m=audio 1 RTP/AVP 0\nm=audio 2 RTP/AVP 0\nm=audio 3 RTP/AVP 0\nm=audio 4 RTP/AVP 0 1 2 3 4 5 6 7 8 9\nm=audio 5 RTP/AVP 0\nc=IN IP4 9.9.9.9\n", []check{
			func(m *Msg) (any, any) {
				return sdpView(&m.SDP), "1.1.1.1 | audio/1/1.1.1.1/0 audio/2/1.1.1.1/0 audio/3/1.1.1.1/0 audio/4/1.1.1.1/0,1,2,3,4,5,6,7"
			},
		}},
		{"not sdp content type", minimalReq + "Content-Type: application/sdpx\n\nv=0\nc=IN IP4 1.1.1.1\n", []check{
			func(m *Msg) (any, any) { return m.SDP.Valid, false },
		}},
		{"sdp body not starting with v=", minimalReq + "c: application/sdp\n\nhello\nc=IN IP4 1.1.1.1\n", []check{
			func(m *Msg) (any, any) { return m.SDP.Valid, false },
			func(m *Msg) (any, any) { return string(m.SDP.ConnIP), "" },
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, b := range [][]byte{[]byte(tt.msg), crlf(tt.msg)} {
				var m Msg
				if err := Parse(b, &m); err != nil {
					t.Fatalf("Parse: %v", err)
				}
				checkWithin(t, b, &m)
				crlfBody := len(b) != len(tt.msg)
				for k, c := range tt.checks {
					got, want := c(&m)
					if s, ok := want.(string); ok && crlfBody {
						want = strings.ReplaceAll(s, "\n", "\r\n")
					}
					if got != want {
						t.Errorf("check %d: got %#v, want %#v", k, got, want)
					}
				}
			}
		})
	}
}

func TestLooksLikeSIP(t *testing.T) {
	for s, want := range map[string]bool{
		"INVITE sip:bob@example.org SIP/2.0\r\n":    true,
		"\r\n\r\nBYE sip:a@b SIP/2.0\r\nVia: x\r\n": true,
		"SIP/2.0 180 Ringing\r\n":                   true,
		"SIP/2.0 200":                               true,
		"REGISTER sip:example.org SIP/2.0":          true,
		"GET / HTTP/1.1\r\n":                        false,
		"SIP/2.0 abc\r\n":                           false,
		"INVITE sip:a SIP/2.1\r\n":                  false,
		"":                                          false,
		"\x00\x01\x02":                              false,
		"HTTP/1.1 200 OK\r\n":                       false,
	} {
		if got := LooksLikeSIP([]byte(s)); got != want {
			t.Errorf("LooksLikeSIP(%q) = %v", s, got)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	b := readMsg(t, "invite")
	var m Msg
	if n := testing.AllocsPerRun(100, func() { _ = Parse(b, &m) }); n != 0 {
		t.Errorf("Parse allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = MessageLen(b, 4096) }); n != 0 {
		t.Errorf("MessageLen allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = LooksLikeSIP(b) }); n != 0 {
		t.Errorf("LooksLikeSIP allocates %v times", n)
	}
	if m.SDP.NMedia != 1 {
		t.Fatal("SDP not parsed")
	}
}
