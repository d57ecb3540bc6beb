package server

import (
	"bytes"
	"io"
	"time"

	"tapline/commands"
	"tapline/crypto"
)

// Encrypted connections. Commands run exactly as in plaintext; their plain
// output items are then sealed as one message: VoIPmonitor's "aes:" CBC
// stream for legacy requests, or tapline frames bound to the request's ref.

// execLegacy decrypts a VoIPmonitor request, runs its first line and
// encrypts the reply with the key that decrypted it.
//
// Every legacy request that is not a known inline command comes here, and
// every one that does not decrypt to a known command gets the same answer
// on the same path after the same work (legacyRefusal): bad padding, a
// wrong key, a malformed frame and a real unknown command alike. Anything
// else would be a padding oracle (issue 9, item 6). A request the loop
// could not decrypt is tried again only if re-reading the keys changes
// them; Refresh is asked for every such request, so whether Redis was
// read depends on the time and the keys, never on the ciphertext.
func (s *Server) execLegacy(j *job) {
	if !j.legacyOK {
		frame := j.in[:len(j.in)-1]
		tried := j.legacyFP
		if !j.legacyTried { // too large for the loop: first try with the keys in memory
			tried = s.keys.Status().Fingerprint
			s.decryptLegacy(j, frame)
		}
		if !j.legacyOK && s.keys.Refresh(s.ctx, tried) {
			s.decryptLegacy(j, frame)
		}
	}
	var items []outItem
	if j.legacyOK {
		items = sealLegacy(s.runText(j, j.legacyLine, nil), j.legacyKey)
	} else {
		items = s.legacyRefusal(j)
	}
	j.items = append(j.items, items...)
	j.items[len(j.items)-1].close = true
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

// inlineLegacy decrypts a small request on the loop with the keys in
// memory and reports whether it names an inline command: then the whole
// exchange runs there (like inlineHardened). Anything else, including every
// request that does not decrypt to a known command, goes to a worker
// (execLegacy), so the path never depends on the padding.
func (s *Server) inlineLegacy(j *job) bool {
	if len(j.in) <= inlineSecureMax {
		j.legacyTried, j.legacyFP = true, s.keys.Status().Fingerprint // before decrypting: Refresh compares with it
		if s.decryptLegacy(j, j.in[:len(j.in)-1]) && s.inlineCommand(j.legacyLine) {
			return true
		}
	}
	s.legacyWorker.Add(1)
	return false
}

// decryptLegacy decrypts frame with the current key and the keys in their
// grace period into j's legacyLine and legacyKey, and reports whether one
// of them decrypts it to a known command. Nothing else counts as decrypted:
// without a MAC a wrong key (or an attacker's random bytes) still yields
// valid padding about once in 256 tries, and telling that apart from bad
// padding would be a padding oracle.
func (s *Server) decryptLegacy(j *job, frame []byte) bool {
	plain, key, err := crypto.LegacyDecrypt(s.keys.LegacyKeys(time.Now()), frame, s.knownCommand)
	if err != nil {
		return false
	}
	j.legacyOK, j.legacyLine, j.legacyKey = true, legacyLine(plain), key
	return true
}

func (s *Server) knownCommand(plain []byte) bool {
	name, _ := commands.Split(legacyLine(plain))
	return s.table.Lookup(name) != nil
}

// legacyLine is the command line of a decrypted legacy request.
func legacyLine(plain []byte) []byte { return firstLine(cutRequest(plain)) }

// firstLine is the first line of a decrypted request, without its line
// end; all of it when it has no '\n'.
func firstLine(plain []byte) []byte {
	line, _ := lastLine(plain, len(plain)+1)
	return line
}

// cutRequest keeps what VoIPmonitor keeps of a decrypted request: the text
// before "\r\n\r\n", of which the first line counts.
func cutRequest(p []byte) []byte {
	if i := bytes.Index(p, []byte("\r\n\r\n")); i >= 0 {
		return p[:i]
	}
	return p
}

// openedFrame is one hardened request frame of a job, opened.
type openedFrame struct {
	plain []byte // in j.scratch, capped: appending never reaches the next frame
	h     crypto.Header
	hk    *crypto.HardenedKey
	bad   bool
	// reqs are the JSON requests of plain, when inlineHardened parsed them
	// (in j.reqs); nil otherwise.
	reqs []parsedReq
}

// openFrames opens the frames of j.in not opened yet into j.frames. It
// stops at a frame that does not open: with refresh (workers only: the
// keyring may ask Redis) that frame is re-tried once after re-reading the
// keys and then recorded as bad; without, openFrames reports false and
// leaves the frame for a worker. A frame opens once only: a second Open
// would be a replay.
func (s *Server) openFrames(j *job, refresh bool) bool {
	for j.openOff < len(j.in) {
		rest := j.in[j.openOff:]
		line := rest[:bytes.IndexByte(rest, '\n')]
		off := len(j.scratch)
		tried := s.keys.Status().Fingerprint
		out, h, err := s.opener.OpenRequest(j.scratch, line, time.Now(), j.c.lastTS)
		if err != nil && refresh && s.keys.Refresh(s.ctx, tried) {
			out, h, err = s.opener.OpenRequest(j.scratch, line, time.Now(), j.c.lastTS)
		}
		var hk *crypto.HardenedKey
		if err == nil {
			hk = s.keys.Lookup(h.KID)
		}
		if err != nil || hk == nil {
			if !refresh {
				return false
			}
			j.frames = append(j.frames, openedFrame{bad: true})
			j.openOff = len(j.in)
			return true
		}
		j.scratch = out
		j.c.lastTS = h.TS // the next frame of the session may not be older
		j.frames = append(j.frames, openedFrame{plain: out[off:len(out):len(out)], h: h, hk: hk})
		j.openOff += len(line) + 1
	}
	return true
}

// inlineHardened opens a small batch on the loop and reports whether all
// it asks for are inline commands: then decryption, the commands and the
// sealing (a few microseconds for small frames) run right there, without
// a round trip through a worker. Anything else goes to a worker, which
// continues from the frames already opened.
func (s *Server) inlineHardened(j *job) bool {
	if len(j.in) > inlineSecureMax || !s.openFrames(j, false) {
		return false
	}
	inner := j.c.inner
	for i := j.next; i < len(j.frames); i++ { // a continued job starts at next
		f := &j.frames[i]
		if inner == modeUnknown {
			inner = innerMode(f.plain)
		}
		if inner == modeText {
			return s.inlineCommand(firstLine(f.plain))
		}
		if i >= j.parsedFrames {
			n := len(j.reqs)
			j.reqs = parseLines(f.plain, j.reqs)
			f.reqs = j.reqs[n:len(j.reqs):len(j.reqs)]
			j.parsedFrames = i + 1
		}
		for k := range f.reqs {
			if p := &f.reqs[k]; p.msg == "" && !s.inlineCommand(p.r.cmd) {
				return false
			}
		}
	}
	return true
}

// inlineSecureMax bounds the encrypted input opened on an event loop.
const inlineSecureMax = 16 << 10

// innerMode: the first frame of a hardened connection decides between a
// one-shot text request and a JSON session.
func innerMode(plain []byte) wireMode {
	if len(plain) > 0 && plain[0] == '{' {
		return modeJSON
	}
	return modeText
}

// execHardened runs what the opened frames carry, from j.next up to the
// first frame whose reply streams (see job.more). Any bad frame gets the
// same plain line and ends the connection.
func (s *Server) execHardened(j *job) {
	c := j.c
	s.openFrames(j, true)
	var all []outItem
	for ; j.next < len(j.frames); j.next++ {
		f := j.frames[j.next]
		if f.bad {
			s.errors.Add(1)
			all = append(all, outItem{buf: []byte("error: bad frame\n"), close: true})
			break
		}
		if c.inner == modeUnknown {
			c.inner = innerMode(f.plain)
		}
		if c.inner == modeText {
			all = append(all, sealHardened(s.runText(j, firstLine(f.plain), nil), f.hk, f.h.Ref)...)
			all[len(all)-1].close = true
			break
		}
		sub, end, _ := s.runJSON(j, f.plain, f.reqs, nil, false)
		streams := hasStream(sub)
		all = append(all, sealHardened(sub, f.hk, f.h.Ref)...)
		if end {
			all[len(all)-1].close = true
			break
		}
		if streams && j.next+1 < len(j.frames) {
			j.next++
			j.more = true
			j.items = append(j.items, all...)
			return
		}
	}
	j.more = false
	if j.tooLarge && (len(all) == 0 || !all[len(all)-1].close) {
		s.errors.Add(1) // an oversized frame is a bad frame like any other
		all = append(all, outItem{buf: []byte("error: bad frame\n"), close: true})
	}
	j.items = append(j.items, all...)
}

func textItem(s string) outItem {
	pb := getBuf()
	*pb = append(*pb, s...)
	return outItem{buf: *pb, pooled: pb}
}

// sealLegacy turns the plain items of one reply into VoIPmonitor's
// "aes:"+CBC stream.
func sealLegacy(items []outItem, k crypto.Key) []outItem {
	return seal(items, func(w io.Writer) io.WriteCloser { return crypto.NewLegacyWriter(w, k) },
		func(dst, plain []byte) []byte { return crypto.AppendLegacyReply(dst, k, plain) })
}

// sealHardened turns the plain items of one reply into reply frames bound
// to the request's ref, the last one marked final.
func sealHardened(items []outItem, hk *crypto.HardenedKey, ref [16]byte) []outItem {
	return seal(items, func(w io.Writer) io.WriteCloser { return crypto.NewHardenedWriter(w, hk, ref, time.Now) },
		func(dst, plain []byte) []byte { return crypto.SealMessage(dst, hk, true, time.Now(), ref, plain) })
}

// seal runs the plain items through an encrypting writer: into one buffer
// when they are all bytes, or as one stream when the reply streams (then
// the encryption happens on the connection's writer goroutine).
func seal(items []outItem, enc func(io.Writer) io.WriteCloser, sealBytes func(dst, plain []byte) []byte) []outItem {
	if !hasStream(items) {
		var plain []byte
		if len(items) == 1 {
			plain = items[0].buf
		} else {
			plain = nil
			for _, it := range items {
				plain = append(plain, it.buf...)
			}
		}
		pb := getBuf()
		*pb = sealBytes((*pb)[:0], plain)
		for _, it := range items {
			putBuf(it.pooled)
		}
		return []outItem{{buf: *pb, pooled: pb}}
	}
	parts := append([]outItem(nil), items...)
	return []outItem{{size: -1, stream: func(dst io.Writer) error {
		w := enc(dst)
		for _, it := range parts {
			if err := writePart(w, it); err != nil {
				return err
			}
		}
		return w.Close()
	}}}
}

func hasStream(items []outItem) bool {
	for _, it := range items {
		if it.stream != nil {
			return true
		}
	}
	return false
}

func writePart(w io.Writer, it outItem) error {
	if it.stream == nil {
		_, err := w.Write(it.buf)
		putBuf(it.pooled)
		return err
	}
	cw := &countWriter{w: w}
	if err := it.stream(cw); err != nil {
		return err
	}
	if it.size >= 0 && cw.n != it.size {
		return errStreamSize
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (w *countWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}

// plaintextTCPRefused keeps commands marked NoPlaintextTCP (manager_file)
// off plaintext TCP, key or no key, unless manager_file_plaintext. needAES
// runs first: with a key, "need aes!" is the answer, as for any command
// that is not plaintext-allowed.
func (s *Server) plaintextTCPRefused(j *job, cmd *commands.Command) bool {
	c := j.c
	return cmd.NoPlaintextTCP && c.listener == "tcp" && (c.mode == modeText || c.mode == modeJSON) &&
		!s.cfg.FilePlaintext
}

// needAES applies VoIPmonitor's plaintext policy: on TCP, once a key exists
// (or a configured key source never answered), a plaintext request must be
// for a command allowed in plaintext, unless manager_enable_unencrypted.
func (s *Server) needAES(j *job, cmd *commands.Command) bool {
	c := j.c
	return c.listener == "tcp" && (c.mode == modeText || c.mode == modeJSON) &&
		!cmd.Plaintext && !s.cfg.Unencrypted && s.keys.RequireAES()
}
