package sip

import (
	"bytes"
	"strings"
	"testing"
)

// Every prefix of a stream of messages is incomplete until the first
// message is whole; then MessageLen frames it, whatever follows.
func TestMessageLenEveryByte(t *testing.T) {
	for _, pair := range [][2]string{{"invite", "ok_invite"}, {"lf_only", "compact"}, {"register", "bye"}} {
		a, b := readMsg(t, pair[0]), readMsg(t, pair[1])
		stream := append(append([]byte{}, a...), b...)
		for cut := 0; cut <= len(stream); cut++ {
			n, err := MessageLen(stream[:cut], 4096)
			want := 0
			if cut >= len(a) {
				want = len(a)
			}
			if n != want || err != nil {
				t.Fatalf("%s+%s cut at %d: MessageLen = %d, %v; want %d", pair[0], pair[1], cut, n, err, want)
			}
		}
		for cut := len(a); cut <= len(stream); cut++ {
			n, err := MessageLen(stream[len(a):cut], 4096)
			want := 0
			if cut == len(stream) {
				want = len(b)
			}
			if n != want || err != nil {
				t.Fatalf("second message cut at %d: MessageLen = %d, %v; want %d", cut, n, err, want)
			}
		}
	}
}

// A reassembler loop takes several messages out of one buffer, and each
// framed message parses.
func TestMessageLenSeveral(t *testing.T) {
	names := []string{"invite", "trying", "ringing", "ok_invite", "ack", "bye", "ok_bye", "register_auth", "folded"}
	var buf []byte
	for _, name := range names {
		buf = append(buf, "\r\n\r\n"...) // keep-alives between messages
		buf = append(buf, readMsg(t, name)...)
	}
	for k, name := range names {
		n, err := MessageLen(buf, 4096)
		if n == 0 || err != nil {
			t.Fatalf("message %d (%s): MessageLen = %d, %v", k, name, n, err)
		}
		var m Msg
		if err := Parse(buf[:n], &m); err != nil {
			t.Fatalf("message %d (%s): Parse = %v", k, name, err)
		}
		if want := readMsg(t, name); !bytes.Equal(buf[4:n], want) {
			t.Fatalf("message %d (%s) framed as %q", k, name, buf[:n])
		}
		buf = buf[n:]
	}
	if n, err := MessageLen(buf, 4096); n != 0 || err != nil || len(buf) != 0 {
		t.Fatalf("left %q: %d, %v", buf, n, err)
	}
}

func TestMessageLen(t *testing.T) {
	big := "INVITE sip:a@b SIP/2.0\r\nX-Big: " + strings.Repeat("x", 300) + "\r\n\r\n"
	tests := []struct {
		name, in  string
		maxHeader int
		n         int
		err       error
	}{
		{"no content-length means no body", "BYE sip:a@b SIP/2.0\r\nCall-ID: 1\r\n\r\nSIP/2.0 200 OK\r\n", 0, 35, nil},
		{"compact l", "BYE sip:a@b SIP/2.0\nl:  3 \n\nabcdef", 0, 31, nil},
		{"content-length zero", "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\nx", 100, 37, nil},
		{"body incomplete", "SIP/2.0 200 OK\r\nContent-Length: 10\r\n\r\n123456789", 100, 0, nil},
		{"LFLF ends headers", "SIP/2.0 200 OK\nl: 1\n\nxy", 0, 22, nil},
		{"mixed line endings", "SIP/2.0 200 OK\r\nl: 1\n\r\nxy", 0, 24, nil},
		{"folded content-length", "SIP/2.0 200 OK\r\nContent-Length:\r\n 2\r\n\r\nxyz", 0, 41, nil},
		{"only keep-alives", "\r\n\r\n\r\n", 100, 0, nil},
		{"incomplete start line", "INVITE sip:a@b SIP/2", 100, 0, nil},
		{"incomplete status line", "SIP/2.0  18", 100, 0, nil},
		{"header block at the limit", big, len(big), len(big), nil},
		{"header block over the limit", big, len(big) - 1, 0, ErrTooLarge},
		{"incomplete block over the limit", big[:200], 100, 0, ErrTooLarge},
		{"start line over the limit", "INVITE sip:" + strings.Repeat("a", 200), 100, 0, ErrTooLarge},
		{"complete start line over the limit", "INVITE sip:" + strings.Repeat("a", 200) + " SIP/2.0\r\n", 100, 0, ErrTooLarge},
		{"keep-alives count against the limit", strings.Repeat("\r\n", 60), 100, 0, ErrTooLarge},
		{"content-length too large", "SIP/2.0 200 OK\r\nl: 16777217\r\n\r\n", 0, 0, ErrTooLarge},
		{"garbage start line", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 100, 0, errNotSIP},
		{"garbage before newline", "\x16\x03\x01\x00", 100, 0, errNotSIP},
		{"garbage after method", "INVITE\x00", 100, 0, errNotSIP},
		{"bad status prefix", "SIP/2.0 2x", 100, 0, errNotSIP},
		{"bad version prefix", "SIP/2.1", 100, 0, errNotSIP},
		{"bad header line", "SIP/2.0 200 OK\r\nno colon here\r\n\r\n", 100, 0, errMalformed},
		{"bad content-length", "SIP/2.0 200 OK\r\nContent-Length: ten\r\n\r\n", 100, 0, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := MessageLen([]byte(tt.in), tt.maxHeader)
			if n != tt.n || err != tt.err {
				t.Fatalf("MessageLen = %d, %v; want %d, %v", n, err, tt.n, tt.err)
			}
		})
	}
}
