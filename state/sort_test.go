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
