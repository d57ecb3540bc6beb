package state

import (
	"io"
	"slices"
	"time"
)

// listing is what the shared listing code needs to know of one record type
// (calls, registrations): its columns, how to read a column as a sort key or
// a filter field, and its pools. Selection (filter, sort, window) and the
// row loops of both reply forms are written once, here and in sort.go.
type listing[R any] struct {
	columns      []string
	defaultCol   int      // sort column when none (or an unknown one) is given
	filterFields []string // the filter keys, indexed by field's f
	field        fieldFunc[R]
	strCol       func(col int) func(R) string   // nil for non-string columns
	tie          func(R) (k2 int64, ref uint64) // secondary order, then a unique id
	// intKey is the sort key of a numeric column, tie included: one call
	// per row (the default listings sort on a numeric column).
	intKey      func(col int, r R, now time.Time) sortKey[int64, R]
	descDefault bool                  // descending unless sort_dir asc (else ascending unless desc)
	state       func(R) RegState      // optional: a record's state, for ListParams.States
	touch       func(R)               // optional: prefetch a record while selecting
	touchRow    func(rows []R, i int) // optional: prefetch ahead while encoding row i
	intKeys     slicePool[sortKey[int64, R]]
	strKeys     slicePool[sortKey[string, R]]
	rows        slicePool[R]
}

// selectRows filters, sorts and windows recs for a listing starting at
// offset; it also returns how many records passed the filters. Duration
// columns sort at p.Now.
func (l *listing[R]) selectRows(recs []R, p *ListParams, offset int) (rowSel[R], int) {
	col := columnIndex(l.columns, p.SortField)
	if col < 0 {
		col = l.defaultCol
	}
	desc := p.SortDesc
	if l.descDefault {
		desc = !p.SortAsc
	}
	sp := &sortSpec[R]{filters: compileFilters(p.Filters, l.filterFields), field: l.field,
		desc: desc, offset: offset, limit: p.Limit, touch: l.touch}
	if states, state := p.States, l.state; state != nil && len(states) > 0 {
		sp.keep = func(r R) bool { return slices.Contains(states, state(r)) }
	}
	if s := l.strCol(col); s != nil {
		key := func(r R) sortKey[string, R] {
			k2, ref := l.tie(r)
			return sortKey[string, R]{k: s(r), k2: k2, ref: ref, r: r}
		}
		return selectRows(recs, sp, key, &l.strKeys, &l.rows)
	}
	now, intKey := p.Now, l.intKey
	key := func(r R) sortKey[int64, R] { return intKey(col, r, now) }
	return selectRows(recs, sp, key, &l.intKeys, &l.rows)
}

// writeRows appends ",row" for every record of the array form, flushing as
// the buffer fills; it stops early when the writer fails (close reports it).
func (l *listing[R]) writeRows(cw *chunkWriter, rows []R, row func([]byte, R) []byte) {
	for i, r := range rows {
		if l.touchRow != nil {
			l.touchRow(rows, i)
		}
		cw.buf = append(cw.buf, ',')
		cw.buf = row(cw.buf, r)
		if cw.rowDone() != nil {
			break
		}
	}
}

// writeObjects writes the object form {"total":N,"rows":[{…}]} of the
// records selected by p, with the columns cols (see fieldIndexes); col
// appends one column's value.
func (l *listing[R]) writeObjects(w io.Writer, recs []R, p *ListParams, cols []int, col func([]byte, int, R) []byte) error {
	sel, total := l.selectRows(recs, p, p.Offset)
	defer sel.release()
	keys := objectKeys(l.columns, cols)
	return writeObjects(w, total, sel.rows, func(b []byte, r R) []byte {
		for i, c := range cols {
			b = append(b, keys[i]...)
			b = col(b, c, r)
		}
		return b
	})
}
