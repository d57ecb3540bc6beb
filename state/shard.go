package state

import "slices"

// table is the dense part both shard kinds share: the published records
// (snapshots copy live with one append), the tracking slots and each
// slot's due time (store clock, unix ns), index-parallel. Rows are removed
// by swapping in the last one, so a slot's index changes and the slot is
// told (setIdx). It is guarded by its shard's mutex.
type table[R any, S indexed] struct {
	live  []R
	slots []S
	due   []int64
}

// indexed is a tracking slot that knows its row.
type indexed interface{ setIdx(int) }

// push appends a row and returns its index.
func (t *table[R, S]) push(r R, sl S, due int64) int {
	t.live = append(t.live, r)
	t.slots = append(t.slots, sl)
	t.due = append(t.due, due)
	return len(t.slots) - 1
}

// removeAt drops row i (the last row takes its place).
func (t *table[R, S]) removeAt(i int) {
	last := len(t.slots) - 1
	t.live[i], t.slots[i], t.due[i] = t.live[last], t.slots[last], t.due[last]
	t.slots[i].setIdx(i)
	var r R
	var s S
	t.live[last], t.slots[last] = r, s
	t.live, t.slots, t.due = t.live[:last], t.slots[:last], t.due[:last]
}

// sweepDue calls fire for every row whose due time has passed; fire
// reports whether it removed the row (the row now at i is then checked).
// It scans the dense due slice, so a second's sweep of a million rows is a
// memory scan.
func (t *table[R, S]) sweepDue(now int64, fire func(i int) (removed bool)) {
	for i := 0; i < len(t.due); {
		if t.due[i] <= now && fire(i) {
			continue
		}
		i++
	}
}

// shrinkSlices releases memory after a large drop and reports whether it
// did, so the shard rebuilds its maps too (Go maps never shrink by
// themselves): a burst of a million calls does not pin it forever.
func (t *table[R, S]) shrinkSlices() bool {
	if c := cap(t.slots); c > shrinkMin && len(t.slots) < c/4 {
		t.live = slices.Clone(t.live)
		t.slots = slices.Clone(t.slots)
		t.due = slices.Clone(t.due)
		return true
	}
	return false
}

// shrinkMin: tables smaller than this are not worth shrinking.
const shrinkMin = 1024

// rebuild copies m into a map sized for its current length (maps.Clone
// keeps the old capacity).
func rebuild[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
