package commands

import (
	"bytes"
	"unsafe"

	"tapline/jsonobj"
)

// maxArgs bounds a command's params: a Request holds its arguments in a
// fixed array, so splitting them allocates nothing (Register enforces it).
const maxArgs = 8

// argv is a request's arguments, split at most once per request, when Run
// checks a JSON array or object or on the first Arg: a handler may then
// call Arg as often as it likes. Each value points into Args, or, for a
// JSON string with escapes, into its own unescaped copy.
type argv struct {
	valid bool   // split from the current request (Run clears it)
	src   []byte // the Args they were split from
	json  bool
	cmd   *Command
	v     [maxArgs][]byte
	used  int    // v[used:] are nil: only v[:used] need clearing
	n     int    // JSON array: its element count (may exceed maxArgs)
	bad   []byte // JSON object: the first raw key that names no param
	seen  uint8  // JSON object: the params already given a value
}

// Arg returns positional argument i, or nil when absent. In text mode words
// are split on blanks (a Rest param takes the remainder); in a JSON session
// "args" may be a string (split like text), an array, or an object keyed by
// the param names of the command's spec. A JSON null is absent, another
// non-string value is its JSON text.
func (r *Request) Arg(i int) []byte {
	if !r.argv.valid || !r.argv.of(r) {
		r.splitArgs()
	}
	if i < 0 || i >= maxArgs {
		return nil
	}
	return r.argv.v[i]
}

// of reports whether a was split from r's current Args and mode (a
// request changed without Run, as tests do, is split again).
func (a *argv) of(r *Request) bool {
	return a.cmd == r.Cmd && a.json == r.JSON && len(a.src) == len(r.Args) &&
		unsafe.SliceData(a.src) == unsafe.SliceData(r.Args)
}

// splitArgs fills r.argv from r.Args.
func (r *Request) splitArgs() {
	a := &r.argv
	clear(a.v[:a.used]) // not *a = argv{}: zeroing every slot costs a request a third of its dispatch
	a.used, a.n, a.bad, a.seen = 0, 0, nil, 0
	a.valid, a.src, a.json, a.cmd = true, r.Args, r.JSON, r.Cmd
	if len(r.Args) == 0 {
		return
	}
	if !r.JSON {
		a.splitText(r.Args)
		return
	}
	switch raw := bytes.Trim(r.Args, " \t\r\n"); {
	case len(raw) == 0:
	case raw[0] == '"':
		if s, ok := jsonobj.String(nil, raw); ok {
			a.splitText(s)
		}
	case raw[0] == '[':
		a.readArray(raw)
	case raw[0] == '{':
		a.readObject(raw)
	}
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' }

// splitText splits words on blanks; the word of a Rest param runs to the
// end of s, trailing blanks dropped (the words after it are still split).
func (a *argv) splitText(s []byte) {
	p := 0
	for n := range maxArgs {
		for p < len(s) && isBlank(s[p]) {
			p++
		}
		if p == len(s) {
			return
		}
		start := p
		for p < len(s) && !isBlank(s[p]) {
			p++
		}
		a.v[n], a.used = s[start:p], n+1
		if a.cmd.rest(n) {
			end := len(s)
			for end > start && isBlank(s[end-1]) {
				end--
			}
			a.v[n] = s[start:end]
		}
	}
}

// rest reports whether param i takes the rest of the line.
func (c *Command) rest(i int) bool {
	return c != nil && i < len(c.Params) && c.Params[i].Rest
}

// readArray takes the elements by position and counts them all.
func (a *argv) readArray(raw []byte) {
	it := jsonobj.Elements(raw)
	for {
		v, ok := it.Next()
		if !ok {
			return
		}
		if a.n < maxArgs {
			a.v[a.n], a.used = argValue(v), a.n+1
		}
		a.n++
	}
}

// readObject takes each param's value by name (the first member of a name
// wins) and remembers the first member that names no param.
func (a *argv) readObject(raw []byte) {
	it := jsonobj.Members(raw)
	for {
		k, v, ok := it.Next()
		if !ok {
			return
		}
		known := false
		for i := range a.cmd.params() {
			if jsonobj.KeyIs(k, a.cmd.Params[i].Name) {
				known = true
				if a.seen&(1<<i) == 0 {
					a.seen |= 1 << i
					a.v[i], a.used = argValue(v), max(a.used, i+1)
				}
				break
			}
		}
		if !known && a.bad == nil {
			a.bad = k
		}
	}
}

// params is the number of params, 0 for no command.
func (c *Command) params() int {
	if c == nil {
		return 0
	}
	return len(c.Params)
}

// argValue is a JSON value as an argument: a string's contents, nil for
// null, else the value's JSON text.
func argValue(v []byte) []byte {
	switch v[0] {
	case 'n':
		return nil
	case '"':
		s, _ := jsonobj.String(nil, v)
		return s
	}
	return v
}
