package state

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRadixOrder: the radix sort gives exactly the comparison sort's order
// whenever it accepts the keys, and refuses keys that do not pack.
func TestRadixOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name  string
		n     int
		key   func(i int) (int64, int64, uint64)
		packs bool
	}{
		{"calldate then ref", 5000, func(i int) (int64, int64, uint64) {
			s := 1795449600 + rng.Int64N(3)
			return s, s, 0x55ec92a40000 + uint64(rng.IntN(1<<20))<<6
		}, true},
		{"negative keys", 3000, func(i int) (int64, int64, uint64) {
			return rng.Int64N(200) - 100, -1, uint64(i)
		}, true},
		{"all equal but ref", 2000, func(i int) (int64, int64, uint64) { return 7, 7, uint64(rng.Uint32()) }, true},
		{"duplicates everywhere", 4096, func(i int) (int64, int64, uint64) {
			return rng.Int64N(4), rng.Int64N(4), uint64(rng.IntN(8))
		}, true},
		{"too wide", 2000, func(i int) (int64, int64, uint64) { return rng.Int64(), rng.Int64(), rng.Uint64() }, false},
		{"overflowing range", 2000, func(i int) (int64, int64, uint64) {
			if i%2 == 0 {
				return math.MinInt64, 0, 0
			}
			return math.MaxInt64, 0, 0
		}, false},
		{"too few", 10, func(i int) (int64, int64, uint64) { return int64(i), 0, 0 }, false},
	}
	for _, tc := range cases {
		for _, desc := range []bool{false, true} {
			keys := make([]sortKey[int64, int], tc.n)
			for i := range keys {
				k, k2, ref := tc.key(i)
				keys[i] = sortKey[int64, int]{k: k, k2: k2, ref: ref, r: i}
			}
			want := slices.Clone(keys)
			f := compareKeys[int64, int]
			if desc {
				f = func(a, b sortKey[int64, int]) int { return compareKeys(b, a) }
			}
			slices.SortStableFunc(want, f)
			got := slices.Clone(keys)
			if ok := radixOrder(got, desc); ok != tc.packs {
				t.Fatalf("%s desc=%v: radixOrder accepted=%v, want %v", tc.name, desc, ok, tc.packs)
			}
			if !tc.packs {
				if !slices.Equal(got, keys) {
					t.Fatalf("%s: refused keys were modified", tc.name)
				}
				continue
			}
			for i := range got {
				if f(got[i], want[i]) != 0 {
					t.Fatalf("%s desc=%v: position %d holds %+v, want %+v", tc.name, desc, i, got[i], want[i])
				}
			}
			seen := make([]bool, tc.n)
			for _, k := range got {
				if seen[k.r] {
					t.Fatalf("%s: record %d listed twice", tc.name, k.r)
				}
				seen[k.r] = true
			}
		}
	}
}

// TestOrderUsesRadixEquivalently: order() over a large listing (where the
// radix sort takes over for integer keys) returns what the comparison sort
// does, whole or windowed, in both directions.
func TestOrderUsesRadixEquivalently(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := make([]sortKey[int64, *Call], 20_000)
	for i := range keys {
		c := &Call{Ref: uint64(i) << 6}
		keys[i] = sortKey[int64, *Call]{k: 1795449600 + rng.Int64N(50), k2: rng.Int64N(5), ref: c.Ref, r: c}
	}
	for _, desc := range []bool{false, true} {
		for _, n := range []int{-1, 100, 15_000} {
			f := compareKeys[int64, *Call]
			if desc {
				f = func(a, b sortKey[int64, *Call]) int { return compareKeys(b, a) }
			}
			want := slices.Clone(keys)
			slices.SortFunc(want, f)
			if n >= 0 {
				want = want[:n]
			}
			got := order(slices.Clone(keys), desc, n)
			if len(got) != len(want) {
				t.Fatalf("desc=%v n=%d: %d rows, want %d", desc, n, len(got), len(want))
			}
			for i := range got {
				if got[i].r != want[i].r {
					t.Fatalf("desc=%v n=%d: row %d is ref %#x, want %#x", desc, n, i, got[i].ref, want[i].ref)
				}
			}
		}
	}
}
