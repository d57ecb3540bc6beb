package server

import (
	"log/slog"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The output limit (Redis's client-output-buffer-limit idea): a client
// that leaves more than manager_output_limit of reply output unread for
// longer than manager_output_limit_seconds is reset and counted. Streamed
// replies hold one chunk at a time and a session runs one stream at a
// time, so memory stays bounded without it; the limit frees the
// connection, the writer goroutine and whatever the reply holds (a
// listing's snapshot) from a client that stopped reading, well before
// manager_write_timeout would when the client reads a trickle.

// unsent is the reply output of c not yet read by the client: bytes queued
// for the writer goroutine plus the socket's send queue. Only a connection
// whose writer is running has any. Any goroutine.
func (c *conn) unsent() int64 {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if !c.out.writing || c.out.dup == nil {
		return 0
	}
	n := int64(c.out.queued)
	if sc, ok := c.out.dup.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) {
				if q, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err == nil && q > 0 {
					n += int64(q)
				}
			})
		}
	}
	return n
}

// outputOverLimit reports whether c's unsent output has stayed above the
// limit for longer than allowed. The timeout scanner calls it (not on the
// loop).
func (c *conn) outputOverLimit(now int64) bool {
	cfg := &c.eng.srv.cfg
	if cfg.OutputLimit <= 0 || c.limitHit.Load() {
		return false
	}
	if c.unsent() <= int64(cfg.OutputLimit) {
		c.overSince.Store(0)
		return false
	}
	since := c.overSince.Load()
	if since == 0 {
		c.overSince.Store(now)
		return false
	}
	return now-since > int64(cfg.OutputLimitTime)
}

// outputLimited resets a connection whose client does not read its
// replies: SO_LINGER 0 makes the close a reset (the reply is incomplete
// and the client must not take it for a whole one), the writer is woken
// out of its blocked write, and what it held is dropped. On the loop.
func (c *conn) outputLimited() {
	if c.limitHit.Swap(true) {
		return
	}
	s := c.eng.srv
	s.outLimited.Add(1)
	slog.Warn("manager: client leaves its replies unread, connection reset",
		"conn", c.id, "peer", c.peer, "listener", c.listener,
		"manager_output_limit", s.cfg.OutputLimit, "manager_output_limit_seconds", s.cfg.OutputLimitTime.Seconds())
	c.dropPending()
	// Marked cut: the writer error that follows is this reset, counted here
	// and not again as a cut reply (reset.go).
	c.cut.Store(true)
	c.resetOnLoop()
	c.out.mu.Lock()
	writing, dup := c.out.writing, c.out.dup
	if writing && dup != nil {
		_ = dup.SetWriteDeadline(time.Unix(1, 0)) // the writer fails and aborts
	}
	c.out.mu.Unlock()
	if !writing {
		c.abort()
	}
}
