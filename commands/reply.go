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

// Error codes of JSON sessions (docs/PROTOCOL.md lists them). Each has an
// HTTP-like status (Status), so a client can act on the class of an error
// without knowing every keyword (FOSS-Cloud's structured errors).
const (
	CodeInvalid         = "invalid"
	CodeUnauthenticated = "unauthenticated"
	CodeForbidden       = "forbidden"
	CodeUnknownCommand  = "unknown_command"
	CodeNotFound        = "not_found"
	CodeTimeout         = "timeout"
	CodeTooLarge        = "too_large"
	CodeRateLimited     = "rate_limited"
	CodeFailed          = "failed"
	CodeBusy            = "busy"
	CodeShuttingDown    = "shutting_down"
)

// codes lists every code with its status, in the order docs show them.
var codes = []struct {
	Code   string
	Status int
	Means  string
}{
	{CodeInvalid, 400, "the request is malformed: not JSON, bad arguments, unknown filter keys"},
	{CodeUnauthenticated, 401, "no credential was given and the command needs more than the connection's level; or a token was refused"},
	{CodeForbidden, 403, "the connection's identity is known but its level is too low, or `need aes!`"},
	{CodeUnknownCommand, 404, "no such command"},
	{CodeNotFound, 404, "the command exists but what it names does not (a call id, a token, an allowlist entry)"},
	{CodeTimeout, 408, "the request or its reply took too long"},
	{CodeTooLarge, 413, "the request line, pending input or a reply is over its limit"},
	{CodeRateLimited, 429, "over `manager_rate_limit` for this identity, or the address is in its failure cool-down"},
	{CodeFailed, 500, "the command ran and failed (an I/O or Redis error)"},
	{CodeBusy, 503, "the worker queue is full; retry"},
	{CodeShuttingDown, 503, "the server is stopping"},
}

// Status is the HTTP-like status of an error code; 500 for a code not in
// the table (a bug, but still an error).
func Status(code string) int {
	for _, c := range codes {
		if c.Code == code {
			return c.Status
		}
	}
	return 500
}

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
