package access

import (
	"strings"
	"testing"
)

// TestUnixRules: a user's own entry wins over its groups, the highest
// group wins otherwise, anyone else has no level; malformed or ambiguous
// text (a user or group listed twice: which level was meant?) is an error.
func TestUnixRules(t *testing.T) {
	r, err := ParseUnixRules("1001:full_read, @2000:limited_read, @2001:read_write, 1002:limited_read")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		uid  uint32
		gids []uint32
		want Level
	}{
		{1001, []uint32{2001}, FullRead},        // own entry wins, even over a higher group
		{1003, []uint32{2000, 2001}, ReadWrite}, // highest group
		{1003, []uint32{2000}, LimitedRead},
		{1003, []uint32{5}, None},
		{1002, nil, LimitedRead},
	}
	for _, c := range cases {
		if got := r.Level(c.uid, c.gids); got != c.want {
			t.Errorf("uid %d groups %v: %v, want %v", c.uid, c.gids, got, c.want)
		}
	}
	for _, bad := range []struct{ text, want string }{
		{"1001:full_read, 1001:read_write", "listed twice"},
		{"@2000:full_read, @2000:limited_read", "listed twice"},
		{"1001", "is not user:level"},
		{"1001:admin", "is not a level"},
		{"nosuchuser-tapline:full_read", "no such user"},
		{"@nosuchgroup-tapline:full_read", "no such group"},
	} {
		if _, err := ParseUnixRules(bad.text); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseUnixRules(%q) = %v, want an error with %q", bad.text, err, bad.want)
		}
	}
}
