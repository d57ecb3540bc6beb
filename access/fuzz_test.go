package access

import (
	"testing"
)

// FuzzAllowEntry: an allowlist entry comes from a hostile place (the
// command line of any read_write client, or a fleet's shared Redis). What
// parses must round-trip through its text form (which is what Redis
// stores) to the same prefix, admit its own address, and come out of a
// runtime list again. Nothing with host bits set gets through: it is
// refused, never widened.
func FuzzAllowEntry(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.7", "::1", "2001:db8::/32", "::ffff:10.0.0.0/104", "fe80::1%eth0", "1.2.3.4/33", " 10.0.0.1 ", "", "10.231.0.2/0", "::ffff:10.0.0.1/104"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if p != p.Masked() {
			t.Fatalf("%q -> %v: host bits set beyond the prefix length (F8: a typo must not widen silently)", s, p)
		}
		q, err := ParsePrefix(p.String())
		if err != nil || q != p {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, p, p.String(), q, err)
		}
		a, err := (*Allowlist)(nil).WithRuntime(nil)
		if err != nil {
			t.Fatal(err)
		}
		if a, err = a.WithAdded(p); err != nil {
			t.Fatal(err)
		}
		if !a.Allows(p.Addr()) {
			t.Fatalf("%v does not admit its own address", p)
		}
		if a, err = a.WithRemoved(p); err != nil || a.Active() {
			t.Fatalf("remove %v: %v", p, err)
		}
	})
}
