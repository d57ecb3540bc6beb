package state

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
)

// Listings filter, then sort a slice of small keys (the sort value copied
// out of the record, so comparisons do not chase pointers), then take
// offset/limit. A small limit over many rows uses a bounded heap instead of
// a full sort. The slices come from pools and are cleared on release so
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
// all).
func order[K cmp.Ordered, R any](keys []sortKey[K, R], desc bool, n int) []sortKey[K, R] {
	f := compareKeys[K, R]
	if desc {
		f = func(a, b sortKey[K, R]) int { return compareKeys(b, a) }
	}
	if n >= 0 && n < len(keys)/8 {
		return topK(keys, n, f)
	}
	slices.SortFunc(keys, f)
	if n >= 0 && n < len(keys) {
		keys = keys[:n]
	}
	return keys
}

// topK returns the n first elements of s in order, in O(len(s)·log n): s[:n]
// is kept as a heap whose root is the last of the best n seen so far.
func topK[E any](s []E, n int, f func(a, b E) int) []E {
	h := s[:n]
	for i := n/2 - 1; i >= 0; i-- {
		siftDown(h, i, f)
	}
	for _, e := range s[n:] {
		if n > 0 && f(e, h[0]) < 0 {
			h[0] = e
			siftDown(h, 0, f)
		}
	}
	slices.SortFunc(h, f)
	return h
}

func siftDown[E any](h []E, i int, f func(a, b E) int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		if r := l + 1; r < len(h) && f(h[r], h[l]) > 0 {
			l = r
		}
		if f(h[l], h[i]) <= 0 {
			return
		}
		h[i], h[l] = h[l], h[i]
		i = l
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
	clear((*s)[:cap(*s)])
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
	limit   int // -1: no limit
}

// selectRows filters recs, keys them with key, orders them and returns the
// window, plus the number of records that passed the filters.
func selectRows[K cmp.Ordered, R any](recs []R, sp *sortSpec[R], key func(R) sortKey[K, R],
	keys *slicePool[sortKey[K, R]], rows *slicePool[R]) (rowSel[R], int) {
	kp := keys.get(len(recs))
	defer keys.put(kp)
	ks := (*kp)[:0]
	for _, r := range recs {
		if len(sp.filters) == 0 || matchAll(sp.filters, r, sp.field) {
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
