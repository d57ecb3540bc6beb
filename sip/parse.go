package sip

import (
	"bytes"
	"errors"
)

// Errors returned by Parse and MessageLen. They are plain sentinels (compare
// with == or errors.Is) so that the parsers never allocate.
var (
	// errNotSIP: the start line is neither a SIP request nor a SIP response.
	errNotSIP = errors.New("sip: not a SIP message")
	// errTruncated: the message ends before its header block or its
	// Content-Length body is complete.
	errTruncated = errors.New("sip: truncated message")
	// errMalformed: a header line or a header value the sensor relies on
	// (From, To, Contact, CSeq, Call-ID, Content-Length) is invalid.
	errMalformed = errors.New("sip: malformed message")
	// ErrTooLarge: more than maxHeaders header fields, or (MessageLen) a
	// header block longer than maxHeader or a Content-Length above
	// maxContentLength.
	ErrTooLarge = errors.New("sip: message too large")
)

const (
	// maxHeaders is the most header fields Parse accepts in one message.
	maxHeaders = 256
	// maxContentLength is the largest Content-Length MessageLen accepts.
	maxContentLength = 1 << 24
)

// Parse parses one SIP message from b into m (m is reset first). All slices
// in m point into b; Parse does not allocate.
//
// Empty lines before the start line are skipped (RFC 3261 §7.5). Lines may
// end in CRLF or a bare LF. When Content-Length is present the body is
// exactly that many bytes (errTruncated if fewer are there; bytes after it
// are ignored), otherwise it is the rest of b.
//
// Errors: errNotSIP for a bad start line; errTruncated if the header block
// or the body is incomplete; errMalformed for a broken header line, or for
// an invalid From, To, Contact, CSeq, Call-ID or Content-Length value;
// ErrTooLarge for more than maxHeaders fields. A broken header value does
// not stop the parse: m holds every other field and the first such error is
// returned at the end. Parse does not require any header to be present: a
// caller keying on Call-ID must check that it is not empty.
func Parse(b []byte, m *Msg) error {
	*m = Msg{ContactExpires: -1, Expires: -1, ContentLength: -1}
	p := parser{m: m}
	i, err := p.startLine(b, skipCRLF(b, 0))
	if err != nil {
		return err
	}
	if i, err = p.headers(b, i); err != nil {
		return err
	}
	p.finish()
	if err = p.body(b[i:]); err != nil {
		return err
	}
	return p.err
}

// parser carries the state of one Parse call.
type parser struct {
	m          *Msg
	userAgent  []byte
	server     []byte
	haveCSeq   bool
	haveDigest bool
	err        error // first header-value error
}

func (p *parser) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// startLine parses the request or status line at b[i:] and returns the
// offset of the first header line.
func (p *parser) startLine(b []byte, i int) (int, error) {
	line, next := b[i:], len(b)
	e := bytes.IndexByte(line, '\n')
	if e >= 0 {
		line, next = line[:e], i+e+1
	}
	s, ok := scanStartLine(trimCR(line))
	if !ok {
		return 0, errNotSIP
	}
	if e < 0 {
		return 0, errTruncated
	}
	m := p.m
	m.IsRequest = s.req
	m.Method, m.RequestURI = s.method, s.uri
	m.Status, m.Reason = s.status, s.reason
	return next, nil
}

// headers parses the header fields from b[i:] up to the empty line and
// returns the offset of the body.
func (p *parser) headers(b []byte, i int) (int, error) {
	for n := 0; ; n++ {
		name, val, next, st := nextField(b, i)
		switch st {
		case fieldEnd:
			return next, nil
		case fieldMore:
			return 0, errTruncated
		case fieldBad:
			return 0, errMalformed
		}
		if n == maxHeaders {
			return 0, ErrTooLarge
		}
		p.header(name, val)
		i = next
	}
}

// finish resolves fields that depend on the message type.
func (p *parser) finish() {
	m := p.m
	if m.IsRequest {
		m.UserAgent = p.userAgent
		return
	}
	m.Method = m.CSeqMethod
	m.UserAgent = p.server
	if m.UserAgent == nil {
		m.UserAgent = p.userAgent
	}
}

// body sets Body from the bytes after the header block and parses SDP.
func (p *parser) body(rest []byte) error {
	m := p.m
	if m.ContentLength >= 0 {
		if len(rest) < m.ContentLength {
			m.Body = rest
			return errTruncated
		}
		rest = rest[:m.ContentLength]
	}
	if len(rest) > 0 {
		m.Body = rest
		if isSDP(m.ContentType) {
			parseSDP(rest, &m.SDP)
		}
	}
	return nil
}

// Field scanning status.
const (
	fieldOK   = iota
	fieldEnd  // the empty line that ends the header block
	fieldMore // the buffer ends inside the header block
	fieldBad  // not a header line
)

// nextField scans the header field at b[i:]: name, optional whitespace,
// ':', value, and any continuation lines (starting with SP or HT), which
// stay part of the value. It returns the name, the trimmed value, the offset
// of the next line and a status. For fieldEnd, next is the body offset.
func nextField(b []byte, i int) (name, val []byte, next, st int) {
	if i >= len(b) {
		return nil, nil, i, fieldMore
	}
	switch b[i] {
	case '\n':
		return nil, nil, i + 1, fieldEnd
	case '\r':
		if i+1 >= len(b) {
			return nil, nil, i, fieldMore
		}
		if b[i+1] == '\n' {
			return nil, nil, i + 2, fieldEnd
		}
		return nil, nil, i, fieldBad
	}
	j := skipTok(b, i)
	if j == i {
		return nil, nil, i, fieldBad
	}
	name = b[i:j]
	for j < len(b) && isSPHT(b[j]) {
		j++
	}
	if j >= len(b) {
		return nil, nil, i, fieldMore
	}
	if b[j] != ':' {
		return nil, nil, i, fieldBad
	}
	e := lineEnd(b, j+1)
	if e < 0 {
		return nil, nil, i, fieldMore
	}
	return name, trim(b[j+1 : e]), e + 1, fieldOK
}

// lineEnd returns the offset of the LF that ends the logical line containing
// b[i], following continuation lines, or -1 if the buffer ends before it is
// known (the byte after an LF is needed to rule out a continuation).
func lineEnd(b []byte, i int) int {
	for {
		e := bytes.IndexByte(b[i:], '\n')
		if e < 0 {
			return -1
		}
		i += e + 1
		if i >= len(b) {
			return -1
		}
		if !isSPHT(b[i]) {
			return i - 1
		}
	}
}

func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

// startLine is a scanned request or status line.
type startLine struct {
	req    bool
	method []byte
	uri    []byte
	status int
	reason []byte
}

// scanStartLine checks and splits a start line (without its line ending).
// Runs of SP/HT between the elements are accepted.
func scanStartLine(line []byte) (s startLine, ok bool) {
	if prefixFold(line, "sip/2.0") && len(line) > 7 && isSPHT(line[7]) {
		return scanStatusLine(line[7:])
	}
	return scanRequestLine(line)
}

// scanStatusLine scans what follows "SIP/2.0": SP 3DIGIT [SP reason].
func scanStatusLine(r []byte) (s startLine, ok bool) {
	i := 0
	for i < len(r) && isSPHT(r[i]) {
		i++
	}
	code, j, ok := digits(r, i)
	if !ok || j-i != 3 || code < 100 || code > 699 {
		return s, false
	}
	if j < len(r) && !isSPHT(r[j]) {
		return s, false
	}
	s.status, s.reason = code, trim(r[j:])
	return s, true
}

// scanRequestLine scans "METHOD SP Request-URI SP SIP/2.0".
func scanRequestLine(l []byte) (s startLine, ok bool) {
	j := skipTok(l, 0)
	if j == 0 || j == len(l) || !isSPHT(l[j]) {
		return s, false
	}
	s.req, s.method = true, l[:j]
	for j < len(l) && isSPHT(l[j]) {
		j++
	}
	u := j
	for j < len(l) && !isSPHT(l[j]) {
		j++
	}
	s.uri = l[u:j]
	if j == len(l) || index(s.uri, ':') < 0 {
		return s, false
	}
	return s, eqFold(trim(l[j:]), "sip/2.0")
}
