package state

import (
	"cmp"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
)

// Listings filter, then sort a slice of small keys (the sort value copied
// out of the record, so comparisons do not chase pointers), then take
// offset/limit. A small window over many rows is selected (quickselect)
// before it is sorted. The slices come from pools and are cleared on release so
// they do not pin old records.

// sortKey orders one record: by k, then k2 (VoIPmonitor's secondary sort
// column), then ref (a unique id: the order is total and stable).
type sortKey[K cmp.Ordered, R any] struct {
	k   K
	k2  int64
	ref uint64
	r   R
}

func compareKeys[K cmp.Ordered, R any](a, b sortKey[K, R]) int {
	if c := cmp.Compare(a.k, b.k); c != 0 {
		return c
	}
	if a.k2 != b.k2 {
		return cmp.Compare(a.k2, b.k2)
	}
	return cmp.Compare(a.ref, b.ref)
}

// order sorts keys (descending if desc) and returns the first n (n < 0:
// all). A window of less than half the rows is selected first.
func order[K cmp.Ordered, R any](keys []sortKey[K, R], desc bool, n int) []sortKey[K, R] {
	f := compareKeys[K, R]
	if desc {
		f = func(a, b sortKey[K, R]) int { return compareKeys(b, a) }
	}
	if n >= 0 && n < len(keys)/2 {
		keys = selectFirst(keys, n, f)
	}
	if ik, ok := any(keys).([]sortKey[int64, R]); !ok || !radixOrder(ik, desc) {
		slices.SortFunc(keys, f)
	}
	if n >= 0 && n < len(keys) {
		keys = keys[:n]
	}
	return keys
}

// selectFirst moves the n first elements (in f's order, which must be
// total) to s[:n], unordered, and returns s[:n]: quickselect with
// median-of-three pivots, O(len(s)) on average and on sorted input, and a
// full sort of the remaining range if partitioning goes badly.
func selectFirst[E any](s []E, n int, f func(a, b E) int) []E {
	lo, hi := 0, len(s)
	for budget := 2 * bits.Len(uint(len(s))); hi-lo > 12 && lo < n && n < hi; budget-- {
		if budget == 0 {
			slices.SortFunc(s[lo:hi], f)
			return s[:n]
		}
		m := lo + partition(s[lo:hi], f)
		if m > n {
			hi = m
		} else {
			lo = m
		}
	}
	if lo < n && n < hi {
		slices.SortFunc(s[lo:hi], f)
	}
	return s[:n]
}

// partition splits s (len ≥ 3, distinct elements) around a median of
// three: it returns m, 0 < m < len(s), with s[:m] ≤ pivot ≤ s[m:] (Hoare).
func partition[E any](s []E, f func(a, b E) int) int {
	last, mid := len(s)-1, len(s)/2
	if f(s[mid], s[0]) < 0 {
		s[mid], s[0] = s[0], s[mid]
	}
	if f(s[last], s[mid]) < 0 {
		s[last], s[mid] = s[mid], s[last]
		if f(s[mid], s[0]) < 0 {
			s[mid], s[0] = s[0], s[mid]
		}
	}
	pivot := s[mid]
	i, j := -1, len(s)
	for {
		for i++; f(s[i], pivot) < 0; i++ {
		}
		for j--; f(s[j], pivot) > 0; j-- {
		}
		if i >= j {
			return j + 1
		}
		s[i], s[j] = s[j], s[i]
	}
}

// slicePool recycles the big per-listing slices.
type slicePool[E any] struct{ p sync.Pool }

// get returns an empty slice with room for n elements: sized once, so a
// listing never grows it by doubling.
func (sp *slicePool[E]) get(n int) *[]E {
	v, ok := sp.p.Get().(*[]E)
	if !ok {
		v = new([]E)
	}
	if cap(*v) < n {
		*v = make([]E, 0, n)
	}
	return v
}

func (sp *slicePool[E]) put(s *[]E) {
	clear(*s) // past len is zero already: nothing is written there
	*s = (*s)[:0]
	sp.p.Put(s)
}

// rowSel is a listing's selected records, in order.
type rowSel[R any] struct {
	rows []R
	buf  *[]R
	pool *slicePool[R]
}

func (s *rowSel[R]) release() {
	if s.buf != nil {
		s.pool.put(s.buf)
		s.buf = nil
	}
}

// sortSpec says how to select: filters, key kind and direction, and the
// window [offset, offset+limit).
type sortSpec[R any] struct {
	filters []compiledFilter
	field   fieldFunc[R]
	desc    bool
	offset  int
	limit   int          // -1: no limit
	touch   func(R)      // optional: loads a record ahead of its use (touchCall)
	keep    func(R) bool // optional: a record must pass it as well as the filters
}

// selectRows filters recs, keys them with key, orders them and returns the
// window, plus the number of records that passed the filters.
func selectRows[K cmp.Ordered, R any](recs []R, sp *sortSpec[R], key func(R) sortKey[K, R],
	keys *slicePool[sortKey[K, R]], rows *slicePool[R]) (rowSel[R], int) {
	kp := keys.get(len(recs))
	defer keys.put(kp)
	ks := (*kp)[:0]
	for i, r := range recs {
		if sp.touch != nil && i+touchAhead < len(recs) {
			sp.touch(recs[i+touchAhead])
		}
		if (sp.keep == nil || sp.keep(r)) && (len(sp.filters) == 0 || matchAll(sp.filters, r, sp.field)) {
			ks = append(ks, key(r))
		}
	}
	*kp = ks
	total, n := len(ks), -1
	if sp.limit >= 0 {
		n = sp.offset + sp.limit
	}
	ks = order(ks, sp.desc, n)
	sel := rowSel[R]{buf: rows.get(max(len(ks)-sp.offset, 0)), pool: rows}
	out := (*sel.buf)[:0]
	for i := sp.offset; i < len(ks); i++ {
		out = append(out, ks[i].r)
	}
	*sel.buf, sel.rows = out, out
	return sel, total
}

// ipKey sorts addresses: IPv4 numerically, then IPv6, then none.
func ipKey(a netip.Addr) int64 {
	a = a.Unmap()
	switch {
	case a.Is4():
		v := a.As4()
		return int64(v[0])<<24 | int64(v[1])<<16 | int64(v[2])<<8 | int64(v[3])
	case a.IsValid():
		v := a.As16()
		return 1<<32 + int64(v[0])<<22 | int64(v[1])<<14 | int64(v[2])<<6 | int64(v[3]>>2)
	}
	return -1
}
