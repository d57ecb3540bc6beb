package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"tapline/jsonobj"
)

// ConnInfo identifies the connection a request came on.
type ConnInfo struct {
	ID       uint64
	Listener string // "tcp" or "unix"
	Peer     string
	Engine   any // opaque engine identity, used by manager_file to spot self-stop
}

// Request is one parsed command. Byte slices point into buffers owned by the
// server and are valid only until the handler returns.
type Request struct {
	Ctx  context.Context
	Cmd  *Command
	Args []byte // text: the line after the command word; JSON: raw "args" value
	JSON bool   // arrived in a JSON session
	Conn ConnInfo
	Host Host
}

// Reset clears r for reuse from a pool.
func (r *Request) Reset() { *r = Request{} }

// Arg returns positional argument i, or nil when absent. In text mode words
// are split on blanks (a Rest param takes the remainder); in a JSON session
// "args" may be a string (split like text), an array, or an object keyed by
// the param names of the command's spec.
func (r *Request) Arg(i int) []byte {
	if !r.JSON {
		return textArg(r.Args, i, r.rest(i))
	}
	return r.jsonArg(i)
}

// ArgString is Arg as a string (allocates; fine off the hot path).
func (r *Request) ArgString(i int) string { return string(r.Arg(i)) }

func (r *Request) rest(i int) bool {
	return r.Cmd != nil && i < len(r.Cmd.Params) && r.Cmd.Params[i].Rest
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' }

// textArg walks the words without allocating.
func textArg(s []byte, i int, rest bool) []byte {
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

func (r *Request) jsonArg(i int) []byte {
	if len(r.Args) == 0 {
		return nil
	}
	v := gjson.ParseBytes(r.Args)
	switch {
	case v.Type == gjson.String:
		return textArg([]byte(v.Str), i, r.rest(i))
	case v.IsArray():
		e := v.Get(strconv.Itoa(i))
		return resultBytes(e)
	case v.IsObject():
		if r.Cmd == nil || i >= len(r.Cmd.Params) {
			return nil
		}
		return resultBytes(v.Get(gjson.Escape(r.Cmd.Params[i].Name)))
	}
	return nil
}

func resultBytes(e gjson.Result) []byte {
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

// checkArgs rejects JSON-session args that the handler would otherwise
// ignore without a word, so a client's mistake is an error, not a reply to
// a different request: a number or a boolean, more array elements than the
// command has params, or an object member that names no param (commands
// with JSONParams check their own object). Text-mode words are the
// handlers' business, as in VoIPmonitor.
func (r *Request) checkArgs() error {
	if !r.JSON || len(r.Args) == 0 || r.Cmd == nil {
		return nil
	}
	switch r.Args[0] {
	case '"':
		return nil
	case 'n': // null: no args
		return nil
	case '[':
		n := gjson.ParseBytes(r.Args).Get("#").Int()
		if int(n) > len(r.Cmd.Params) {
			return fmt.Errorf("args: %d values for %d params (%s)", n, len(r.Cmd.Params), r.paramNames())
		}
		return nil
	case '{':
		if r.Cmd.JSONParams {
			return nil
		}
		return r.checkArgNames()
	}
	return errors.New(`args: want a string, an array or an object, not ` + truncate(string(r.Args), 32))
}

// checkArgNames requires every member of an args object to name a param.
func (r *Request) checkArgNames() error {
	it := jsonobj.Members(r.Args)
	for {
		k, _, ok := it.Next()
		if !ok {
			return nil // the server parsed the line: the object is valid
		}
		known := false
		for _, p := range r.Cmd.Params {
			if jsonobj.KeyIs(k, p.Name) {
				known = true
				break
			}
		}
		if !known {
			name, _ := jsonobj.String(nil, append(append([]byte{'"'}, k...), '"'))
			return fmt.Errorf("args: unknown name %s (valid: %s)", jsonobj.AppendString(nil, name), r.paramNames())
		}
	}
}

// paramNames lists the command's param names for error messages.
func (r *Request) paramNames() string {
	if len(r.Cmd.Params) == 0 {
		return "none"
	}
	names := make([]string, len(r.Cmd.Params))
	for i, p := range r.Cmd.Params {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// truncate shortens hostile text quoted in an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
