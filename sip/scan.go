package sip

// Byte-level helpers shared by the parsers. None of them allocates.

import "bytes"

const (
	cTok   = 1 << iota // RFC 3261 token character: alphanum and -.!%*_+`'~
	cWS                // SP, HT, CR, LF: whitespace inside a (possibly folded) value
	cDigit             // 0-9
	cParam             // ends a parameter name or value: ; , = and cWS
	cHost              // ends a host: : ; ? > and cWS
	cAddr              // may end an unquoted display name or addr-spec: < ; , and cWS
)

var class = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = cTok | cDigit
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cTok
		t[c-'a'+'A'] = cTok
	}
	for _, c := range "-.!%*_+`'~" {
		t[c] = cTok
	}
	for _, c := range " \t\r\n" {
		t[c] = cWS | cParam | cHost | cAddr
	}
	for _, c := range ";,=" {
		t[c] |= cParam
	}
	for _, c := range ":;?>" {
		t[c] |= cHost
	}
	for _, c := range "<;," {
		t[c] |= cAddr
	}
	return t
}()

func isTok(c byte) bool   { return class[c]&cTok != 0 }
func isWS(c byte) bool    { return class[c]&cWS != 0 }
func isDigit(c byte) bool { return class[c]&cDigit != 0 }
func isSPHT(c byte) bool  { return c == ' ' || c == '\t' }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// eqFold reports whether b equals the lower-case ASCII string s, ignoring case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// prefixFold reports whether b starts with the lower-case ASCII string s, ignoring case.
func prefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && eqFold(b[:len(s)], s)
}

// trim removes whitespace (including the CR/LF of folded lines) from both ends.
func trim(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isWS(b[i]) {
		i++
	}
	for j > i && isWS(b[j-1]) {
		j--
	}
	return b[i:j]
}

// skipWS returns the first offset at or after i that is not whitespace.
func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// skipTok returns the first offset at or after i that is not a token character.
func skipTok(b []byte, i int) int {
	for i < len(b) && isTok(b[i]) {
		i++
	}
	return i
}

// skipCRLF skips empty lines (any run of CR and LF) starting at i.
func skipCRLF(b []byte, i int) int {
	for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// maxInt caps the integers this package parses (Content-Length, Expires, ports).
const maxInt = 1<<31 - 1

// atoi parses b, which must be all digits (after trimming whitespace), as a
// non-negative int no larger than maxInt.
func atoi(b []byte) (int, bool) {
	b = trim(b)
	n, i, ok := digits(b, 0)
	return n, ok && i == len(b)
}

// digits parses the run of at least one digit at b[i:] and returns its value
// and the offset after it. ok is false if there is no digit or the value
// exceeds maxInt.
func digits(b []byte, i int) (n, next int, ok bool) {
	s := i
	for i < len(b) && isDigit(b[i]) {
		n = n*10 + int(b[i]-'0')
		if n > maxInt {
			return 0, i, false
		}
		i++
	}
	return n, i, i > s
}

// quoted scans the quoted-string that starts at b[i] == '"'. It returns its
// content without the quotes (escapes left as they are) and the offset after
// the closing quote, or next < 0 if the string is not terminated.
func quoted(b []byte, i int) (s []byte, next int) {
	for j := i + 1; j < len(b); j++ {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			break
		}
		j += k
		// The quote is escaped if an odd run of backslashes precedes it.
		n := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return b[i+1 : j], j + 1
		}
	}
	return nil, -1
}

// nextParam scans one generic parameter ";name[=value]" whose ';' is at
// b[i]. value may be a token or a quoted-string (returned without quotes).
// It stops at ';', ',' or whitespace and returns the offset after the
// parameter, which is where the next ';' (if any) is, after whitespace.
func nextParam(b []byte, i int) (name, val []byte, next int) {
	i = skipWS(b, i+1)
	s := i
	for i < len(b) && class[b[i]]&cParam == 0 {
		i++
	}
	name = b[s:i]
	i = skipWS(b, i)
	if i < len(b) && b[i] == '=' {
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '"' {
			q, n := quoted(b, i)
			if n < 0 {
				return name, b[i+1:], len(b)
			}
			val, i = q, n
		} else {
			s = i
			for i < len(b) && (class[b[i]]&cParam == 0 || b[i] == '=') {
				i++
			}
			val = b[s:i]
		}
	}
	return name, val, skipWS(b, i)
}

// index is bytes.IndexByte for the short searches inside a value, where a
// plain loop beats the call and set-up of the vectorised version.
func index(b []byte, c byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}
