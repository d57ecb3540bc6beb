package access

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestParsePrefix: a CIDR whose address has host bits set is refused with
// the masked form suggested (attack report F8: "10.231.0.2/0" used to
// become 0.0.0.0/0, every IPv4 address), not widened silently.
func TestParsePrefix(t *testing.T) {
	cases := []struct {
		in, want string // want "" = error
		hint     string // in the error text
	}{
		{"10.0.0.0/8", "10.0.0.0/8", ""},
		{"192.0.2.7", "192.0.2.7/32", ""},
		{" 10.0.0.1 ", "10.0.0.1/32", ""},
		{"::1", "::1/128", ""},
		{"2001:db8::/32", "2001:db8::/32", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"0.0.0.0/0", "0.0.0.0/0", ""},
		{"10.231.0.2/0", "", "is a /0, which would admit every address"},
		{"127.0.0.2/0", "", "is a /0, which would admit every address"},
		{"10.1.2.3/8", "", "did you mean 10.0.0.0/8?"},
		{"192.0.2.77/28", "", "did you mean 192.0.2.64/28?"},
		{"2001:db8::1/32", "", "did you mean 2001:db8::/32?"},
		{"::ffff:10.0.0.1/104", "", "did you mean 10.0.0.0/8?"},
		{"fe80::1%eth0", "", "not an address or CIDR"},
		{"1.2.3.4/33", "", "not an address or CIDR"},
		{"", "", "not an address or CIDR"},
	}
	for _, c := range cases {
		p, err := ParsePrefix(c.in)
		if c.want != "" {
			if err != nil || p != netip.MustParsePrefix(c.want) {
				t.Errorf("ParsePrefix(%q) = %v, %v; want %s", c.in, p, err, c.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.hint) {
			t.Errorf("ParsePrefix(%q) = %v, %v; want an error saying %q", c.in, p, err, c.hint)
		}
		if strings.Contains(c.hint, "did you mean") && !errors.Is(err, ErrHostBits) {
			t.Errorf("ParsePrefix(%q): %v is not ErrHostBits", c.in, err)
		}
	}
	if _, err := ParsePrefixes("10.0.0.0/8, 10.231.0.2/0"); !errors.Is(err, ErrHostBits) {
		t.Errorf("ParsePrefixes with a widened entry: %v; want ErrHostBits", err)
	}
}
