package access

import (
	"net/netip"
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	ms := int64(time.Millisecond)
	k := RateKey{Via: ViaToken, Name: "token:ab"}
	other := RateKey{Via: ViaPlain, Addr: netip.MustParseAddr("192.0.2.1")}
	steps := []struct {
		key  RateKey
		at   int64
		want bool
	}{
		{k, 0, true}, {k, 0, true}, {k, 0, true}, // burst of 3
		{k, 0, false},        // empty
		{other, 0, true},     // another key has its own bucket
		{k, 100 * ms, false}, // 0.3 tokens back
		{k, 400 * ms, true},  // 1.2 back
		{k, 400 * ms, false},
		{k, 10_000 * ms, true}, // refilled to the burst, not beyond
		{k, 10_000 * ms, true},
		{k, 10_000 * ms, true},
		{k, 10_000 * ms, false},
	}
	r := NewRateLimiter(3, 0)
	for i, s := range steps {
		if got := r.Allow(s.key, s.at); got != s.want {
			t.Errorf("step %d: Allow(%v, %d) = %v", i, s.key, s.at, got)
		}
	}
	if NewRateLimiter(0, 0) != nil || !(*RateLimiter)(nil).Allow(k, 0) {
		t.Fatal("rate 0 must be off")
	}
}

func TestRateLimiterBounded(t *testing.T) {
	r := NewRateLimiter(1, 4)
	for i := range 50 {
		r.Allow(RateKey{Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})}, 0)
	}
	if r.Len() > 4 || r.Evicted() != 46 {
		t.Fatalf("len %d evicted %d", r.Len(), r.Evicted())
	}
}

func BenchmarkRateLimiterAllow(b *testing.B) {
	r := NewRateLimiter(1e9, 0)
	k := RateKey{Via: ViaKey, Name: "key:0011223344556677"}
	b.ReportAllocs()
	var now int64
	for b.Loop() {
		now++
		r.Allow(k, now)
	}
}

func BenchmarkRateLimiterAllowAddr(b *testing.B) {
	r := NewRateLimiter(1e9, 0)
	k := RateKey{Via: ViaPlain, Addr: netip.MustParseAddr("2001:db8::")}
	b.ReportAllocs()
	var now int64
	for b.Loop() {
		now++
		r.Allow(k, now)
	}
}
