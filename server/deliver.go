package server

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// deliver sends items in order. On the loop. While the kernel takes bytes
// they are written at once; the first piece it cannot take whole, every
// stream, and everything after them go to the writer goroutine.
func (c *conn) deliver(items []outItem) {
	if len(items) > 0 && items[len(items)-1].close {
		c.ending = true
	}
	for i := range items {
		it := &items[i]
		if c.closed || it.stream != nil || c.queueBusy() {
			c.enqueue(items[i:])
			return
		}
		n := c.writeDirect(it.buf)
		if n < len(it.buf) {
			it.buf = it.buf[n:]
			c.enqueue(items[i:])
			return
		}
		putBuf(it.pooled)
		if it.close {
			c.finishOutput()
			return
		}
	}
	c.outputIdle()
}

func (c *conn) queueBusy() bool {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return c.out.writing
}

// writeDirect writes what the kernel takes without blocking. On the loop, on
// gnet's own descriptor, which is safe because gnet's output buffer is never
// used and so never interleaves with these bytes.
func (c *conn) writeDirect(b []byte) int {
	done := 0
	for done < len(b) {
		n, err := unix.Write(c.gc.Fd(), b[done:])
		if n > 0 {
			done += n
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break // EAGAIN: the writer takes the rest; other errors surface there too
		}
	}
	c.bytesOut.Add(int64(done))
	c.eng.srv.bytesOut.Add(int64(done))
	return done
}

// enqueue hands items to the writer goroutine, starting it if needed. On the loop.
func (c *conn) enqueue(items []outItem) {
	c.out.mu.Lock()
	c.out.queue = append(c.out.queue, items...)
	for _, it := range items {
		c.out.queued += len(it.buf)
		if it.stream != nil {
			c.streams.Add(1)
		}
	}
	if c.out.writing {
		c.out.mu.Unlock()
		return
	}
	if c.out.dup == nil {
		if err := c.takeDup(); err != nil {
			for _, it := range c.out.queue {
				if it.stream != nil {
					c.streams.Add(-1)
				}
			}
			c.out.queue, c.out.queued = nil, 0
			c.out.mu.Unlock()
			slog.Warn("manager: cannot detach connection, reply dropped", "conn", c.id, "err", err)
			c.eng.srv.errors.Add(1)
			c.abort()
			return
		}
	}
	c.out.writing = true
	c.out.mu.Unlock()
	c.eng.writers.Add(1)
	go c.writer()
}

// takeDup duplicates the socket so bytes can still be written after gnet
// closes its descriptor. Only valid on the loop while gnet's fd is ours
// (open, or inside OnClose): later the number may belong to another socket.
// Caller holds out.mu.
func (c *conn) takeDup() error {
	if c.closed {
		return errors.New("connection already released")
	}
	fd, err := c.gc.Dup()
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "manager-conn")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return err
	}
	c.out.dup = nc
	return nil
}

// writer drains the queue on the dup. Go's netpoller parks this goroutine
// when the client reads slowly; no event loop waits and no reply is held in
// memory beyond the queued pieces and one stream chunk.
func (c *conn) writer() {
	srv := c.eng.srv
	defer c.eng.writers.Add(-1)
	// The dup is read under the lock: an abort on the loop (a failed
	// earlier writer's) may release it between enqueue and this line.
	c.out.mu.Lock()
	dup := c.out.dup
	c.out.mu.Unlock()
	if dup == nil { // released already: nothing can be written any more
		c.dropQueue()
		return
	}
	w := &deadlineWriter{conn: dup, timeout: srv.cfg.WriteTimeout, c: c}
	for {
		c.out.mu.Lock()
		if len(c.out.queue) == 0 {
			c.out.writing = false
			c.out.mu.Unlock()
			c.afterWriter(nil, false)
			return
		}
		it := c.out.queue[0]
		c.out.queue[0] = outItem{}
		c.out.queue = c.out.queue[1:]
		c.out.queued -= len(it.buf)
		c.out.mu.Unlock()

		err := writeItem(w, it, srv.cfg.StreamNice)
		if it.stream != nil {
			c.streams.Add(-1)
		}
		if err == nil && it.close {
			c.dropQueue()
			c.afterWriter(nil, true)
			return
		}
		if err != nil {
			c.dropQueue()
			c.afterWriter(err, true)
			return
		}
	}
}

// writeItem writes one queued item; streams run at the configured lower
// priority.
func writeItem(w io.Writer, it outItem, nice int) error {
	if it.stream != nil {
		defer lowerPriority(nice)()
	}
	return writePart(w, it)
}

// writePart writes one item: its bytes, or its stream, checked against the
// announced size.
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

func (c *conn) dropQueue() {
	c.out.mu.Lock()
	for _, it := range c.out.queue {
		putBuf(it.pooled)
		if it.stream != nil {
			c.streams.Add(-1)
		}
	}
	c.out.queue, c.out.queued, c.out.writing = nil, 0, false
	c.out.mu.Unlock()
}

// afterWriter runs when the writer goroutine stops. A finished one-shot reply
// (end) shuts our sending side down right here, so the client sees EOF even
// if the event loop is already gone (shutdown); the loop then only has to
// wait for the client's EOF.
func (c *conn) afterWriter(err error, end bool) {
	if err != nil {
		c.writeFailed(err)
		c.eng.srv.errors.Add(1)
	}
	if end && err == nil {
		c.out.mu.Lock()
		dup := c.out.dup
		c.out.mu.Unlock()
		if sc, ok := dup.(interface{ CloseWrite() error }); ok {
			_ = sc.CloseWrite()
		}
	}
	failed := err != nil
	ran := c.eng.execute(c, func() {
		if failed {
			c.abort()
			return
		}
		if end {
			c.lingerOrClose()
			return
		}
		c.outputIdle()
	})
	if !ran { // the engine has stopped: nobody else will close the dup
		c.releaseDup()
		c.eng.forget(c)
	}
}

var (
	errStreamSize  = errors.New("stream length does not match its announced size")
	errOutputLimit = errors.New("client over manager_output_limit")
)

// deadlineWriter gives every write its own deadline: a reader that stops
// reading for WriteTimeout loses its reply; one that reads slowly does not.
type deadlineWriter struct {
	conn    net.Conn
	timeout time.Duration
	c       *conn
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	_ = w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
	if w.c.limitHit.Load() { // checked after the deadline is set: outputLimited sets it to the past
		return 0, errOutputLimit
	}
	n, err := w.conn.Write(p)
	w.c.bytesOut.Add(int64(n))
	w.c.eng.srv.bytesOut.Add(int64(n))
	return n, err
}

var _ io.Writer = (*deadlineWriter)(nil)

// finishOutput ends a connection whose last reply was written directly. On the loop.
func (c *conn) finishOutput() {
	if !c.closed {
		if c.drainedToEOF() {
			// Nothing unread is left and nothing more can come: a plain
			// close loses no byte of the reply (no reset).
			c.releaseDup()
			_ = c.loop.Close(c.gc)
			return
		}
		_ = unix.Shutdown(c.gc.Fd(), unix.SHUT_WR)
	}
	c.lingerOrClose()
}

// drainedToEOF reads what input is already queued, without waiting, and
// reports whether it ends with the client's EOF. Clients that half-close
// after their request (nc -N, socat, the bench) have usually done so by the
// time the reply is out: then nothing can follow and the connection closes
// at once, without a loop round trip for the EOF. On the loop; the input
// is discarded, as it would be while lingering.
func (c *conn) drainedToEOF() bool {
	var buf [512]byte
	for range 8 {
		n, err := unix.Read(c.gc.Fd(), buf[:])
		switch {
		case err == unix.EINTR:
		case err != nil:
			return false // EAGAIN: the client has not finished; linger
		case n == 0:
			return true
		}
	}
	return false
}

// lingerOrClose waits (bounded) for the client's EOF after our side is shut
// down: closing a socket with unread input makes the kernel send a reset,
// which can destroy reply bytes the client has not read yet. On the loop.
func (c *conn) lingerOrClose() {
	c.releaseDup()
	if c.closed {
		c.finalize()
		return
	}
	linger := c.eng.srv.cfg.Linger
	if c.rejected {
		linger = min(linger, time.Second)
	}
	if linger <= 0 {
		_ = c.loop.Close(c.gc)
		return
	}
	c.setPhase(phLinger)
	c.eng.srv.holdLingering(c)
	c.uncount()
	c.setDeadline(linger)
}

// outputIdle runs when everything queued so far is written: a held batch
// continues, then a half-closed session's saved input, then new input. On
// the loop.
func (c *conn) outputIdle() {
	if c.inflight || c.queueBusy() {
		return // a round is still under way; it ends here again
	}
	if c.held != nil {
		j := c.held
		c.held = nil
		c.dispatch(j)
		return
	}
	if c.closed {
		c.dispatchTail()
		return
	}
	if c.lineMode() {
		c.resume()
	}
}

// abort closes the connection after a failure; queued output is dropped. On the loop.
func (c *conn) abort() {
	c.dropPending()
	c.dropQueue()
	c.releaseDup()
	if c.closed {
		c.finalize()
		return
	}
	_ = c.loop.Close(c.gc)
}

// dropPending gives up the input not answered yet (held batch, saved tail)
// after a failure: later input is not answered either. On the loop.
func (c *conn) dropPending() {
	c.aborted = true
	c.tail, c.tailOver = nil, false
	c.dropHeld()
}

func (c *conn) releaseDup() {
	c.out.mu.Lock()
	d := c.out.dup
	if !c.out.writing {
		c.out.dup = nil
	} else {
		d = nil
	}
	c.out.mu.Unlock()
	if d != nil {
		_ = d.Close()
	}
}
