package state

import (
	"math/bits"
	"sync"
)

// radixMin is the size from which a full sort of integer keys is a radix
// sort: below it pdqsort is as fast and needs no scratch.
const radixMin = 1024

// packed is a key folded into one uint64 (k, k2, ref, each as an offset
// from its minimum), with the key's position.
type packed struct {
	u uint64
	i uint32
}

var packedPool = sync.Pool{New: func() any { return new([]packed) }}

// radixOrder sorts integer keys when (k, k2, ref) fit in 64 bits together
// as offsets from their minima, which holds for the default listing (start
// second, then reference) of any live table: an LSD radix sort on 8-bit
// digits, skipping digits that are the same in every key, is O(n) and
// needs no comparisons. It reports false, leaving keys untouched, when
// the keys do not fit.
func radixOrder[R any](keys []sortKey[int64, R], desc bool) bool {
	if len(keys) < radixMin || len(keys) > 1<<32-1 {
		return false
	}
	minK, maxK, min2, max2 := keys[0].k, keys[0].k, keys[0].k2, keys[0].k2
	minR, maxR := keys[0].ref, keys[0].ref
	for i := range keys {
		x := &keys[i]
		minK, maxK = min(minK, x.k), max(maxK, x.k)
		min2, max2 = min(min2, x.k2), max(max2, x.k2)
		minR, maxR = min(minR, x.ref), max(maxR, x.ref)
	}
	bk := bits.Len64(uint64(maxK - minK))
	b2 := bits.Len64(uint64(max2 - min2))
	br := bits.Len64(maxR - minR)
	if maxK-minK < 0 || max2-min2 < 0 || bk+b2+br > 64 {
		return false // an overflowing range, or too wide together
	}
	pp := packedPool.Get().(*[]packed)
	defer packedPool.Put(pp)
	if cap(*pp) < 2*len(keys) {
		*pp = make([]packed, 2*len(keys))
	}
	a, b := (*pp)[:len(keys)], (*pp)[len(keys):2*len(keys)]
	var or, and uint64 = 0, ^uint64(0)
	for i := range keys {
		x := &keys[i]
		u := uint64(x.k-minK)<<(b2+br) | uint64(x.k2-min2)<<br | (x.ref - minR)
		if desc {
			u = ^u
		}
		a[i] = packed{u, uint32(i)}
		or, and = or|u, and&u
	}
	varying := or ^ and // digits where some keys differ
	var count [256]int
	for shift := uint(0); shift < 64; shift += 8 {
		if (varying>>shift)&0xff == 0 {
			continue
		}
		count = [256]int{}
		for i := range a {
			count[(a[i].u>>shift)&0xff]++
		}
		sum := 0
		for d := range count {
			sum, count[d] = sum+count[d], sum
		}
		for i := range a {
			d := (a[i].u >> shift) & 0xff
			b[count[d]] = a[i]
			count[d]++
		}
		a, b = b, a
	}
	permute(keys, a)
	return true
}

// permute puts keys in the order of p (p[j].i is the key that goes to j),
// in place, following cycles.
func permute[R any](keys []sortKey[int64, R], p []packed) {
	for j := range p {
		if p[j].i == ^uint32(0) {
			continue
		}
		tmp := keys[j]
		k := j
		for {
			src := int(p[k].i)
			p[k].i = ^uint32(0)
			if src == j {
				keys[k] = tmp
				break
			}
			keys[k] = keys[src]
			k = src
		}
	}
	clear(p)
}
