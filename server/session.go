package server

import (
	"bytes"

	"tapline/crypto"
	"time"
)

// trafficText handles a one-shot connection: the first line is the request.
// On the loop.
func (c *conn) trafficText(buf []byte) {
	s := c.eng.srv
	line, n, err := nextLine(buf, s.cfg.MaxRequest)
	if err != nil {
		_, _ = c.gc.Discard(-1)
		c.leftover = 0
		c.failNow("request too large", "too_large")
		return
	}
	if n == 0 {
		c.leftover = len(buf)
		return
	}
	j := newJob(c)
	j.add(line)
	_, _ = c.gc.Discard(-1)
	c.leftover = 0
	c.dispatch(j)
}

// trafficLegacy waits for a complete "<cipher>:<ct>:sea" frame. On the loop.
func (c *conn) trafficLegacy(buf []byte) {
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

// trafficJSON takes a batch of complete lines from a JSON session, unless a
// batch is still at a worker or its output is still being written: then the
// input waits in gnet's buffer (bounded by MaxPending) and resume picks it up.
// On the loop.
func (c *conn) trafficJSON(buf []byte) {
	s := c.eng.srv
	if c.overflow || c.ending {
		_, _ = c.gc.Discard(-1) // the session is ending; ignore further input
		c.leftover = 0
		return
	}
	if c.inflight || c.queueBusy() || c.held != nil {
		c.leftover = len(buf)
		if len(buf)+c.heldBytes() > s.cfg.MaxPending {
			c.overflowed()
		}
		return
	}
	j, used := c.batch(buf)
	if used > 0 { // gnet's Discard(0) would drop everything, partial line included
		_, _ = c.gc.Discard(used)
	}
	c.leftover = len(buf) - used
	if j != nil && c.leftover > s.cfg.MaxPending {
		// Inline batches never make the session busy, so input could pile
		// up here faster than batches drain it: the bound holds here too.
		// The batch taken is answered, then the session ends.
		_, _ = c.gc.Discard(-1)
		c.leftover = 0
		c.overflow = true
	}
	c.trackPartial()
	if j == nil {
		c.armJSONDeadline()
		return
	}
	c.dispatch(j)
}

// overflowed ends a session whose client pipelines more than MaxPending
// without reading. Replies to requests already taken still go out first, in
// order; the too_large error follows them. On the loop.
func (c *conn) overflowed() {
	_, _ = c.gc.Discard(-1)
	c.leftover = 0
	c.overflow = true
	c.dropHeld()
	if !c.inflight {
		c.failNow("too much pipelined input", "too_large")
	}
}

// Batches bound the work and output one worker round trip carries.
const (
	batchLines = 256
	batchBytes = 256 << 10
)

// batch copies up to batchLines complete lines out of buf into a job. It
// returns nil when buf holds no complete line. A too-long line ends the batch
// with a too_large error and the session.
func (c *conn) batch(buf []byte) (*job, int) {
	max := c.maxLine()
	var j *job
	used := 0
	for used < len(buf) && (j == nil || (j.lines < batchLines && len(j.in) < batchBytes)) {
		line, n, err := nextLine(buf[used:], max)
		if err == nil && n == 0 {
			break
		}
		if j == nil {
			j = newJob(c)
		}
		if err != nil {
			j.tooLarge = true
			return j, len(buf)
		}
		used += n
		if len(bytes.TrimSpace(line)) > 0 {
			j.add(line)
		}
	}
	if j != nil && j.lines == 0 && !j.tooLarge {
		j.release()
		j = nil
	}
	return j, used
}

func (c *conn) trackPartial() {
	if c.leftover == 0 {
		c.partial = 0
	} else if c.partial == 0 {
		c.partial = time.Now().UnixNano()
	}
}

// armJSONDeadline: a half-received request must complete within ReadTimeout,
// an idle session ends after IdleTimeout.
func (c *conn) armJSONDeadline() {
	s := c.eng.srv
	c.setPhase(phReading)
	if c.partial != 0 {
		c.deadline.Store(c.partial + int64(s.cfg.ReadTimeout))
		return
	}
	c.deadline.Store(c.idleDeadline())
}

// resume continues a JSON session once its output is written: pipelined
// input already buffered is processed through a fresh OnTraffic.
func (c *conn) resume() {
	c.idleFrom = time.Now().UnixNano() // a request was answered: the session is active
	c.armJSONDeadline()
	if c.leftover > 0 {
		_ = c.gc.Wake(nil)
	}
}

// dispatch sends j to the worker pool. On the loop.
func (c *conn) dispatch(j *job) {
	e := c.eng
	if e.draining.Load() {
		j.release()
		c.failNow("shutting down", "shutting_down")
		return
	}
	c.setPhase(phBusy)
	c.deadline.Store(0)
	if e.srv.inline(j) {
		e.srv.execJob(j)
		c.deliver(c.endIfOverflow(c.takeItems(j)))
		return
	}
	c.inflight = true
	e.jobs.Add(1)
	if !e.srv.pool.submit(j) {
		e.jobs.Add(-1)
		c.inflight = false
		j.release()
		c.failNow("server busy", "busy")
	}
}

// complete receives a worker's output. On the loop.
func (c *conn) complete(j *job) {
	c.eng.jobs.Add(-1)
	c.inflight = false
	c.deliver(c.endIfOverflow(c.takeItems(j)))
}

// endIfOverflow ends a session that sent more than MaxPending: after the
// replies of the batch just run (a half-closed client gets the error too:
// it may still read). On the loop.
func (c *conn) endIfOverflow(items []outItem) []outItem {
	if !c.overflow {
		return items
	}
	c.dropHeld()
	if len(items) > 0 && items[len(items)-1].close {
		return items // the batch ended the session itself (quit)
	}
	c.eng.srv.errors.Add(1)
	return append(items, outItem{buf: appendEnvelopeErr(nil, nil, "too much pipelined input", "too_large"), close: true})
}

// takeItems takes a finished job's output. A job that stopped after a
// streamed reply (job.more) is held until that reply is written: a session
// has at most one streamed reply, and so one snapshot, in progress, however
// many listings it pipelines; its other requests wait as bytes (in the
// held batch and in gnet's input buffer, within MaxPending). On the loop.
func (c *conn) takeItems(j *job) []outItem {
	items := j.items
	j.items = nil
	if j.more {
		c.held = j
		return items
	}
	j.release()
	return items
}

// heldBytes is the input of the held batch, counted against MaxPending.
func (c *conn) heldBytes() int {
	if c.held == nil {
		return 0
	}
	return len(c.held.in)
}

func (c *conn) dropHeld() {
	if c.held != nil {
		c.held.release()
		c.held = nil
	}
}

// failNow answers with an error produced on the loop (no worker) and ends
// the connection.
func (c *conn) failNow(msg, code string) {
	var b []byte
	if c.mode == modeJSON { // hardened sessions get plain text: no frame to answer in
		b = appendEnvelopeErr(nil, nil, msg, code)
	} else {
		b = []byte("error: " + msg + "\n")
	}
	c.eng.srv.errors.Add(1)
	c.setPhase(phBusy)
	c.deliver([]outItem{{buf: b, close: true}})
}

// onClose runs in gnet's OnClose, the last moment the descriptor is ours. A
// request or reply still in progress gets a dup of the socket so it completes
// after gnet lets go; a request that ended with the client's EOF instead of a
// newline is executed now.
func (c *conn) onClose() {
	rest, _ := c.gc.Peek(-1)
	if !c.rejected && !c.aborted && !c.eng.draining.Load() {
		c.takeEOFRequest(rest)
	}
	c.out.mu.Lock()
	if (c.inflight || c.out.writing || c.held != nil || len(c.tail) > 0 || c.tailOver) && c.out.dup == nil && !c.cut.Load() {
		if err := c.takeDup(); err != nil {
			c.eng.srv.errors.Add(1)
		}
	}
	c.out.mu.Unlock()
	c.closed = true
	if !c.inflight && !c.queueBusy() {
		c.outputIdle() // held batch, then the tail; finalize when nothing is left
	}
}

// takeEOFRequest keeps the input still unread when the client half-closes:
// a one-shot request that ended with EOF instead of a newline, or every
// request a JSON or hardened session sent, whether a batch is in flight or
// not; they are answered in order after what is in flight (outputIdle).
func (c *conn) takeEOFRequest(rest []byte) {
	if len(bytes.TrimSpace(rest)) == 0 {
		return
	}
	s := c.eng.srv
	if c.oneShot() && c.getPhase() != phReading {
		return
	}
	switch c.mode {
	case modeLegacy:
		j := newJob(c)
		j.add(rest) // incomplete frame: fails to decrypt, answered like VoIPmonitor
		c.dispatch(j)
	case modeText:
		line, err := lastLine(rest, s.cfg.MaxRequest)
		if err != nil {
			return
		}
		j := newJob(c)
		j.add(line)
		c.dispatch(j)
	case modeJSON, modeHardened:
		if c.overflow || c.ending {
			return // the session is ending: later input is ignored, as in OnTraffic
		}
		// MaxPending bounds what is kept: the whole lines that fit are
		// answered, then the overflow error ends the session.
		keep := max(0, s.cfg.MaxPending-c.heldBytes())
		if len(rest) > keep {
			rest = rest[:bytes.LastIndexByte(rest[:keep], '\n')+1]
			c.tailOver = true
		}
		c.tail = append([]byte(nil), rest...)
	}
}

// dispatchTail continues a half-closed JSON session from its saved input.
func (c *conn) dispatchTail() {
	if len(c.tail) > 0 && c.tail[len(c.tail)-1] != '\n' {
		c.tail = append(c.tail, '\n')
	}
	j, used := c.batch(c.tail)
	c.tail = c.tail[used:]
	if j == nil {
		c.tail = nil
		if c.tailOver {
			c.tailOver = false
			c.failNow("too much pipelined input", "too_large")
			return
		}
		c.finalize()
		return
	}
	c.dispatch(j)
}

// finalize releases what a closed connection still holds. On the loop, or
// after the loop is gone (engine stopped).
func (c *conn) finalize() {
	c.setPhase(phClosed)
	c.deadline.Store(0)
	c.tail = nil
	c.dropHeld()
	c.releaseDup()
	c.eng.forget(c)
}

// onDeadline acts on an expired deadline. On the loop; the scanner already
// cleared the deadline, and the state may have moved on since.
func (c *conn) onDeadline() {
	if c.closed || c.inflight || c.queueBusy() || c.held != nil {
		return
	}
	switch c.getPhase() {
	case phLinger:
		_ = c.loop.Close(c.gc)
	case phReading:
		switch {
		case c.lineMode() && c.partial == 0:
			c.failNow("idle timeout", "timeout")
		default:
			c.failNow("request timeout", "timeout")
		}
	}
}
