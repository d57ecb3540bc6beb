package server

import (
	"errors"

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
