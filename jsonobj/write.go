package jsonobj

import (
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// jsonSafe marks the ASCII bytes that need no escaping in a JSON string.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return
}()

const hexDigits = "0123456789abcdef"

// AppendString quotes s as a JSON string; invalid UTF-8 becomes U+FFFD.
// It is AppendStringS on the same bytes, without a copy.
func AppendString(b, s []byte) []byte {
	return AppendStringS(b, unsafe.String(unsafe.SliceData(s), len(s)))
}

// AppendStringS appends s as a JSON string. Valid UTF-8 is copied as is;
// each invalid byte becomes \ufffd (VoIPmonitor instead strips every
// non-ASCII byte of a row that is not valid UTF-8 — we keep the valid text).
// Control characters are escaped; there is no HTML escaping, as in
// VoIPmonitor's output.
func AppendStringS(b []byte, s string) []byte {
	b = append(b, '"')
	start, i := 0, 0
	for ; i+8 <= len(s) && !special8(load64(s, i)); i += 8 {
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = appendEscape(b, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// special8 reports whether any of 8 bytes needs a look: a control
// character, '"', '\\' or a non-ASCII byte (SWAR: the common all-ASCII
// string is checked a word at a time).
func special8(x uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	ctl := (x - 0x20*lsb) &^ x & msb
	q := x ^ '"'*lsb
	bs := x ^ '\\'*lsb
	return (ctl | (q-lsb)&^q&msb | (bs-lsb)&^bs&msb | x&msb) != 0
}

// load64 reads s[i:i+8] little-endian (the compiler merges the loads).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// The member writers below build objects and arrays by appending to a
// byte slice: the separator before a member or an element is a comma
// unless it is the first, which they see from the byte before it (a value
// never ends in '{' or '['). With AppendStringS they are the one way
// tapline writes JSON it builds by hand.

// AppendSep appends the comma that separates a value from the one before
// it, unless b ends where an object or an array opens.
func AppendSep(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' && b[n-1] != '[' {
		b = append(b, ',')
	}
	return b
}

// AppendKey appends a member's key and its colon, after AppendSep.
func AppendKey(b []byte, key string) []byte {
	return append(AppendStringS(AppendSep(b), key), ':')
}

// AppendMemberString appends "key":"s".
func AppendMemberString(b []byte, key, s string) []byte {
	return AppendStringS(AppendKey(b, key), s)
}

// AppendMemberInt appends "key":v.
func AppendMemberInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(AppendKey(b, key), v, 10)
}

// AppendMemberUint appends "key":v.
func AppendMemberUint(b []byte, key string, v uint64) []byte {
	return strconv.AppendUint(AppendKey(b, key), v, 10)
}

// AppendMemberBool appends "key":true or "key":false.
func AppendMemberBool(b []byte, key string, v bool) []byte {
	return strconv.AppendBool(AppendKey(b, key), v)
}

// AppendMemberTime appends "key":"<RFC 3339 with nanoseconds>", the form
// encoding/json gives a time.Time.
func AppendMemberTime(b []byte, key string, t time.Time) []byte {
	b = append(AppendKey(b, key), '"')
	return append(t.AppendFormat(b, time.RFC3339Nano), '"')
}
