package tokens

import (
	"net/netip"
	"testing"
	"time"
)

// TestLive: only tokens neither revoked nor expired are live (F2 of the
// attack report: any record, revoked or expired, lifted protected mode).
func TestLive(t *testing.T) {
	revoked := func(r *Record) { r.Revoked = t0 }
	expires := func(d time.Duration) func(*Record) { return func(r *Record) { r.Expires = t0.Add(d) } }
	rec := func(mod func(*Record)) Record { _, r := mint(t, mod); return r }
	cases := []struct {
		name string
		recs []Record
		at   time.Duration // after t0
		want bool
	}{
		{"empty", nil, 0, false},
		{"revoked only", []Record{rec(revoked)}, 0, false},
		{"expired only", []Record{rec(expires(-time.Minute))}, 0, false},
		{"revoked and expired", []Record{rec(revoked), rec(expires(time.Minute))}, 2 * time.Minute, false},
		{"never expires", []Record{rec(revoked), rec(nil)}, 1000 * time.Hour, true},
		{"before expiry", []Record{rec(expires(time.Minute))}, 59 * time.Second, true},
		{"at expiry", []Record{rec(expires(time.Minute))}, time.Minute, false},
		{"the later of two", []Record{rec(expires(time.Minute)), rec(expires(time.Hour))}, 30 * time.Minute, true},
	}
	for _, c := range cases {
		s := NewSet()
		s.Replace(c.recs)
		if got := s.Live(t0.Add(c.at)); got != c.want {
			t.Errorf("%s: Live = %v, want %v", c.name, got, c.want)
		}
		if got := s.Live(t0.Add(c.at)); got != c.want { // the hint gives the same answer
			t.Errorf("%s: Live again = %v, want %v", c.name, got, c.want)
		}
	}
	if NewSet().Live(t0) {
		t.Error("a Set never loaded is live")
	}
}

// TestLiveFollowsTime: the answer changes as tokens expire, are renewed by
// use, and are revoked by a Replace.
func TestLiveFollowsTime(t *testing.T) {
	text, r := mint(t, func(r *Record) { r.TTL, r.Renew, r.Expires = time.Minute, true, t0.Add(time.Minute) })
	s := NewSet()
	s.Replace([]Record{r})
	if !s.Live(t0) {
		t.Fatal("a renewed token before its expiry is not live")
	}
	if _, err := s.Check([]byte(text), netip.Addr{}, t0.Add(50*time.Second)); err != nil { // renews to t0+110s
		t.Fatal(err)
	}
	if !s.Live(t0.Add(90 * time.Second)) {
		t.Fatal("a token renewed by use is not live past its first expiry")
	}
	if s.Live(t0.Add(110 * time.Second)) {
		t.Fatal("live at the renewed expiry")
	}
	r.Expires, r.Revoked = time.Time{}, t0
	_, fresh := mint(t, nil)
	s.Replace([]Record{r, fresh})
	if !s.Live(t0) {
		t.Fatal("a new token is not live")
	}
	s.Replace([]Record{r})
	if s.Live(t0) {
		t.Fatal("live with the only other token removed and this one revoked")
	}
}

func TestLiveAllocatesNothing(t *testing.T) {
	_, r := mint(t, func(r *Record) { r.Expires = t0.Add(time.Hour) })
	s := NewSet()
	s.Replace([]Record{r})
	n := 0
	if a := testing.AllocsPerRun(100, func() {
		n++
		s.Live(t0.Add(time.Duration(n) * time.Minute)) // walks once it expired
	}); a != 0 {
		t.Fatalf("Live allocates %v", a)
	}
}

// BenchmarkLive is the per-connect cost of asking whether tokens lift
// protected mode, with a full Set.
func BenchmarkLive(b *testing.B) {
	recs := make([]Record, MaxTokens)
	for i := range recs {
		_, recs[i] = mint(b, func(r *Record) { r.Expires = t0.Add(time.Hour) })
	}
	s := NewSet()
	s.Replace(recs)
	b.ReportAllocs()
	for b.Loop() {
		s.Live(t0)
	}
}
