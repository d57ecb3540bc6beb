package server

import (
	"net"
	"net/netip"
	"testing"
)

func TestComputeLimits(t *testing.T) {
	tests := []struct {
		name                       string
		maxConns, perIP, reserved  int
		nofile                     uint64
		fdReserve                  int
		wantHard, wantMax, wantTCP int
	}{
		{"unlimited", 1024, 256, 16, 0, 0, 1 << 30, 1024, 1008},
		{"plenty", 1024, 256, 16, 1 << 20, 200, (1<<20 - 200) / 2, 1024, 1008},
		// nofile 1024 as in the issue: 2 fds per connection, minus the reserve.
		{"nofile-1024", 1024, 256, 16, 1024, 100, 462, 398, 382},
		{"nofile-256", 1024, 256, 16, 256, 100, 78, 59, 43},
		{"reserve-halved", 10, 256, 16, 0, 0, 1 << 30, 10, 5},
		{"no-reserve", 5, 256, 0, 0, 0, 1 << 30, 5, 5},
		{"starved", 1024, 256, 16, 50, 100, 1, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := computeLimits(tc.maxConns, tc.perIP, tc.reserved, tc.nofile, tc.fdReserve)
			if l.hard != tc.wantHard || l.max != tc.wantMax || l.tcp != tc.wantTCP {
				t.Fatalf("computeLimits = hard %d max %d tcp %d, want %d %d %d", l.hard, l.max, l.tcp, tc.wantHard, tc.wantMax, tc.wantTCP)
			}
			if tc.nofile != 0 && l.hard > 1 && uint64(l.hard*fdsPerConn+tc.fdReserve) > tc.nofile {
				t.Fatalf("hard cap %d needs more than nofile %d", l.hard, tc.nofile)
			}
			if l.tcpHard != max(1, l.hard-l.reserved) || l.tcpHard > l.hard {
				t.Fatalf("tcpHard %d, want hard %d minus the Unix reserve %d", l.tcpHard, l.hard, l.reserved)
			}
			if l.max > l.hard || l.tcp+l.reserved != l.max {
				t.Fatalf("inconsistent limits %+v", l)
			}
		})
	}
}

func TestIPKey(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 1}, "127.0.0.2"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::1"), Port: 1}, "2001:db8:1:2::"},
		{&net.UnixAddr{Name: "/x", Net: "unix"}, ""},
		{nil, ""},
	}
	for _, tc := range tests {
		k, ok := ipKey(tc.addr)
		got := ""
		if ok {
			got = k.String()
		}
		if got != tc.want {
			t.Errorf("ipKey(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestPerIPCount(t *testing.T) {
	s := &Server{perIP: map[netip.Addr]int{}}
	s.limits.perIP = 2
	a := netip.MustParseAddr("192.0.2.1")
	for i, want := range []bool{true, true, false} {
		if got := s.takeIP(a); got != want {
			t.Fatalf("place %d: takeIP = %v; want two places, then a refusal", i+1, got)
		}
	}
	s.releaseIP(a)
	if !s.takeIP(a) {
		t.Fatal("a released place is not free again")
	}
	s.releaseIP(a)
	s.releaseIP(a)
	if len(s.perIP) != 0 {
		t.Fatalf("map not emptied: %v", s.perIP)
	}
}
