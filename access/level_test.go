package access

import "testing"

func TestLevelOrderAndParse(t *testing.T) {
	for i, name := range Levels {
		l, err := ParseLevel(name)
		if err != nil || l.String() != name || int(l) != i+1 {
			t.Fatalf("ParseLevel(%q) = %v, %v", name, l, err)
		}
	}
	for _, bad := range []string{"", "none", "READ_WRITE", "admin", "read_write "} {
		if _, err := ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q) accepted", bad)
		}
	}
	cases := []struct {
		have, need Level
		ok         bool
	}{
		{LimitedRead, LimitedRead, true}, {LimitedRead, FullRead, false}, {FullRead, LimitedRead, true},
		{FullRead, ReadWrite, false}, {ReadWrite, ReadWrite, true}, {None, LimitedRead, false}, {None, None, false},
	}
	for _, c := range cases {
		if got := c.have.Allows(c.need); got != c.ok {
			t.Errorf("%v.Allows(%v) = %v", c.have, c.need, got)
		}
	}
}
