package server

import (
	"errors"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A reply that cannot be completed (write timeout, shutdown timeout, a
// stream that fails half-way) must not end like a complete one: in text mode
// EOF is the only end marker, so a FIN after a cut listing looks whole. Such
// connections end with a TCP reset instead: SO_LINGER {on, 0} on the socket,
// then close. The option belongs to the socket, which gnet's descriptor and
// the reply's dup share, so whichever of them is closed last sends the RST.
// Over a Unix socket SO_LINGER has no effect; the reply just stops.

// setLingerZero makes the socket's final close send a reset.
func setLingerZero(fd int) error {
	return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
}

// peerGone reports write errors that mean the client already went away: a
// reset would tell it nothing, and such errors are routine (`| head`).
func peerGone(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// markCut records once that c's reply is cut short and logs it. It reports
// false when c was already marked.
func (c *conn) markCut(reason string) bool {
	if c.cut.Swap(true) {
		return false
	}
	c.eng.srv.resets.Add(1)
	slog.Warn("manager: reply cut short, connection reset", "conn", c.id, "peer", c.peer,
		"listener", c.listener, "bytes_out", c.bytesOut.Load(), "reason", reason)
	return true
}

// resetViaDup sets SO_LINGER 0 through the reply's dup, if any. Safe off the
// loop: the dup is ours, and a dup closed meanwhile only makes Control fail.
func (c *conn) resetViaDup() {
	c.out.mu.Lock()
	d := c.out.dup
	c.out.mu.Unlock()
	sc, ok := d.(syscall.Conn)
	if !ok {
		return
	}
	if raw, err := sc.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) { _ = setLingerZero(int(fd)) })
	}
}

// resetOnLoop sets SO_LINGER 0 on c's socket: through gnet's descriptor
// while gnet holds it, else through the dup. On the loop.
func (c *conn) resetOnLoop() {
	if c.closed || setLingerZero(c.gc.Fd()) != nil {
		c.resetViaDup()
	}
}

// writeFailed handles a writer error, on the writer goroutine: unless the
// client is already gone, the socket is set to end with a reset before the
// loop (or the writer itself, once the engine is gone) closes it.
func (c *conn) writeFailed(err error) {
	if peerGone(err) || c.cut.Load() {
		slog.Debug("manager: reply write failed", "conn", c.id, "err", err)
		return
	}
	reason := err.Error()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		reason = "write timeout: the client read nothing for manager_write_timeout"
	}
	if c.markCut(reason) {
		c.resetViaDup()
	}
}

// cutOnLoop ends c now with a reset, whatever is in flight: used at the
// shutdown timeout. On the loop.
func (c *conn) cutOnLoop(reason string) {
	if !c.markCut(reason) {
		return
	}
	c.resetOnLoop()
	// Close the dup under the writer: its write fails at once and it stops.
	c.out.mu.Lock()
	d := c.out.dup
	c.out.mu.Unlock()
	if d != nil {
		_ = d.Close()
	}
	if !c.closed {
		_ = c.loop.Close(c.gc) // onClose takes no dup for a cut connection
	}
}

// cutBusy resets every connection of e whose request or reply is still in
// progress (shutdown timeout). It waits, bounded, until the loops did it.
func (e *engine) cutBusy(reason string) {
	e.mu.Lock()
	var busy []*conn
	for _, c := range e.conns {
		if (!c.rejected && c.getPhase() == phBusy) || c.queueBusy() {
			busy = append(busy, c)
		}
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range busy {
		wg.Add(1)
		if !e.execute(c, func() {
			defer wg.Done()
			if c.inflight || c.queueBusy() || c.getPhase() == phBusy {
				c.cutOnLoop(reason)
			}
		}) {
			wg.Done()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		slog.Warn("manager: event loops did not reset every cut connection in time", "listener", e.name)
	}
}
