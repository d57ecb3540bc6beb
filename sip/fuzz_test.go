package sip

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// msgSlices lists every byte slice in m.
func msgSlices(m *Msg) [][]byte {
	s := [][]byte{m.Method, m.RequestURI, m.Reason, m.CallID, m.CSeqMethod,
		m.Via, m.ViaBranch, m.UserAgent, m.DigestUser, m.DigestRealm,
		m.ContentType, m.Body, m.SDP.ConnIP}
	for _, a := range []*NameAddr{&m.From, &m.To, &m.Contact} {
		s = append(s, a.Display, a.User, a.Domain, a.Tag, a.URI)
	}
	for k := range m.SDP.Media {
		s = append(s, m.SDP.Media[k].Type, m.SDP.Media[k].ConnIP)
	}
	return s
}

// checkWithin fails if a non-empty slice of m lies outside b.
func checkWithin(t testing.TB, b []byte, m *Msg) {
	t.Helper()
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	hi := lo + uintptr(len(b))
	for k, s := range msgSlices(m) {
		if len(s) == 0 {
			continue
		}
		p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
		if p < lo || p+uintptr(len(s)) > hi {
			t.Fatalf("slice %d (%q) is outside the input", k, s)
		}
	}
}

// addCorpus seeds f with the golden messages.
func addCorpus(f *testing.F) [][]byte {
	files, _ := filepath.Glob("testdata/*.sip")
	var all [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		all = append(all, b)
	}
	return all
}

func FuzzParse(f *testing.F) {
	for _, b := range addCorpus(f) {
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("SIP/2.0 200 OK\r\nv: x\r\n\r\n"))
	f.Add([]byte("A sip:x SIP/2.0\nm:*\nc:application/sdp\n\nv=0\nm=audio 1 RTP/AVP 0\nc=IN IP6 ::1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Msg
		err := Parse(b, &m)
		checkWithin(t, b, &m)
		if err != nil {
			return
		}
		if m.IsRequest != (m.Status == 0) {
			t.Fatalf("IsRequest %v with status %d", m.IsRequest, m.Status)
		}
		if m.ContentLength >= 0 && len(m.Body) != m.ContentLength {
			t.Fatalf("body %d bytes, Content-Length %d", len(m.Body), m.ContentLength)
		}
		if !LooksLikeSIP(b) {
			t.Fatal("Parse succeeded but LooksLikeSIP is false")
		}
	})
}

func FuzzMessageLen(f *testing.F) {
	all := addCorpus(f)
	for _, b := range all {
		f.Add(b, []byte("INVITE"))
	}
	f.Add(append(append([]byte{}, all[0]...), all[1]...), []byte{})
	f.Add([]byte("\r\n\r\nBYE sip:a SIP/2.0\nl: 3\n\nabc"), []byte("x"))
	f.Fuzz(func(t *testing.T, b, extra []byte) {
		const maxHeader = 2048
		n, err := MessageLen(b, maxHeader)
		if n < 0 || n > len(b) || (err != nil && n != 0) {
			t.Fatalf("MessageLen = %d, %v for %d bytes", n, err, len(b))
		}
		if n == 0 || err != nil {
			return
		}
		if n2, err2 := MessageLen(b[:n-1], maxHeader); n2 != 0 || err2 != nil {
			t.Fatalf("MessageLen(b[:%d]) = %d, %v; want incomplete", n-1, n2, err2)
		}
		more := append(append([]byte{}, b...), extra...)
		if n2, err2 := MessageLen(more, maxHeader); n2 != n || err2 != nil {
			t.Fatalf("MessageLen = %d, %v after appending %q; was %d", n2, err2, extra, n)
		}
		// A framed message never reports "more bytes needed" to Parse.
		var m Msg
		if err := Parse(b[:n], &m); err == errTruncated || err == errNotSIP {
			t.Fatalf("Parse(framed message) = %v", err)
		}
	})
}
