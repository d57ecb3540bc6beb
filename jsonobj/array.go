package jsonobj

// Elems walks the values of one array, as Iter walks an object's members.
// The zero Elems is empty.
type Elems struct{ walker }

// Elements starts a walk over the array in b (surrounding whitespace is
// allowed).
func Elements(b []byte) Elems {
	it := Elems{walker{b: b}}
	it.i = skipSpace(b, 0)
	if it.i >= len(b) || b[it.i] != '[' {
		it.fail(errSyntax)
		return it
	}
	it.i++
	return it
}

// Next returns the next element's raw text; ok is false at the end of the
// array or on an error (see Err).
func (it *Elems) Next() (val []byte, ok bool) {
	i, more := it.advance(']')
	if !more {
		return nil, false
	}
	end, err := skipValue(it.b, i, 1)
	if err != nil {
		it.fail(err)
		return nil, false
	}
	it.i, it.n = end, it.n+1
	return it.b[i:end], true
}

// Err reports why the walk stopped early; nil after a whole, valid array.
func (it *Elems) Err() error { return it.err }
