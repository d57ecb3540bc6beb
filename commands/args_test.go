package commands

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// The argument reader before arguments were split once per request: gjson
// parsing the args again for every Arg. FuzzArgsAsBefore holds the new
// splitter to its answers.

func oldArg(r *Request, i int) []byte {
	rest := r.Cmd.rest(i)
	if !r.JSON {
		return oldTextArg(r.Args, i, rest)
	}
	return oldJSONArg(r, i)
}

func oldTextArg(s []byte, i int, rest bool) []byte {
	p := 0
	for n := 0; ; n++ {
		for p < len(s) && isBlank(s[p]) {
			p++
		}
		if p == len(s) {
			return nil
		}
		start := p
		if n == i && rest {
			end := len(s)
			for end > start && isBlank(s[end-1]) {
				end--
			}
			return s[start:end]
		}
		for p < len(s) && !isBlank(s[p]) {
			p++
		}
		if n == i {
			return s[start:p]
		}
	}
}

func oldJSONArg(r *Request, i int) []byte {
	if len(r.Args) == 0 {
		return nil
	}
	v := gjson.ParseBytes(r.Args)
	switch {
	case v.Type == gjson.String:
		return oldTextArg([]byte(v.Str), i, r.Cmd.rest(i))
	case v.IsArray():
		e := v.Get(strconv.Itoa(i))
		return oldResultBytes(e)
	case v.IsObject():
		if r.Cmd == nil || i >= len(r.Cmd.Params) {
			return nil
		}
		return oldResultBytes(v.Get(gjson.Escape(r.Cmd.Params[i].Name)))
	}
	return nil
}

func oldResultBytes(e gjson.Result) []byte {
	switch e.Type {
	case gjson.Null:
		if !e.Exists() {
			return nil
		}
		return nil
	case gjson.String:
		return []byte(e.Str)
	default:
		return []byte(e.Raw)
	}
}

// FuzzArgsAsBefore: for any args a server passes on (text, or valid JSON
// in valid UTF-8), every Arg is what the gjson reader returned.
func FuzzArgsAsBefore(f *testing.F) {
	for _, s := range []string{`start /tmp/a b`, `"a b"`, `["x",1,null,"\u0041"]`, `{"action":"start","path":"p"}`,
		`{"action":1,"action":2}`, `{"path":null}`, `"  a\t b  "`, `[[1],{"a":"b"}]`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	cmd := &Command{Name: "x", Params: []Param{{Name: "action"}, {Name: "path", Rest: true}, {Name: "z"}}}
	f.Fuzz(func(t *testing.T, args []byte, isJSON bool) {
		if isJSON && (!json.Valid(args) || !utf8.Valid(args)) {
			return // the server passes on only a validated value
		}
		r := &Request{Cmd: cmd, Args: args, JSON: isJSON}
		r.splitArgs()
		for i := range maxArgs {
			if got, want := r.Arg(i), oldArg(r, i); !bytes.Equal(got, want) {
				t.Fatalf("%s (json %v): Arg(%d) = %q, was %q", strconv.Quote(string(args)), isJSON, i, got, want)
			}
		}
	})
}
