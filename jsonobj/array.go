package jsonobj

// Elems walks the values of one array, as Iter walks an object's members.
// The zero Elems is empty.
type Elems struct {
	b    []byte
	i    int
	err  error
	done bool
	n    int
}

// Elements starts a walk over the array in b (surrounding whitespace is
// allowed).
func Elements(b []byte) Elems {
	it := Elems{b: b}
	it.i = skipSpace(b, 0)
	if it.i >= len(b) || b[it.i] != '[' {
		it.err, it.done = errSyntax, true
		return it
	}
	it.i++
	return it
}

// Next returns the next element's raw text; ok is false at the end of the
// array or on an error (see Err).
func (it *Elems) Next() (val []byte, ok bool) {
	if it.done {
		return nil, false
	}
	b, i := it.b, skipSpace(it.b, it.i)
	if i < len(b) && b[i] == ']' {
		it.done = true
		if skipSpace(b, i+1) != len(b) {
			it.err = errSyntax
		}
		return nil, false
	}
	if it.n > 0 {
		if i >= len(b) || b[i] != ',' {
			it.err, it.done = errSyntax, true
			return nil, false
		}
		i = skipSpace(b, i+1)
	}
	end, err := skipValue(b, i, 1)
	if err != nil {
		it.err, it.done = err, true
		return nil, false
	}
	it.i, it.n = end, it.n+1
	return b[i:end], true
}

// Err reports why the walk stopped early; nil after a whole, valid array.
func (it *Elems) Err() error { return it.err }
