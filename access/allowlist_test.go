package access

import (
	"errors"
	"net/netip"
	"testing"
)

func mustPrefixes(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	ps, err := ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestAllowlistAllows(t *testing.T) {
	cases := []struct {
		name, config, runtime, addr string
		want                        bool
	}{
		{"empty lets everyone in", "", "", "203.0.113.9", true},
		{"config entry", "10.0.0.0/8", "", "10.1.2.3", true},
		{"outside config", "10.0.0.0/8", "", "11.1.2.3", false},
		{"loopback only if listed", "10.0.0.0/8", "", "127.0.0.1", false},
		{"loopback listed", "127.0.0.1", "", "127.0.0.1", true},
		{"runtime entry alone turns the list on", "", "192.0.2.0/24", "198.51.100.1", false},
		{"runtime entry", "", "192.0.2.0/24", "192.0.2.77", true},
		{"mapped v4 peer", "10.0.0.0/8", "", "::ffff:10.0.0.1", true},
		{"v6", "2001:db8::/32", "", "2001:db8:1::1", true},
		{"v6 outside", "2001:db8::/32", "", "2001:db9::1", false},
	}
	for _, c := range cases {
		a, err := NewAllowlist(mustPrefixes(t, c.config), mustPrefixes(t, c.runtime))
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Allows(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("%s: Allows(%s) = %v", c.name, c.addr, got)
		}
	}
	var nilList *Allowlist
	if !nilList.Allows(netip.MustParseAddr("1.2.3.4")) || nilList.Active() {
		t.Error("a nil list must let everyone in")
	}
}

func TestAllowlistChanges(t *testing.T) {
	a, _ := NewAllowlist(mustPrefixes(t, "10.0.0.0/8"), nil)
	p := netip.MustParsePrefix("192.0.2.0/24")
	b, err := a.WithAdded(p)
	if err != nil || b.Len() != 2 || a.Len() != 1 {
		t.Fatalf("add: %v len %d (old %d)", err, b.Len(), a.Len())
	}
	steps := []struct {
		name string
		do   func() error
		want error
	}{
		{"add twice", func() error { _, err := b.WithAdded(p); return err }, ErrListed},
		{"add a config entry", func() error { _, err := b.WithAdded(netip.MustParsePrefix("10.0.0.0/8")); return err }, ErrListed},
		{"remove a config entry", func() error { _, err := b.WithRemoved(netip.MustParsePrefix("10.0.0.0/8")); return err }, ErrFromConfig},
		{"remove unknown", func() error { _, err := b.WithRemoved(netip.MustParsePrefix("192.0.3.0/24")); return err }, ErrNotListed},
	}
	for _, s := range steps {
		if err := s.do(); !errors.Is(err, s.want) {
			t.Errorf("%s: %v, want %v", s.name, err, s.want)
		}
	}
	c, err := b.WithRemoved(p)
	if err != nil || c.Len() != 1 || len(c.Runtime()) != 0 {
		t.Fatalf("remove: %v %v", err, c.Runtime())
	}
	d, _ := b.WithConfig(nil)
	if len(d.Runtime()) != 1 || len(d.Config()) != 0 || !d.Active() {
		t.Fatalf("reload kept runtime entries? %v %v", d.Config(), d.Runtime())
	}
}

func TestAllowlistBound(t *testing.T) {
	var rt []netip.Prefix
	for i := 0; i <= MaxRuntimeAllow; i++ {
		rt = append(rt, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24))
	}
	if _, err := NewAllowlist(nil, rt); !errors.Is(err, ErrAllowlistFull) {
		t.Fatalf("over the bound: %v", err)
	}
	a, err := NewAllowlist(nil, rt[:MaxRuntimeAllow])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.WithAdded(rt[MaxRuntimeAllow]); !errors.Is(err, ErrAllowlistFull) {
		t.Fatalf("add past the bound: %v", err)
	}
}

func BenchmarkAllowlistAllows(b *testing.B) {
	a, _ := NewAllowlist([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
		[]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	addr := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		if !a.Allows(addr) {
			b.Fatal("refused")
		}
	}
}
