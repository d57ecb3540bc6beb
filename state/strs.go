package state

import (
	"net/netip"
	"strings"
)

// Field length bounds: a record's strings are copied out of the packet, and
// these caps bound a record's memory and an encoded row's size whatever the
// traffic carries (VoIPmonitor has fixed-size buffers for the same fields).
const (
	maxCallIDLen = 512
	maxFieldLen  = 256
	internMax    = 4096 // distinct strings kept per shard's intern table
	internMaxLen = 128  // longer strings are not interned
)

// method is a SIP method we route on.
type method uint8

const (
	mOther    method = iota // OPTIONS, MESSAGE, SUBSCRIBE, …: not tracked
	mInvite                 // creates and re-negotiates calls
	mAck                    //
	mBye                    //
	mCancel                 //
	mRegister               //
	mDialog                 // PRACK, UPDATE, INFO, REFER: in-dialog, no state change
)

// methodOf classifies a method name (case-sensitive, RFC 3261 §7.1). The
// string(b) switch does not allocate.
func methodOf(b []byte) method {
	switch string(b) {
	case "INVITE":
		return mInvite
	case "ACK":
		return mAck
	case "BYE":
		return mBye
	case "CANCEL":
		return mCancel
	case "REGISTER":
		return mRegister
	case "PRACK", "UPDATE", "INFO", "REFER":
		return mDialog
	}
	return mOther
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// pack copies parts into one string allocation and points each *out at its
// piece: one allocation for all of a record's own strings.
func pack(out []*string, parts [][]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, p := range parts {
		sb.Write(p)
	}
	all, off := sb.String(), 0
	for i, p := range parts {
		*out[i] = all[off : off+len(p)]
		off += len(p)
	}
}

// interner shares the strings that repeat across records (domains, user
// agents): a million calls from one PBX hold one "Asterisk PBX 20.5.0".
// Guarded by the owning shard's mutex; bounded, then it stops adding.
type interner struct{ m map[string]string }

func (in *interner) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.m) < internMax && len(b) <= internMaxLen {
		in.m[s] = s
	}
	return s
}

// parseAddr parses an IP address from bytes; IPv4 without allocating.
func parseAddr(b []byte) (netip.Addr, bool) {
	var a [4]byte
	i, n, digits := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9' && digits < 3:
			n, digits = n*10+int(c-'0'), digits+1
		case c == '.' && i < 3 && digits > 0 && n <= 255:
			a[i], n, digits, i = byte(n), 0, 0, i+1
		default:
			return slowParseAddr(b)
		}
	}
	if i != 3 || digits == 0 || n > 255 {
		return slowParseAddr(b)
	}
	a[3] = byte(n)
	return netip.AddrFrom4(a), true
}

func slowParseAddr(b []byte) (netip.Addr, bool) {
	a, err := netip.ParseAddr(string(b))
	return a.Unmap().WithZone(""), err == nil
}
