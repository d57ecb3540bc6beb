package state

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestOrderWindow: selecting a window gives the full sort's prefix, on
// random, sorted, reversed and tied inputs.
func TestOrderWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gens := map[string]func(i, n int) int64{
		"random":   func(i, n int) int64 { return r.Int64N(1000) },
		"sorted":   func(i, n int) int64 { return int64(i) },
		"reversed": func(i, n int) int64 { return int64(n - i) },
		"ties":     func(i, n int) int64 { return int64(i % 3) },
	}
	for name, gen := range gens {
		for _, n := range []int{0, 1, 13, 100, 5000} {
			keys := make([]sortKey[int64, int], n)
			for i := range keys {
				keys[i] = sortKey[int64, int]{k: gen(i, n), k2: int64(i % 7), ref: uint64(i), r: i}
			}
			for _, desc := range []bool{false, true} {
				full := slices.Clone(keys)
				slices.SortFunc(full, func(a, b sortKey[int64, int]) int {
					if desc {
						return compareKeys(b, a)
					}
					return compareKeys(a, b)
				})
				for _, w := range []int{0, 1, 5, n / 3, n} {
					w = min(w, n)
					got := order(slices.Clone(keys), desc, w)
					if !slices.Equal(got, full[:w]) {
						t.Fatalf("%s n=%d desc=%v window %d: wrong rows", name, n, desc, w)
					}
				}
			}
		}
	}
}

// TestSpecial8 checks the word-at-a-time test against the byte table.
func TestSpecial8(t *testing.T) {
	slow := func(x uint64) bool {
		for i := 0; i < 8; i++ {
			if c := byte(x >> (8 * i)); c >= 0x80 || !jsonSafe[c] {
				return true
			}
		}
		return false
	}
	r := rand.New(rand.NewPCG(3, 4))
	base := uint64(0x6161616161616161) // "aaaaaaaa"
	for pos := range 8 {
		for c := range 256 {
			x := base&^(0xff<<(8*pos)) | uint64(c)<<(8*pos)
			if special8(x) != slow(x) {
				t.Fatalf("byte %#x at %d: %v", c, pos, special8(x))
			}
		}
	}
	for range 1_000_000 {
		x := r.Uint64() & 0x7f7f7f7f7f7f7f7f // mostly ASCII, to reach the interesting cases
		if special8(x) != slow(x) {
			t.Fatalf("%#x: %v", x, special8(x))
		}
	}
}
