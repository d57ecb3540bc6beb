package server

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"tapline/access"
	"tapline/commands"
	"tapline/crypto"
	"tapline/tokens"
)

// phase is where a connection is in its life. Loop-owned; mirrored into an
// atomic for the `clients` command and the timeout scanner.
type phase uint32

const (
	phReading phase = iota // waiting for (more of) a request
	phBusy                 // a request is at a worker or its reply is being written
	phLinger               // reply done, our side shut down, waiting for the client's EOF
	phClosed
)

func (p phase) String() string {
	return [...]string{"reading", "busy", "linger", "closed"}[p]
}

// conn is the per-connection state. Fields under "loop-owned" are touched
// only on the connection's event loop; out is shared with the writer
// goroutine under its mutex; the atomics may be read anywhere.
type conn struct {
	id       uint64
	eng      *engine
	gc       gnet.Conn
	loop     gnet.EventLoop
	peer     string
	addr     netip.Addr // TCP: the peer's address (audit, backoff, rate limit)
	listener string
	opened   time.Time

	// loop-owned (or owned by the connection's one job in flight)
	who        access.Identity // decided at connect, by a hardened frame's key or by auth (access.go)
	whoKID     [8]byte         // the key id behind who when who.Via is ViaKey
	whoGen     uint32          // moved by setWho: a batch re-reads its identity after an auth
	tok        *tokens.Entry   // the token behind who when who.Via is ViaToken (tokens.go)
	textAuth   bool            // text mode: the first line was "auth TOKEN"
	mode       wireMode
	inner      wireMode  // hardened: what the frames carry (set by the worker that opens the first)
	lastTS     time.Time // hardened: timestamp of the last request frame opened; the next may not be older
	closed     bool      // gnet has closed its descriptor
	inflight   bool      // a job is out at a worker
	rejected   bool
	rejectSlot bool   // counted in Server.rejectLinger
	overflow   bool   // JSON input over MaxPending: end after the in-flight reply
	tail       []byte // JSON input still unread when the client half-closed
	tailOver   bool   // tail was cut at MaxPending: the overflow error follows its replies
	held       *job   // a batch stopped after a streamed reply, continued once that is written
	aborted    bool   // ended after a failure: input still unread is not answered
	ending     bool   // the last reply (close) is out or on its way: later input is ignored
	leftover   int    // inbound bytes seen but not consumed
	partial    int64  // unix nanos when an incomplete line started, 0 = none
	idleFrom   int64  // unix nanos when the last request was answered, 0 = none yet

	out output

	// Set in OnOpen before counted. A counted TCP connection holds a place
	// under the TCP limit and, if hold.hasKey, under the per-address limit
	// for hold.key; uncount reads them after counted.Swap.
	hold holdEntry // place in Server.hold (hold.go)

	whoA      atomic.Pointer[access.Identity] // who, for `clients` (setWho)
	cut       atomic.Bool                     // the reply was cut short: the socket ends with a reset
	finalized atomic.Bool
	counted   atomic.Bool // holds a place under the connection limits
	phase     atomic.Uint32
	deadline  atomic.Int64 // unix nanos; the scanner acts after it, 0 = none
	modeA     atomic.Uint32
	requests  atomic.Int64
	bytesIn   atomic.Int64
	bytesOut  atomic.Int64

	// output limit (outlimit.go)
	overSince atomic.Int64 // unix nanos since unsent output is over OutputLimit, 0 = not over
	limitHit  atomic.Bool  // reset by the output limit
	streams   atomic.Int64 // stream items queued or being written
}

// output is the ordered queue of reply pieces that the event loop could not
// write at once. Only one writer goroutine drains it at a time.
type output struct {
	mu      sync.Mutex
	queue   []outItem
	queued  int  // bytes in queue (streams count as 0)
	writing bool // a writer goroutine owns the queue
	dup     net.Conn
}

// outItem is one piece of output: bytes, or a stream produced by a handler.
type outItem struct {
	buf    []byte
	pooled *[]byte // returned to the pool once written
	stream func(io.Writer) error
	size   int64 // expected stream length, -1 = unchecked
	close  bool  // the connection ends after this piece
}

// oneShot: one request, one reply, close (VoIPmonitor's model).
func (c *conn) oneShot() bool { return c.mode == modeText || c.mode == modeLegacy }

// lineMode: persistent line-based input (JSON sessions, hardened frames).
func (c *conn) lineMode() bool { return c.mode == modeJSON || c.mode == modeHardened }

// maxLine is the longest input line this connection may send.
func (c *conn) maxLine() int {
	if c.mode == modeHardened {
		return crypto.MaxFrameLine(c.eng.srv.cfg.MaxRequest)
	}
	return c.eng.srv.cfg.MaxRequest
}

func (c *conn) setPhase(p phase) { c.phase.Store(uint32(p)) }
func (c *conn) getPhase() phase  { return phase(c.phase.Load()) }

func (c *conn) setDeadline(d time.Duration) {
	if d <= 0 {
		c.deadline.Store(0)
		return
	}
	c.deadline.Store(time.Now().Add(d).UnixNano())
}

// idleDeadline is when a JSON session waiting for a request ends. Only an
// answered request moves it (resume sets idleFrom): blank lines and other
// input that holds no request do not, so a client cannot keep a connection
// slot forever by sending "\n" now and then. Before the first answer the
// first request is due within ReadTimeout of connecting. On the loop.
func (c *conn) idleDeadline() int64 {
	s := c.eng.srv
	if c.idleFrom == 0 {
		return c.opened.Add(s.cfg.ReadTimeout).UnixNano()
	}
	return c.idleFrom + int64(s.cfg.IdleTimeout)
}

// setWho changes who c is. Loop- or job-owned, like who.
func (c *conn) setWho(who access.Identity) {
	c.who = who
	c.whoGen++
	c.whoA.Store(&who)
}

func (c *conn) info(now time.Time) commands.ClientInfo {
	var who access.Identity
	if p := c.whoA.Load(); p != nil {
		who = *p
	}
	return commands.ClientInfo{
		Identity: who.Name, Level: who.Level.String(), Via: who.Via.String(),
		ID: c.id, Peer: c.peer, Listener: c.listener,
		Mode: wireMode(c.modeA.Load()).String(), State: c.getPhase().String(),
		AgeMS:    now.Sub(c.opened).Milliseconds(),
		Requests: c.requests.Load(), BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		Streams: c.streams.Load(),
	}
}

// The life of a connection: OnOpen admits it, OnTraffic hands its bytes to
// its wire (wire.go), dispatch runs each job its wire makes on the loop or
// a worker, complete and deliver send the reply in order, onClose keeps
// what a half-closed client still gets, finalize lets go.

func (e *engine) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := e.srv
	var addr netip.Addr // the TCP peer's address, parsed once for every check
	if e.name == "tcp" {
		addr, _ = tcpAddr(gc.RemoteAddr())
		if s.refuseAtAccept(addr, gc) { // not a byte read or written (guard.go)
			return nil, gnet.Close
		}
	}
	c := &conn{id: s.nextID.Add(1), eng: e, gc: gc, loop: gc.EventLoop(), listener: e.name, opened: time.Now(), addr: addr}
	c.peer = peerOf(gc, e.name)
	gc.SetContext(c)
	s.total.Add(1)
	e.mu.Lock()
	e.conns[c.id] = c
	e.mu.Unlock()
	if e.draining.Load() {
		c.rejected = true
		return []byte("error: shutting down\n"), gnet.Close
	}
	if msg := e.holdPlace(c); msg != nil { // the descriptor budget is spent: refuse at once, no linger
		c.rejected = true
		s.rejected.Add(1)
		return msg, gnet.Close
	}
	if msg := e.admit(c); msg != nil {
		return e.reject(c, msg)
	}
	who, refused := s.connectIdentity(c)
	if refused != nil {
		return e.reject(c, refused)
	}
	c.setWho(who)
	c.setDeadline(s.cfg.ReadTimeout)
	return nil, gnet.None
}

// holdPlace registers c under the descriptor budget: TCP connections of
// every state hold at most limits.tcpHard places (hold.go), so the Unix
// socket always finds its reserve inside limits.hard. It returns the refusal
// if there is no place.
func (e *engine) holdPlace(c *conn) []byte {
	s := e.srv
	if e.name == "tcp" {
		return e.holdTCP(c, access.AddrKey(c.addr), c.addr.IsValid())
	}
	if s.hold.unix.Add(1)+int64(s.holdTCPCount()) > int64(s.limits.hard) {
		s.hold.unix.Add(-1)
		return msgTooMany
	}
	c.hold.unix = true
	return nil
}

// reject answers a connection over a limit with msg. It lingers like any
// reply so the message is not lost to a reset, but only while few rejects are
// pending, so a flood cannot hold file descriptors.
func (e *engine) reject(c *conn, msg []byte) ([]byte, gnet.Action) {
	s := e.srv
	c.rejected = true
	s.rejected.Add(1)
	lingerMax := int64(maxRejectLinger)
	if e.name == "tcp" {
		lingerMax -= holdUnixRejects // refused TCP clients cannot take the Unix socket's slots
	}
	if s.rejectLinger.Add(1) > lingerMax {
		s.rejectLinger.Add(-1)
		return msg, gnet.Close
	}
	c.rejectSlot = true
	c.deliver([]outItem{{buf: msg, close: true}})
	return nil, gnet.None
}

const maxRejectLinger = 64

func (e *engine) OnTraffic(gc gnet.Conn) gnet.Action {
	c := gc.Context().(*conn)
	buf, _ := gc.Peek(-1)
	if n := len(buf) - c.leftover; n > 0 {
		c.bytesIn.Add(int64(n))
		e.srv.bytesIn.Add(int64(n))
	}
	if c.rejected || c.getPhase() == phLinger || (c.oneShot() && c.getPhase() != phReading) {
		_, _ = gc.Discard(-1) // after the one request, input is ignored
		c.leftover = 0
		return gnet.None
	}
	if len(buf) == 0 {
		return gnet.None
	}
	if c.mode == modeUnknown {
		m, more := detectMode(buf)
		if more {
			c.leftover = len(buf)
			return gnet.None
		}
		c.mode = m
		c.modeA.Store(uint32(m))
	}
	c.wire().traffic(c, buf)
	return gnet.None
}

func (e *engine) OnClose(gc gnet.Conn, _ error) gnet.Action {
	if c, ok := gc.Context().(*conn); ok {
		c.onClose()
	}
	return gnet.None
}

// dispatch runs j: on the loop when its wire says all of it may run
// there, on a worker otherwise. On the loop.
func (c *conn) dispatch(j *job) {
	e := c.eng
	if e.draining.Load() {
		j.release()
		c.failNow("shutting down", "shutting_down")
		return
	}
	c.setPhase(phBusy)
	c.deadline.Store(0)
	if c.wire().prepare(e.srv, j) {
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
// after gnet lets go; input the client sent before its EOF is kept to be
// answered (wire.eof).
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

// takeEOFRequest hands the input still unread at the client's half-close
// to the wire: a one-shot request that ended with EOF instead of a
// newline, or every request a session sent.
func (c *conn) takeEOFRequest(rest []byte) {
	if c.mode == modeUnknown || len(bytes.TrimSpace(rest)) == 0 {
		return
	}
	if c.oneShot() && c.getPhase() != phReading {
		return
	}
	c.wire().eof(c, rest)
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
