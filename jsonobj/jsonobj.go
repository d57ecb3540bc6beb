// Package jsonobj reads and writes JSON on tapline's per-request paths,
// without allocating: it is the one way JSON is read from a request line
// and the one way JSON built by hand is written.
//
// Reading: Members walks the top level of one object, Elements the values
// of one array, each in a single validating pass, handing out raw keys and
// values (KeyIs and String read them). JSON-session requests and replies
// are small flat objects on the per-request path of both the server and
// the clients; gjson validates a line and then walks it again for every
// field it is asked for (four or five passes per request).
//
// Writing: AppendStringS quotes any bytes as a JSON string in valid UTF-8
// (invalid bytes become U+FFFD); AppendKey, AppendSep and the
// AppendMember* functions build objects and arrays around it. Replies
// (sniffer_stat, clients, the envelope of JSON sessions) use them instead
// of strconv quoting, which writes escapes that are not JSON.
//
// It is its own package because the server, the commands and the client
// library all need it, and it is a parser, with its own fuzz tests against
// encoding/json. It imports only the standard library, and must stay so:
// every layer above uses it.
package jsonobj

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting inside a value, so a hostile line cannot recurse
// without limit.
const maxDepth = 512

// Errors.
var (
	errSyntax  = errors.New("invalid JSON")
	ErrNotObj  = errors.New("not a JSON object")
	ErrTooDeep = errors.New("JSON nested too deeply")
	ErrUTF8    = errors.New("JSON string is not valid UTF-8")
)

// Iter walks the members of one object. The zero Iter is empty.
type Iter struct{ walker }

// walker is the state of a walk over one object or array, shared by Iter
// and Elems: the text, the offset reached, how many values were handed
// out, and why it stopped.
type walker struct {
	b    []byte
	i    int
	err  error
	done bool
	n    int
}

func (w *walker) fail(err error) {
	w.err, w.done = err, true
}

// finish checks that only whitespace follows the object or array.
func (w *walker) finish(end int) {
	w.done = true
	if skipSpace(w.b, end) != len(w.b) {
		w.err = errSyntax
	}
}

// advance moves past the separator before the next value: it returns the
// offset of the next value (a member's key in an object), or false when
// the container closed with closer or the walk failed.
func (w *walker) advance(closer byte) (int, bool) {
	if w.done {
		return 0, false
	}
	b, i := w.b, skipSpace(w.b, w.i)
	if i < len(b) && b[i] == closer {
		w.finish(i + 1)
		return 0, false
	}
	if w.n > 0 {
		if i >= len(b) || b[i] != ',' {
			w.fail(errSyntax)
			return 0, false
		}
		i = skipSpace(b, i+1)
	}
	return i, true
}

// Members starts a walk over the object in b (surrounding whitespace,
// including a trailing newline, is allowed).
func Members(b []byte) Iter {
	it := Iter{walker{b: b}}
	it.i = skipSpace(b, 0)
	switch {
	case it.i >= len(b):
		it.fail(errSyntax)
	case b[it.i] != '{':
		if end, err := skipValue(b, it.i, 0); err != nil || skipSpace(b, end) != len(b) {
			it.fail(errSyntax)
		} else {
			it.fail(ErrNotObj)
		}
	default:
		it.i++
	}
	return it
}

// Next returns the next member: key is the raw text between the key's
// quotes (escapes left as written, see KeyIs), val the raw value. ok is
// false at the end of the object or on an error (see Err). Duplicate keys
// are all returned, in order.
func (it *Iter) Next() (key, val []byte, ok bool) {
	i, more := it.advance('}')
	if !more {
		return nil, nil, false
	}
	b := it.b
	if i >= len(b) || b[i] != '"' {
		it.fail(errSyntax)
		return nil, nil, false
	}
	kend, err := skipString(b, i)
	if err != nil {
		it.fail(err)
		return nil, nil, false
	}
	key = b[i+1 : kend-1]
	i = skipSpace(b, kend)
	if i >= len(b) || b[i] != ':' {
		it.fail(errSyntax)
		return nil, nil, false
	}
	i = skipSpace(b, i+1)
	vend, err := skipValue(b, i, 1)
	if err != nil {
		it.fail(err)
		return nil, nil, false
	}
	it.i, it.n = vend, it.n+1
	return key, b[i:vend], true
}

// Err reports why the walk stopped early; nil after a whole, valid object.
// It is only final once Next has returned false.
func (it *Iter) Err() error { return it.err }

// KeyIs reports whether a raw key (as Next returns it) names name. Keys
// are compared after unescaping, so "\u0063md" is "cmd".
func KeyIs(key []byte, name string) bool {
	if !hasEscape(key) {
		return string(key) == name
	}
	var buf [64]byte
	u, ok := unescape(buf[:0], key)
	return ok && string(u) == name
}

// String returns the contents of a string value: a sub-slice of val when
// it has no escapes, else the unescaped text appended to dst. ok is false
// when val is not a string.
func String(dst, val []byte) (s []byte, ok bool) {
	if len(val) < 2 || val[0] != '"' {
		return nil, false
	}
	in := val[1 : len(val)-1]
	if !hasEscape(in) {
		return in, true
	}
	return unescape(dst, in)
}

func hasEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// unescape decodes a validated string body. Lone surrogates become
// U+FFFD, as in encoding/json.
func unescape(dst, in []byte) ([]byte, bool) {
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(in) {
			return nil, false
		}
		switch in[i] {
		case '"', '\\', '/':
			dst = append(dst, in[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(in, i+1)
			if !ok {
				return nil, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(in, i+3); ok && i+2 < len(in) && in[i+1] == '\\' && in[i+2] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						dst = utf8.AppendRune(dst, d)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return nil, false
		}
	}
	return dst, true
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
