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

// FuzzUnixRules: manager_unix_levels comes from a config file, which is
// hostile too. Whatever parses gives every peer a level that is one of
// the rules' levels or None, its own user entry first, and never panics;
// what does not parse is an error, not a partial rule set.
func FuzzUnixRules(f *testing.F) {
	for _, s := range []string{"", "0:read_write", "1001:full_read, @1002:limited_read", "root:limited_read", "@root:full_read",
		"1001:admin", "1001", ":full_read", "@:limited_read", "4294967296:full_read", "1001:full_read,1001:limited_read"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseUnixRules(s)
		if err != nil {
			if r != nil {
				t.Fatalf("%q: rules %v with error %v", s, r, err)
			}
			return
		}
		for _, uid := range []uint32{0, 1, 1001, 1002, 65534, 1<<32 - 1} {
			l, _ := r.Match(uid, []uint32{uid, 1002, 0})
			if l > ReadWrite {
				t.Fatalf("%q: uid %d gets level %v", s, uid, l)
			}
			if u, ok := r.users[uid]; ok && l != u {
				t.Fatalf("%q: uid %d has its own entry %v but gets %v", s, uid, u, l)
			}
		}
	})
}
