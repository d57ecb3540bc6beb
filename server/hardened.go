package server

import (
	"bytes"
	"io"
	"time"

	"tapline/access"
	"tapline/crypto"
)

// hardenedWire is tapline's framed mode: "tl1:" request frames, each
// opened (authenticated, decrypted, checked for replay, order and age)
// before anything in it runs. The first frame decides what they carry
// (conn.inner): a one-shot text request or a JSON session. Replies are
// sealed in frames bound to the request's ref.
type hardenedWire struct{}

// hardenedState is a hardened job's own state.
type hardenedState struct {
	scratch []byte // the plaintexts of the opened frames
	frames  []openedFrame
	openOff int // where in j.in the next frame to open starts
}

// openedFrame is one request frame of a job, opened.
type openedFrame struct {
	h      crypto.Header
	hk     *crypto.HardenedKey
	bad    bool
	lo, hi int // its requests: j.reqs[lo:hi]
}

func (hardenedWire) newState() jobState { return &hardenedState{} }

func (st *hardenedState) reset() {
	clear(st.frames)
	st.frames, st.openOff, st.scratch = st.frames[:0], 0, st.scratch[:0]
	if cap(st.scratch) > batchBytes*2 {
		st.scratch = nil
	}
}

func (hardenedWire) traffic(c *conn, buf []byte) { c.trafficSession(buf) }

func (hardenedWire) eof(c *conn, rest []byte) { c.sessionEOF(rest) }

// prepare opens a small batch on the loop and reports whether all it asks
// for are inline commands: then decryption, the commands and the sealing
// (a few microseconds for small frames) run right there, without a round
// trip through a worker. Anything else goes to a worker, which continues
// from the frames already opened.
func (hardenedWire) prepare(s *Server, j *job) bool {
	if len(j.in) > inlineSecureMax || !s.openFrames(j, false) {
		return false
	}
	st := j.st.(*hardenedState)
	for i := j.next; i < len(st.frames); i++ { // a continued job starts at next
		f := &st.frames[i]
		if j.c.inner == modeText {
			return f.lo == f.hi || j.reqs[f.lo].inline()
		}
		for k := f.lo; k < f.hi; k++ {
			if !j.reqs[k].inline() {
				return false
			}
		}
	}
	return true
}

// exec runs what the opened frames carry, from j.next up to the first
// frame whose reply streams (see job.more). Any bad frame gets the same
// plain line and ends the connection.
func (hardenedWire) exec(s *Server, j *job) {
	c := j.c
	st := j.st.(*hardenedState)
	s.openFrames(j, true)
	var all []outItem
	for ; j.next < len(st.frames); j.next++ {
		f := st.frames[j.next]
		if f.bad {
			s.errors.Add(1)
			s.auditAuthFailure(c, "bad_frame", "")
			all = append(all, outItem{buf: []byte("error: bad frame\n"), close: true})
			break
		}
		if c.inner == modeText {
			all = append(all, sealHardened(s.runText(j, &j.reqs[f.lo], nil), f.hk, f.h.Ref)...)
			all[len(all)-1].close = true
			break
		}
		sub, end, _ := s.runJSON(j, j.reqs[f.lo:f.hi], nil, false)
		streams := hasStream(sub)
		all = append(all, sealHardened(sub, f.hk, f.h.Ref)...)
		if end {
			all[len(all)-1].close = true
			break
		}
		if streams && j.next+1 < len(st.frames) {
			j.next++
			j.more = true
			j.items = append(j.items, all...)
			return
		}
	}
	j.more = false
	if j.tooLarge && (len(all) == 0 || !all[len(all)-1].close) {
		s.errors.Add(1) // an oversized frame is a bad frame like any other
		s.auditAuthFailure(c, "bad_frame", "")
		all = append(all, outItem{buf: []byte("error: bad frame\n"), close: true})
	}
	j.items = append(j.items, all...)
}

// openFrames opens the frames of j.in not opened yet, and splits and
// looks up their requests into j.reqs. It stops at a frame that does not
// open: with refresh (workers only: the keyring may ask Redis) that frame
// is re-tried once after re-reading the keys and then recorded as bad;
// without, openFrames reports false and leaves the frame for a worker. A
// frame opens once only: a second Open would be a replay.
func (s *Server) openFrames(j *job, refresh bool) bool {
	st := j.st.(*hardenedState)
	c := j.c
	for st.openOff < len(j.in) {
		rest := j.in[st.openOff:]
		line := rest[:bytes.IndexByte(rest, '\n')]
		off := len(st.scratch)
		tried := s.keys.Status().Fingerprint
		out, h, err := s.opener.OpenRequest(st.scratch, line, time.Now(), c.lastTS)
		if err != nil && refresh && s.keys.Refresh(s.ctx, tried) {
			out, h, err = s.opener.OpenRequest(st.scratch, line, time.Now(), c.lastTS)
		}
		var hk *crypto.HardenedKey
		if err == nil {
			hk = s.keys.Lookup(h.KID)
		}
		if err != nil || hk == nil {
			if !refresh {
				return false
			}
			st.frames = append(st.frames, openedFrame{bad: true})
			st.openOff = len(j.in)
			return true
		}
		st.scratch = out
		if c.listener == "tcp" && c.who.Via != access.ViaToken && (c.who.Via != access.ViaKey || c.whoKID != hk.KID) {
			c.setWho(s.keyIdentity(hk.KID)) // formatted once per key, not per frame
			c.whoKID = hk.KID
		}
		c.lastTS = h.TS                     // the next frame of the session may not be older
		plain := out[off:len(out):len(out)] // capped: appending never reaches the next frame
		if c.inner == modeUnknown {
			c.inner = innerMode(plain)
		}
		lo := len(j.reqs)
		if c.inner == modeText {
			j.reqs = append(j.reqs, s.frameTextRequest(c, plain))
		} else {
			j.reqs = s.jsonRequests(plain, j.reqs)
		}
		st.frames = append(st.frames, openedFrame{h: h, hk: hk, lo: lo, hi: len(j.reqs)})
		st.openOff += len(line) + 1
	}
	return true
}

// innerMode: the first frame of a hardened connection decides between a
// one-shot text request and a JSON session.
func innerMode(plain []byte) wireMode {
	if len(plain) > 0 && plain[0] == '{' {
		return modeJSON
	}
	return modeText
}

// sealHardened turns the plain items of one reply into reply frames bound
// to the request's ref, the last one marked final.
func sealHardened(items []outItem, hk *crypto.HardenedKey, ref [16]byte) []outItem {
	return seal(items, func(w io.Writer) io.WriteCloser { return crypto.NewHardenedWriter(w, hk, ref, time.Now) },
		func(dst, plain []byte) []byte { return crypto.SealMessage(dst, hk, true, time.Now(), ref, plain) })
}

// firstLine is the first line of a decrypted text request, without its
// line end; all of it when it has no '\n'.
func firstLine(plain []byte) []byte {
	line, _ := lastLine(plain, len(plain)+1)
	return line
}
