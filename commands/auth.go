package commands

import (
	"time"

	"tapline/jsonobj"
)

// AuthResult is what a successful auth gives the connection.
type AuthResult struct {
	Level   Level
	Expires time.Time // zero: never; a renewed token's moves with each use
	TokenID string    // the token's public id, never its secret
}

func registerAuth(t *Table) {
	t.Register(Command{Name: "auth", Level: LimitedRead, Plaintext: true, Handler: auth, // not Inline: it logs
		Params: []Param{{Name: "token", Help: "an access token (tlk_…) from `tapline tokens create`"}},
		Summary: "authenticate the connection with an access token: its level applies to the requests that follow " +
			"(a text-mode first line `auth TOKEN` is the same, silent on success)"})
}

// auth hands the token to the server, which checks it and sets the
// connection's identity. Every refusal is unauthenticated (401) and says
// why without the token.
func auth(req *Request, rep *Reply) {
	tok := req.Arg(0)
	if len(tok) == 0 {
		rep.Fail(CodeInvalid, "auth needs a token")
		return
	}
	res, err := req.Server.Auth(tok, req.Conn)
	if err != nil {
		rep.Fail(CodeUnauthenticated, err.Error())
		return
	}
	rep.Kind = JSON
	b := append(rep.Body, '{')
	b = jsonobj.AppendMemberString(b, "level", res.Level.String())
	if res.Expires.IsZero() {
		b = append(jsonobj.AppendKey(b, "expires"), "null"...)
	} else {
		b = jsonobj.AppendMemberTime(b, "expires", res.Expires.UTC())
	}
	b = jsonobj.AppendMemberString(b, "token", res.TokenID)
	rep.Body = append(b, "}\n"...)
}
