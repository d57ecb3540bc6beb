package access

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// maxPrefixes bounds an address list from a config file or a token.
const maxPrefixes = 4096

// ErrHostBits marks a CIDR whose address has bits set beyond its prefix
// length ("10.1.2.3/8"). Masking it silently would turn a typo ("/0" for
// "/30") into a range far wider than meant, so it is refused and the
// error names the masked form.
var ErrHostBits = errors.New("the address has host bits set beyond the prefix length")

// ErrBadPrefix: the text is neither an address nor a CIDR.
var ErrBadPrefix = errors.New("not an address or CIDR")

// ParsePrefix parses a CIDR ("10.0.0.0/8") or a single address (a /32 or
// /128). IPv4-mapped IPv6 forms are unmapped so that a list entry and a
// peer address compare the same way; a zone is refused, and so is a CIDR
// with host bits set (ErrHostBits).
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%w: %q", ErrBadPrefix, s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if m := p.Masked(); m != p {
			if p.Bits() == 0 { // the masked form admits every address: never suggest it
				return netip.Prefix{}, fmt.Errorf("%w: %q is a /0, which would admit every address (write 0.0.0.0/0 or ::/0 if that is meant)", ErrHostBits, s)
			}
			return netip.Prefix{}, fmt.Errorf("%w: %q; did you mean %s?", ErrHostBits, s, m)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%w: %q", ErrBadPrefix, s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParsePrefixes parses a comma (or blank) separated list of ParsePrefix
// entries; an empty text gives an empty list.
func ParsePrefixes(text string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if len(out) == maxPrefixes {
			return nil, fmt.Errorf("more than %d addresses", maxPrefixes)
		}
		p, err := ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Contains reports whether a (unmapped first) lies in one of ps.
func Contains(ps []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
