package server

import (
	"os"
	"strconv"
	"time"

	"tapline/access"
	"tapline/commands"
	"tapline/jsonobj"
	"tapline/tokens"
)

// identity is who sends a request: the listener it came on, the wire mode
// (whether the request was encrypted with a key) and who the connection
// is with its level (access.go).
type identity struct {
	listener string // "tcp" or "unix"
	wire     wireMode
	who      access.Identity
	tok      *tokens.Entry // the token behind who, used again by every request
	gen      uint32        // conn.whoGen when read
}

// encrypted: the request was sealed with a key (legacy AES or hardened frames).
func (id identity) encrypted() bool { return id.wire == modeLegacy || id.wire == modeHardened }

// identity of c's requests; its mode is known once it sent a request. A
// legacy request's identity is set when it decrypts (decryptLegacy), a
// hardened frame's when it opens (openFrames); a token (auth) outranks
// both for the rest of the connection.
func (c *conn) identity() identity {
	id := identity{listener: c.listener, wire: c.mode, who: c.who, gen: c.whoGen}
	if c.who.Via == access.ViaToken {
		id.tok = c.tok
	}
	return id
}

// run runs one request for id into j.rep. Every request of every wire mode
// comes here once it is framed, decrypted, split and looked up, and its
// reply goes from here to the one ordered delivery path (deliver.go), so
// this is the one place where who asks meets what the command allows.
func (s *Server) run(j *job, id identity, q *request) {
	j.rep.Reset()
	j.c.requests.Add(1)
	if j.now.IsZero() { // a job not started by execJob (tests)
		j.now = time.Now()
	}
	cmd := q.cmd
	switch {
	case q.code != "":
		s.errors.Add(1)
		j.rep.Fail(q.code, q.msg)
		return
	case q.msg != "":
		s.errors.Add(1)
		j.rep.FailText(commands.CodeInvalid, q.msg, "")
		return
	case cmd == nil:
		s.errors.Add(1)
		commands.NotFound(&j.rep)
		return
	}
	s.reqs[cmd.Index].Add(1)
	if id.tok != nil {
		if err := id.tok.Use(j.now); err != nil && cmd.Name != "auth" {
			s.errors.Add(1)
			tokenRefused(&j.rep, id.who, err)
			return
		}
	}
	if s.refuseRequest(j, id, cmd) {
		s.errors.Add(1)
		return
	}
	j.req.Cmd, j.req.JSON, j.req.Args = cmd, q.json, q.args
	if q.quote {
		j.req.Args = jsonobj.AppendString(nil, q.args)
	}
	commands.Run(&j.req, &j.rep)
	if j.rep.Failed() {
		s.errors.Add(1)
	}
	if cmd.Level == access.ReadWrite {
		outcome := "ok"
		if j.rep.Failed() {
			outcome = "failed"
		}
		s.auditCommand(j.c, id.who, cmd.Name, outcome, j.rep.Code)
	}
}

// refuseRequest answers a request that may not run: its address is in a
// failure cool-down (rate_limited), a key is required (need aes!), its
// level is too low, or its identity is over manager_rate_limit. need aes!
// and a level refusal are audited as auth_failure but do not count
// towards the backoff (no credential was tried: audit.go,
// countsTowardBackoff); a rate-limited read_write command is audited as
// denied.
func (s *Server) refuseRequest(j *job, id identity, cmd *commands.Command) bool {
	c := j.c
	g := &s.guard
	now := g.since(j.now)
	switch {
	case c.addr.IsValid() && g.fails.Blocked(access.AddrKey(c.addr), now):
		g.rateLimited.Add(1)
		j.rep.FailText(commands.CodeRateLimited, "too many failed authentications from your address; retry later",
			"error: rate limited\n")
	case s.needAES(id, cmd):
		j.rep.FailText(commands.CodeForbidden, "need aes!", "need aes!\n")
		s.authFailure(c, id.who, cmd.Name, "need_aes", "")
	case !id.who.Level.Allows(cmd.Level):
		levelRefused(&j.rep, cmd, id.who)
		s.authFailure(c, id.who, cmd.Name, "level", "")
	case !owner(id.who) && !g.rate.Load().Allow(rateKey(c, id.who), now):
		g.rateLimited.Add(1)
		j.rep.FailText(commands.CodeRateLimited, "rate limited (manager_rate_limit)", "error: rate limited\n")
		if cmd.Level == access.ReadWrite {
			s.auditCommand(c, id.who, cmd.Name, "denied", "rate_limited")
		}
	default:
		return false
	}
	return true
}

// owner reports whether who is root or the server's own user on the Unix
// socket: they own the process anyway, and a rate limit must never keep
// the operator from a reload in the middle of a flood.
func owner(who access.Identity) bool {
	return who.Via == access.ViaPeerCred && (who.Name == "uid:0" || who.Name == ownUID)
}

// ownUID is the identity name of the server's own user.
var ownUID = "uid:" + strconv.Itoa(os.Geteuid())

// rateKey is whom c's requests count against: the token, key or Unix user
// behind who, or the address for plaintext and legacy requests (which all
// share one name).
func rateKey(c *conn, who access.Identity) access.RateKey {
	if who.Via == access.ViaPlain || who.Via == access.ViaLegacy {
		return access.RateKey{Via: who.Via, Addr: c.hold.key}
	}
	return access.RateKey{Via: who.Via, Name: who.Name}
}

// needAES applies VoIPmonitor's plaintext policy: on TCP, once a key exists
// (or a configured key source never answered), a plaintext request must be
// for a command allowed in plaintext, unless manager_enable_unencrypted.
func (s *Server) needAES(id identity, cmd *commands.Command) bool {
	return id.listener == "tcp" && !id.encrypted() &&
		!cmd.Plaintext && !s.cfg.Unencrypted && s.keys.RequireAES()
}

// runText runs one request and appends its reply as VoIPmonitor's text
// mode sends it: the bytes as they are, or the stream.
func (s *Server) runText(j *job, q *request, items []outItem) []outItem {
	s.run(j, j.c.identity(), q)
	rep := &j.rep
	if rep.Stream != nil {
		size := int64(-1)
		if rep.Kind == commands.Binary {
			size = rep.Size
		}
		return append(items, outItem{stream: rep.Stream, size: size})
	}
	pb := getBuf()
	*pb = append(*pb, rep.Body...)
	return append(items, outItem{buf: *pb, pooled: pb})
}
