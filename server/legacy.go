package server

import (
	"io"
	"time"

	"tapline/access"
	"tapline/commands"
	"tapline/crypto"
)

// legacyWire is VoIPmonitor's AES one-shot mode: one "<cipher>:<ct>:sea"
// frame whose first line is the request; the reply is the text reply
// sealed as an "aes:" CBC stream with the key that decrypted it.
//
// Every legacy request that is not a known inline command runs on a
// worker, and every one that does not decrypt to a known command gets the
// same answer on the same path after the same work (legacyRefusal): bad
// padding, a wrong key, a malformed frame and a real unknown command
// alike. Anything else would be a padding oracle (issue 9, item 6). A
// request the loop could not decrypt is tried again only if re-reading the
// keys changes them; Refresh is asked for every such request, so whether
// Redis was read depends on the time and the keys, never on the ciphertext.
type legacyWire struct{}

// legacyState is a legacy job's own state.
type legacyState struct {
	ok    bool       // the frame decrypted to a known command: j.reqs[0], with key
	key   crypto.Key // the key that decrypted it
	tried bool       // prepare tried the keys on the loop...
	fp    string     // ...when the current key's fingerprint was fp
	srv   *Server
	found request           // the request accept found in the last plaintext it took
	known func([]byte) bool // st.accept, bound once per pooled job
}

func (legacyWire) newState() jobState {
	st := &legacyState{}
	st.known = st.accept
	return st
}

func (st *legacyState) reset() {
	st.ok, st.key, st.tried, st.fp, st.srv, st.found = false, crypto.Key{}, false, "", nil, request{}
}

// accept tells crypto.LegacyDecrypt whether a command line (the
// plaintext up to its first control byte, crypto.LegacyLine) names a known
// command, and keeps that command: a request is split and looked up once.
func (st *legacyState) accept(plain []byte) bool {
	st.found = st.srv.textRequest(plain)
	return st.found.cmd != nil
}

// traffic waits for a complete frame. On the loop.
func (legacyWire) traffic(c *conn, buf []byte) {
	end, complete, err := crypto.LegacyFrameEnd(buf)
	if err == nil && !complete {
		if len(buf) <= 2*c.eng.srv.cfg.MaxRequest+64 {
			c.leftover = len(buf)
			return
		}
		_, _ = c.gc.Discard(-1)
		c.leftover = 0
		c.failNow("request too large", "too_large")
		return
	}
	if err != nil {
		end = len(buf) // a malformed frame: it fails to decrypt, like in VoIPmonitor
	}
	j := newJob(c)
	j.add(buf[:end])
	_, _ = c.gc.Discard(-1)
	c.leftover = 0
	c.dispatch(j)
}

// prepare decrypts a small request on the loop with the keys in memory
// and reports whether it names an inline command: then the whole exchange
// runs there. Anything else, including every request that does not
// decrypt to a known command, goes to a worker (exec), so the path never
// depends on the padding.
func (legacyWire) prepare(s *Server, j *job) bool {
	if len(j.in) <= inlineSecureMax {
		st := j.st.(*legacyState)
		st.tried, st.fp = true, s.keys.Status().Fingerprint // before decrypting: Refresh compares with it
		if s.decryptLegacy(j, j.in[:len(j.in)-1]) && j.reqs[0].inline() {
			return true
		}
	}
	s.legacyWorker.Add(1)
	return false
}

// exec decrypts what prepare could not, runs the request and seals its
// reply with the key that decrypted it.
func (legacyWire) exec(s *Server, j *job) {
	st := j.st.(*legacyState)
	if !st.ok {
		frame := j.in[:len(j.in)-1]
		tried := st.fp
		if !st.tried { // too large for the loop: first try with the keys in memory
			tried = s.keys.Status().Fingerprint
			s.decryptLegacy(j, frame)
		}
		if !st.ok && s.keys.Refresh(s.ctx, tried) {
			s.decryptLegacy(j, frame)
		}
	}
	var items []outItem
	if st.ok {
		items = sealLegacy(s.runLegacyText(j, &j.reqs[0]), st.key)
	} else {
		items = s.legacyRefusal(j)
	}
	j.items = append(j.items, items...)
	j.items[len(j.items)-1].close = true
}

// runLegacyText runs a decrypted request like a text request, except that
// a request refused for its arguments gets one fixed line naming only the
// command (from the table), never the detailed text mode error. Those
// details quote what was sent (unknown keys, columns, values), and the
// legacy framing has no MAC: an attacker who splices captured blocks
// behind a captured prefix would read the decryption of any block in the
// quoted part. Valid requests are answered as before.
func (s *Server) runLegacyText(j *job, q *request) []outItem {
	items := s.runText(j, q, nil)
	if j.rep.Code != commands.CodeInvalid {
		return items
	}
	it := &items[len(items)-1]
	*it.pooled = append(append(append((*it.pooled)[:0], "error: "...), q.cmd.Name...), ": invalid arguments\n"...)
	it.buf = *it.pooled
	return items
}

// eof answers a frame cut by the client's EOF: it fails to decrypt and is
// answered like VoIPmonitor answers it.
func (legacyWire) eof(c *conn, rest []byte) {
	j := newJob(c)
	j.add(rest)
	c.dispatch(j)
}

// decryptLegacy decrypts frame with the current key and the keys in their
// grace period, and reports whether one of them decrypts it to a known
// command; that request is then j.reqs[0]. Nothing else counts as
// decrypted: without a MAC a wrong key (or an attacker's random bytes)
// still yields valid padding about once in 256 tries, and telling that
// apart from bad padding would be a padding oracle.
func (s *Server) decryptLegacy(j *job, frame []byte) bool {
	st := j.st.(*legacyState)
	st.srv = s
	_, key, err := crypto.LegacyDecrypt(s.keys.LegacyKeys(time.Now()), frame, st.known)
	if err != nil {
		return false
	}
	// The last plaintext accept took is the one that decrypted.
	st.ok, st.key = true, key
	if j.c.listener == "tcp" && j.c.who.Via != access.ViaToken { // on the Unix socket the peer's credentials decide
		j.c.setWho(s.legacyIdentity(s.keys.LegacyLevel(key)))
	}
	j.reqs = append(j.reqs[:0], st.found)
	return true
}

// legacyRefusal is the one reply to a legacy request that does not decrypt
// to a known command: "command not found\n" encrypted with the current key,
// byte for byte what a holder of that key gets for a command tapline lacks
// (a client with another key cannot read it either way). It counts like an
// unknown command. Without a current key nothing can be encrypted: every
// such request then gets the plain "failed aes decrypt!\n", as VoIPmonitor
// answers without a key, which depends on nothing in the request.
func (s *Server) legacyRefusal(j *job) []outItem {
	j.c.requests.Add(1)
	s.errors.Add(1)
	s.auditAuthFailure(j.c, "legacy_decrypt", "") // a key holder's unknown command looks the same, by design
	cur, ok := s.keys.Current()
	if !ok {
		return []outItem{textItem("failed aes decrypt!\n")}
	}
	j.rep.Reset()
	commands.NotFound(&j.rep)
	pb := getBuf()
	*pb = append(*pb, j.rep.Body...)
	return sealLegacy([]outItem{{buf: *pb, pooled: pb}}, cur)
}

// inlineSecureMax bounds the encrypted input opened on an event loop.
const inlineSecureMax = 16 << 10

// sealLegacy turns the plain items of one reply into VoIPmonitor's
// "aes:"+CBC stream.
func sealLegacy(items []outItem, k crypto.Key) []outItem {
	return seal(items, func(w io.Writer) io.WriteCloser { return crypto.NewLegacyWriter(w, k) },
		func(dst, plain []byte) []byte { return crypto.AppendLegacyReply(dst, k, plain) })
}
