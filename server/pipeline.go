package server

import (
	"bytes"
	"time"
)

// Pipelined sessions (JSON sessions and hardened sessions) share how input
// becomes batches: a batch of complete lines at a time, the next one only
// once the previous one is answered, everything unread bounded by
// MaxPending, and what a half-closed client sent answered in full.

// trafficSession takes a batch of complete lines from a session, unless a
// batch is still at a worker or its output is still being written: then the
// input waits in gnet's buffer (bounded by MaxPending) and resume picks it up.
// On the loop.
func (c *conn) trafficSession(buf []byte) {
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
		c.armSessionDeadline()
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

// armSessionDeadline: a half-received request must complete within
// ReadTimeout, an idle session ends after IdleTimeout.
func (c *conn) armSessionDeadline() {
	s := c.eng.srv
	c.setPhase(phReading)
	if c.partial != 0 {
		c.deadline.Store(c.partial + int64(s.cfg.ReadTimeout))
		return
	}
	c.deadline.Store(c.idleDeadline())
}

// resume continues a session once its output is written: pipelined input
// already buffered is processed through a fresh OnTraffic.
func (c *conn) resume() {
	c.idleFrom = time.Now().UnixNano() // a request was answered: the session is active
	c.armSessionDeadline()
	if c.leftover > 0 {
		_ = c.gc.Wake(nil)
	}
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

// sessionEOF keeps every request a half-closing client sent, whether a
// batch is in flight or not, to be answered in order (dispatchTail).
// MaxPending bounds what is kept: the whole lines that fit are answered,
// then the overflow error ends the session. On the loop.
func (c *conn) sessionEOF(rest []byte) {
	if c.overflow || c.ending {
		return // the session is ending: later input is ignored, as in OnTraffic
	}
	keep := max(0, c.eng.srv.cfg.MaxPending-c.heldBytes())
	if len(rest) > keep {
		rest = rest[:bytes.LastIndexByte(rest[:keep], '\n')+1]
		c.tailOver = true
	}
	c.tail = append([]byte(nil), rest...)
}

// dispatchTail continues a half-closed session from its saved input.
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
