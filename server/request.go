package server

import (
	"bytes"
	"errors"

	"tapline/commands"
	"tapline/jsonobj"
)

// jsonReq is one JSON-session request, read in a single pass: the raw
// "id" value (echoed as is), the command line and the raw "args" value.
type jsonReq struct {
	id, cmd, args []byte
	hasArgs       bool
}

// Request errors, as the client sees them.
const (
	msgInvalidJSON = "request is not valid JSON"
	msgTooDeep     = "request is nested too deeply"
	msgNotUTF8     = "request is not valid UTF-8"
	msgNeedsCmd    = `request needs a "cmd" string`
)

// parseJSONRequest reads line. The first of duplicate keys wins. On failure
// msg says why, and r.id is set only when the line was valid JSON. Nothing
// is allocated unless "cmd" is written with escapes.
func parseJSONRequest(line []byte) (r jsonReq, msg string) {
	it := jsonobj.Members(line)
	var cmdRaw []byte
	var haveID, haveCmd bool
	for {
		k, v, ok := it.Next()
		if !ok {
			break
		}
		switch {
		case !haveID && jsonobj.KeyIs(k, "id"):
			r.id, haveID = v, true
		case !haveCmd && jsonobj.KeyIs(k, "cmd"):
			cmdRaw, haveCmd = v, true
		case !r.hasArgs && jsonobj.KeyIs(k, "args"):
			r.args, r.hasArgs = v, true
		}
	}
	switch err := it.Err(); {
	case errors.Is(err, jsonobj.ErrNotObj):
		return jsonReq{}, msgNeedsCmd
	case errors.Is(err, jsonobj.ErrTooDeep):
		return jsonReq{}, msgTooDeep
	case errors.Is(err, jsonobj.ErrUTF8):
		return jsonReq{}, msgNotUTF8 // the id cannot be echoed: it may be the bad bytes
	case err != nil:
		return jsonReq{}, msgInvalidJSON
	}
	if cmd, ok := jsonobj.String(nil, cmdRaw); haveCmd && ok && len(cmd) > 0 {
		r.cmd = cmd
		return r, ""
	}
	return r, msgNeedsCmd
}

// request is one request as every wire mode hands it to Server.run:
// framed, decrypted where needed, split and looked up once.
type request struct {
	cmd   *commands.Command // nil: no such command (or msg is set)
	args  []byte            // text: what follows the command word; JSON: the raw "args" value
	json  bool              // came in a JSON session: args is JSON, the reply an envelope
	quote bool              // JSON with the arguments in "cmd" ("help ping"): args is text, run as a JSON string
	id    []byte            // JSON: the raw "id", echoed
	msg   string            // JSON: why the line is no request; "" when it is one
	code  string            // with msg: its error code when not invalid_request (any mode: "error: msg")
}

// inline reports whether q may run on the event loop: its command is
// Inline, or there is none and q only gets an error.
func (q *request) inline() bool { return q.cmd == nil || q.cmd.Inline }

// textRequest splits a text command line and looks its command up.
func (s *Server) textRequest(line []byte) request {
	name, args := commands.Split(line)
	return request{cmd: s.table.Lookup(name), args: args}
}

// jsonRequest parses one JSON-session line and looks its command up.
func (s *Server) jsonRequest(line []byte) request {
	r, msg := parseJSONRequest(line)
	if msg != "" {
		return request{json: true, id: r.id, msg: msg}
	}
	name, textArgs := commands.Split(r.cmd)
	q := request{cmd: s.table.Lookup(name), json: true, id: r.id}
	switch {
	case r.hasArgs:
		q.args = r.args
	case len(textArgs) > 0:
		q.args, q.quote = textArgs, true // "cmd":"help ping" works too
	}
	return q
}

// jsonRequests parses the non-blank lines of in ('\n'-separated; the last
// one may lack its '\n') and appends them to dst.
func (s *Server) jsonRequests(in []byte, dst []request) []request {
	for {
		line, rest, ok := nextRequestLine(in)
		if !ok {
			return dst
		}
		in = rest
		dst = append(dst, s.jsonRequest(line))
	}
}

// nextRequestLine returns the first non-blank line of in ('\n'-separated;
// the last one may lack its '\n') and what follows it; ok is false when
// only blank lines are left.
func nextRequestLine(in []byte) (line, rest []byte, ok bool) {
	for len(in) > 0 {
		line, rest = in, nil
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			line, rest = in[:i], in[i+1:]
		}
		if len(bytes.TrimSpace(line)) > 0 {
			return line, rest, true
		}
		in = rest
	}
	return nil, nil, false
}
