package access

import "testing"

const sec = int64(1e9)

// TestWindowLimitAnySecond is attack report F9: the audit trail's global
// bound was a token bucket (burst 50, refill 50/s) and let 97 lines through
// within about one second, while docs/AUDIT.md promises at most 50 a
// second. Whatever the arrival pattern, no window of one second may hold
// more than the bound.
func TestWindowLimitAnySecond(t *testing.T) {
	patterns := []struct {
		name  string
		every int64 // nanoseconds between attempts
		n     int
	}{
		{"flood, 3000 in 0.9 s", 300_000, 3000},
		{"one every 10 ms for 5 s", 10_000_000, 500},
		{"one every 19 ms for 5 s", 19_000_000, 263},
		{"slower than the bound", 25_000_000, 200},
	}
	for _, p := range patterns {
		w := NewWindowLimit(50, sec)
		var allowed []int64
		for i := 0; i < p.n; i++ {
			now := 5*sec + int64(i)*p.every
			if w.Allow(now) {
				allowed = append(allowed, now)
			}
		}
		for i := range allowed {
			j := i
			for j < len(allowed) && allowed[j]-allowed[i] < sec {
				j++
			}
			if j-i > 50 {
				t.Fatalf("%s: %d events allowed within one second from %d ns, want at most 50", p.name, j-i, allowed[i])
			}
		}
		if p.every >= 20_000_000 && len(allowed) != p.n {
			t.Errorf("%s: %d of %d allowed; a pace within the bound must all pass", p.name, len(allowed), p.n)
		}
		if len(allowed) < 50 {
			t.Errorf("%s: only %d allowed, want the first 50 at least", p.name, len(allowed))
		}
	}
}

// TestWindowLimitRecovers: after a full second without events the whole
// bound is available again, and one event a window later takes one slot.
func TestWindowLimitRecovers(t *testing.T) {
	w := NewWindowLimit(3, sec)
	steps := []struct {
		at   int64
		want bool
	}{
		{0, true}, {1, true}, {2, true}, {3, false},
		{sec - 1, false}, // the first is not a second old yet
		{sec, true},      // now it is: its slot is free
		{sec + 1, true}, {sec + 2, true}, {sec + 3, false},
		{3 * sec, true}, {3 * sec, true}, {3 * sec, true}, {3 * sec, false},
	}
	for i, s := range steps {
		if got := w.Allow(s.at); got != s.want {
			t.Fatalf("step %d: Allow(%d) = %v, want %v", i, s.at, got, s.want)
		}
	}
	if (*WindowLimit)(nil).Allow(0) != true || NewWindowLimit(0, sec) != nil {
		t.Fatal("a nil limit must allow everything")
	}
}

func BenchmarkWindowLimit(b *testing.B) {
	w := NewWindowLimit(50, sec)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w.Allow(int64(i) * 1000)
	}
}
