package access

import (
	"net/netip"
	"testing"
	"time"
)

func TestFailTracker(t *testing.T) {
	set := FailSettings{Limit: 3, Window: time.Minute, Cooldown: 10 * time.Second}
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	s := int64(time.Second)
	steps := []struct {
		name        string
		fail        netip.Addr
		at          int64
		wantBlocked bool // Fail engaged the cool-down
		checkA      bool // Blocked(a) right after
	}{
		{"first", a, 0, false, false},
		{"second", a, 1 * s, false, false},
		{"other address does not count", b, 2 * s, false, false},
		{"third engages", a, 3 * s, true, true},
		{"still in cool-down", netip.MustParseAddr("192.0.2.3"), 12 * s, false, true},
		{"cool-down over", netip.MustParseAddr("192.0.2.4"), 13 * s, false, false},
	}
	f := NewFailTracker(set, 0)
	for _, st := range steps {
		r := f.Fail(st.fail, st.at)
		if r.Blocked != st.wantBlocked {
			t.Errorf("%s: Blocked engaged = %v", st.name, r.Blocked)
		}
		if got := f.Blocked(a, st.at); got != st.checkA {
			t.Errorf("%s: Blocked(a) = %v", st.name, got)
		}
	}
	// failures spread over more than the window never engage
	g := NewFailTracker(set, 0)
	for i := range 10 {
		if g.Fail(a, int64(i)*int64(31*time.Second)).Blocked {
			t.Fatalf("failure %d engaged though the window moved on", i)
		}
	}
	// limit 0: counted, never refused
	h := NewFailTracker(FailSettings{Window: time.Minute}, 0)
	for i := range 100 {
		h.Fail(a, int64(i))
	}
	if h.Blocked(a, 100) {
		t.Fatal("limit 0 refused")
	}
}

func TestFailTrackerAuditBound(t *testing.T) {
	f := NewFailTracker(FailSettings{Window: time.Minute}, 0)
	a := netip.MustParseAddr("192.0.2.1")
	logged := 0
	for i := range 1000 {
		if f.Fail(a, int64(i)).Log {
			logged++
		}
	}
	if logged != AuditBurst {
		t.Fatalf("%d lines logged in one window, want %d", logged, AuditBurst)
	}
	r := f.Fail(a, int64(2*time.Minute))
	if !r.Log || r.Suppressed != 1000-AuditBurst {
		t.Fatalf("next window: %+v, want a line and %d suppressed", r, 1000-AuditBurst)
	}
}

// TestFailTrackerNote: failures recorded with Note (level refusals,
// loopback peers) share the audit bound but never start a cool-down, and
// do not add to the count that Fail's credential failures build up.
func TestFailTrackerNote(t *testing.T) {
	f := NewFailTracker(FailSettings{Limit: 3, Window: time.Minute, Cooldown: time.Hour}, 0)
	a := netip.MustParseAddr("192.0.2.1")
	logged := 0
	for i := range 100 {
		r := f.Note(a, int64(i))
		if r.Blocked {
			t.Fatalf("Note %d started a cool-down", i)
		}
		if r.Log {
			logged++
		}
	}
	if logged != AuditBurst || f.Blocked(a, 100) {
		t.Fatalf("after 100 Notes: %d lines (want %d), blocked %v", logged, AuditBurst, f.Blocked(a, 100))
	}
	if f.Fail(a, 101).Blocked || f.Fail(a, 102).Blocked {
		t.Fatal("Notes counted towards the limit: the second credential failure started the cool-down")
	}
	if !f.Fail(a, 103).Blocked {
		t.Fatal("the third credential failure did not start the cool-down")
	}
}

func TestFailTrackerBounded(t *testing.T) {
	f := NewFailTracker(FailSettings{Limit: 2, Window: time.Minute, Cooldown: time.Hour}, 8)
	blocked := netip.MustParseAddr("198.51.100.1")
	f.Fail(blocked, 0)
	f.Fail(blocked, 0)
	for i := range 100 {
		f.Fail(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 1)
	}
	if f.Len() > 8 || f.Evicted() < 92 {
		t.Fatalf("len %d evicted %d", f.Len(), f.Evicted())
	}
	if !f.Blocked(blocked, 2) {
		t.Fatal("eviction dropped an address in its cool-down while others were not")
	}
}

func TestAddrKey(t *testing.T) {
	cases := map[string]string{
		"192.0.2.1":              "192.0.2.1",
		"::ffff:192.0.2.1":       "192.0.2.1",
		"2001:db8:1:2:3:4:5:6":   "2001:db8:1:2::",
		"2001:db8:1:2:ffff::abc": "2001:db8:1:2::",
	}
	for in, want := range cases {
		if got := AddrKey(netip.MustParseAddr(in)); got.String() != want {
			t.Errorf("AddrKey(%s) = %s, want %s", in, got, want)
		}
	}
}

func BenchmarkFailTrackerBlockedIdle(b *testing.B) {
	f := NewFailTracker(FailSettings{Limit: 10, Window: time.Minute, Cooldown: time.Minute}, 0)
	a := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		f.Blocked(a, 1)
	}
}
