package sip

import "bytes"

// MessageLen returns the length of the first complete SIP message in a
// stream (TCP/TLS) buffer: the header block up to the empty line (CRLFCRLF
// or bare LFLF) plus Content-Length body bytes ("l:" too; absent means 0 on
// streams). Empty lines before the start line (RFC 5626 CRLF keep-alives)
// are counted in the length; Parse skips them. It does not allocate.
//
// It returns 0, nil while the message is incomplete, and an error when the
// stream cannot be framed, so that a reassembler can resynchronise or drop
// it:
//   - errNotSIP: the start line (or, while incomplete, its beginning) is not
//     a SIP request or status line;
//   - ErrTooLarge: the bytes up to the end of the header block, counted from
//     b[0], exceed maxHeader (maxHeader <= 0 means no limit), or
//     Content-Length exceeds maxContentLength;
//   - errMalformed: a header line is not "name: value" or Content-Length is
//     not a number.
//
// Once it has returned n > 0 for b, it returns the same n for any b that
// has more bytes appended.
func MessageLen(b []byte, maxHeader int) (int, error) {
	if maxHeader <= 0 {
		maxHeader = int(^uint(0) >> 1)
	}
	i, err := streamStartLine(b, maxHeader)
	if i == 0 || err != nil {
		return 0, err
	}
	cl := -1
	for {
		name, val, next, st := nextField(b, i)
		switch {
		case st == fieldBad:
			return 0, errMalformed
		case next > maxHeader || (st == fieldMore && len(b) > maxHeader):
			return 0, ErrTooLarge
		case st == fieldMore:
			return 0, nil
		case st == fieldEnd:
			return bodyEnd(b, next, cl)
		}
		if cl < 0 && isContentLength(name) {
			n, ok := atoi(val)
			if !ok {
				return 0, errMalformed
			}
			cl = n
		}
		i = next
	}
}

// streamStartLine checks the start line of a stream buffer and returns the
// offset of the first header line, or 0 if the line is not complete yet.
func streamStartLine(b []byte, maxHeader int) (int, error) {
	s := skipCRLF(b, 0)
	e := bytes.IndexByte(b[s:], '\n')
	if e < 0 {
		if !startPrefixOK(b[s:]) {
			return 0, errNotSIP
		}
		if len(b) > maxHeader {
			return 0, ErrTooLarge
		}
		return 0, nil
	}
	if _, ok := scanStartLine(trimCR(b[s : s+e])); !ok {
		return 0, errNotSIP
	}
	if s+e+1 > maxHeader {
		return 0, ErrTooLarge
	}
	return s + e + 1, nil
}

// bodyEnd returns the message length given the body offset and the
// Content-Length (-1 when absent, which means no body on a stream).
func bodyEnd(b []byte, body, cl int) (int, error) {
	if cl > maxContentLength {
		return 0, ErrTooLarge
	}
	if cl < 0 {
		cl = 0
	}
	if body+cl > len(b) {
		return 0, nil
	}
	return body + cl, nil
}

// startPrefixOK reports whether p, an incomplete first line, can still
// become a SIP start line: a prefix of "SIP/2.0", or "SIP/2.0", blanks and
// up to three digits, or a token (the method) possibly followed by a blank
// and anything.
func startPrefixOK(p []byte) bool {
	const v = "sip/2.0"
	n := min(len(p), len(v))
	if eqFold(p[:n], v[:n]) {
		if len(p) <= len(v) {
			return true
		}
		if !isSPHT(p[n]) {
			return false
		}
		for n < len(p) && isSPHT(p[n]) {
			n++
		}
		for k := n; k < len(p) && k < n+3; k++ {
			if !isDigit(p[k]) {
				return false
			}
		}
		return true
	}
	j := skipTok(p, 0)
	return j == len(p) || (j > 0 && isSPHT(p[j]))
}

// LooksLikeSIP is a cheap check that b starts (after any empty lines) with a
// SIP start line: "SIP/2.0 3DIGIT ..." or "METHOD uri SIP/2.0". If b has no
// LF, all of b is taken as the start line.
func LooksLikeSIP(b []byte) bool {
	b = b[skipCRLF(b, 0):]
	if len(b) == 0 || !isTok(b[0]) { // RTP, TLS, STUN, ... fail here
		return false
	}
	if e := bytes.IndexByte(b, '\n'); e >= 0 {
		b = b[:e]
	}
	_, ok := scanStartLine(trimCR(b))
	return ok
}
