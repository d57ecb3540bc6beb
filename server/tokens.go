package server

import (
	"bytes"
	"errors"
	"time"

	"tapline/access"
	"tapline/commands"
	"tapline/tokens"
)

// UseTokens gives the server the live token Set that auth checks tokens
// against (cmd/tapline builds it from Redis or manager_tokens_file and
// keeps it current). Without one every token is refused. It may be called
// again at any time (a reload that names another manager_tokens_file):
// connections authenticated with the old set keep their tokens' entries,
// which the old set's retirement still ends.
func (s *Server) UseTokens(t *tokens.Set) { s.tokens.Store(t) }

// Why auth refuses, besides the tokens package's errors.
var (
	errNoTokens  = errors.New("this sensor has no token store (redis or manager_tokens_file)")
	errPlainAuth = errors.New("a token in plaintext from a non-loopback address could be sniffed: " +
		"send it inside a hardened frame, over the Unix socket, or set manager_plain_tokens = yes")
)

// Auth implements commands.Server: the auth command of a JSON session
// (or of a JSON session inside hardened frames).
func (s *Server) Auth(tok []byte, from commands.ConnInfo) (commands.AuthResult, error) {
	c, ok := from.Handle.(*conn)
	if !ok {
		return commands.AuthResult{}, errNoTokens
	}
	e, err := s.authToken(c, tok, c.mode == modeHardened || c.mode == modeLegacy)
	if err != nil {
		return commands.AuthResult{}, err
	}
	return commands.AuthResult{Level: e.Level(), Expires: e.Expires(), TokenID: e.ID()}, nil
}

// authToken checks tok, sent on c (sealed when framed), and makes it c's
// identity: the token's level applies to c's requests from now on, each
// of which uses the token again (run). The connection's or job's owner
// calls it. A refusal leaves c's identity as it was and is logged with
// the token's id (when the text has one), never its secret.
func (s *Server) authToken(c *conn, tok []byte, framed bool) (*tokens.Entry, error) {
	peer := c.addr // invalid on the Unix socket: a CIDR-bound token is refused there
	var err error
	var e *tokens.Entry
	set := s.tokens.Load()
	switch {
	case set == nil:
		err = errNoTokens
	case c.listener == "tcp" && !framed && !peer.IsLoopback() && !s.policy().plainTokens:
		err = errPlainAuth
	default:
		e, err = set.Check(tok, peer, time.Now())
	}
	if err != nil {
		s.authFailed.Add(1)
		s.auditAuthFailure(c, tokenReason(err), tokenID(tok))
		return nil, err
	}
	c.setWho(e.Identity())
	c.tok = e
	ok := auditEvent{event: "auth", outcome: "ok", listener: c.listener, addr: c.addr, peer: c.peer,
		who: e.Identity(), token: e.ID()}
	ok.log()
	return e, nil
}

// tokenReason is the audit reason of a refused token (docs/AUDIT.md).
func tokenReason(err error) string {
	switch {
	case errors.Is(err, tokens.ErrAddress):
		return "token_cidr"
	case errors.Is(err, tokens.ErrExpired):
		return "token_expired"
	case errors.Is(err, tokens.ErrRevoked):
		return "token_revoked"
	case errors.Is(err, errPlainAuth):
		return "token_plaintext"
	case errors.Is(err, errNoTokens), errors.Is(err, tokens.ErrUnavailable):
		return "token_unavailable"
	}
	return "bad_token"
}

// tokenID is the public id part of a token text for logs, "" when the
// text is not a token (then nothing of it is logged).
func tokenID(tok []byte) string {
	id, _, err := tokens.Parse(tok)
	if err != nil {
		return ""
	}
	return string(id)
}

// tokenRefused answers a request on a connection whose token expired or
// was revoked since it authenticated: unauthenticated (401). The
// connection may authenticate again.
func tokenRefused(rep *commands.Reply, who access.Identity, err error) {
	rep.Fail(commands.CodeUnauthenticated, who.Name+": "+err.Error()+"; authenticate again")
}

// authPrefix starts a text-mode auth line.
const authPrefix = "auth "

// isAuthLine reports whether a text line is "auth TOKEN".
func isAuthLine(line []byte) bool {
	return len(line) > len(authPrefix) && string(line[:len(authPrefix)]) == authPrefix
}

// textAuth runs a text-mode first line "auth TOKEN": on success nothing
// is written and the next line is the request; on failure one error line
// is written and the connection ends. On the loop.
func (s *Server) textAuth(c *conn, line []byte) bool {
	tok := bytes.Trim(line[len(authPrefix):], " \t")
	if _, err := s.authToken(c, tok, false); err != nil {
		c.failNow("unauthenticated: "+err.Error(), commands.CodeUnauthenticated)
		return false
	}
	return true
}

// frameTextRequest is the request of a text frame: its first line, or,
// when that is "auth TOKEN", the line after it, run with the token's
// identity (the token travels sealed: no plaintext rule applies). A
// refused token makes the request an unauthenticated error.
func (s *Server) frameTextRequest(c *conn, plain []byte) request {
	line := firstLine(plain)
	if !isAuthLine(line) {
		return s.textRequest(line)
	}
	if _, err := s.authToken(c, bytes.Trim(line[len(authPrefix):], " \t"), true); err != nil {
		return request{msg: "unauthenticated: " + err.Error(), code: commands.CodeUnauthenticated}
	}
	i := bytes.IndexByte(plain, '\n')
	if i < 0 || i+1 == len(plain) { // no request after the auth line
		return request{msg: "auth: no request follows the token", code: commands.CodeInvalid}
	}
	return s.textRequest(firstLine(plain[i+1:]))
}

// tokenStats fills the token counters of sniffer_stat.
func (s *Server) tokenStats(st *commands.Stats) {
	var ts tokens.Stats
	if t := s.tokens.Load(); t != nil {
		ts = t.Stats()
	}
	st.Access = append(st.Access, commands.Counter{Name: "tokens_loaded", Value: uint64(ts.Loaded)},
		commands.Counter{Name: "token_auth_ok", Value: uint64(ts.OK)},
		commands.Counter{Name: "token_auth_failed", Value: uint64(s.authFailed.Load())},
		commands.Counter{Name: "tokens_refused", Value: uint64(ts.OverLimit)})
}
