package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"tapline/jsonobj"
)

// ConnInfo identifies the connection a request came on.
type ConnInfo struct {
	ID       uint64
	Listener string // "tcp" or "unix"
	Peer     string
	Engine   any // opaque engine identity, used by manager_file to spot self-stop
	Handle   any // opaque: the server's connection, for Server.Auth
}

// Request is one parsed command. Byte slices point into buffers owned by the
// server and are valid only until the handler returns.
type Request struct {
	Ctx    context.Context
	Cmd    *Command
	Args   []byte // text: the line after the command word; JSON: raw "args" value
	JSON   bool   // arrived in a JSON session
	Conn   ConnInfo
	Server Server // the manager that runs the request
	Env    *Env   // the sensor's data; nil reads as an Env with nothing in it

	argv argv // Args split once per request, on first use, read by Arg
}

// Reset clears r for reuse from a pool.
func (r *Request) Reset() { *r = Request{} }

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
		r.splitArgs()
		if n := r.argv.n; n > len(r.Cmd.Params) {
			return fmt.Errorf("args: %d values for %d params (%s)", n, len(r.Cmd.Params), r.paramNames())
		}
		return nil
	case '{':
		if r.Cmd.JSONParams {
			return nil
		}
		r.splitArgs()
		return r.badArgName()
	}
	return errors.New(`args: want a string, an array or an object, not ` + truncate(string(r.Args), 32))
}

// badArgName is the error for a member of an args object that names no
// param, nil when every member names one.
func (r *Request) badArgName() error {
	k := r.argv.bad
	if k == nil {
		return nil
	}
	name, _ := jsonobj.String(nil, append(append([]byte{'"'}, k...), '"'))
	return fmt.Errorf("args: unknown name %s (valid: %s)", jsonobj.AppendString(nil, name), r.paramNames())
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
