package commands

import "io"

// Kind says how a reply body is to be framed in a JSON session. In text mode
// every kind goes out as raw bytes, exactly like VoIPmonitor.
type Kind uint8

const (
	Text   Kind = iota // JSON session: a JSON string, trailing newline trimmed
	JSON               // JSON session: embedded as-is
	Binary             // JSON session: a {"binary":N} header line, then N raw bytes
)

// Error codes of JSON sessions (docs/PROTOCOL.md lists them).
const (
	CodeInvalid        = "invalid"
	CodeUnknownCommand = "unknown_command"
	CodeForbidden      = "forbidden"
	CodeNotFound       = "not_found"
	CodeTooLarge       = "too_large"
	CodeBusy           = "busy"
	CodeFailed         = "failed"
	CodeTimeout        = "timeout"
	CodeShuttingDown   = "shutting_down"
)

// Reply is what a handler produces. Small replies go in Body; replies whose
// size grows with data (files, snapshots, test blobs) set Stream, which the
// server runs on the connection's own writer goroutine so a slow reader holds
// neither a worker nor more than one chunk of memory.
type Reply struct {
	Kind   Kind
	Body   []byte
	Stream func(w io.Writer) error
	Size   int64 // Stream length in bytes; required for Binary streams in JSON sessions

	Code  string // non-empty: the request failed (JSON "code")
	Msg   string // human error text (JSON "error")
	Close bool   // end the connection after this reply
}

// Reset clears r but keeps Body's storage.
func (r *Reply) Reset() {
	b := r.Body[:0]
	*r = Reply{Body: b}
}

// Fail marks the reply as failed. Text mode sends "error: <msg>\n".
func (r *Reply) Fail(code, msg string) {
	r.FailText(code, msg, "error: "+msg+"\n")
}

// FailText is Fail with VoIPmonitor's exact text-mode bytes (e.g.
// "command not found\n"), which existing scripts match on.
func (r *Reply) FailText(code, msg, text string) {
	r.Kind = Text
	r.Code, r.Msg = code, msg
	r.Stream = nil
	r.Body = append(r.Body[:0], text...)
}

// Failed reports whether the reply is an error.
func (r *Reply) Failed() bool { return r.Code != "" }

// WriteString appends s to the body.
func (r *Reply) WriteString(s string) { r.Body = append(r.Body, s...) }
