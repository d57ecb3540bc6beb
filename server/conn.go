package server

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"tapline/commands"
	"tapline/crypto"
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
	listener string
	opened   time.Time

	// loop-owned
	mode       Mode
	inner      Mode      // hardened: what the frames carry (set by the worker that opens the first)
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

	// set in OnOpen before counted; read by uncount after counted.Swap
	tcpCounted bool       // holds a place under the TCP limit
	hasIP      bool       // holds a place under the per-address limit
	ipKey      netip.Addr // that address (IPv4, or IPv6 /64)
	hold       holdEntry  // place in Server.hold (hold.go)

	cut       atomic.Bool // the reply was cut short: the socket ends with a reset
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
func (c *conn) oneShot() bool { return c.mode == ModeText || c.mode == ModeLegacy }

// lineMode: persistent line-based input (JSON sessions, hardened frames).
func (c *conn) lineMode() bool { return c.mode == ModeJSON || c.mode == ModeHardened }

// maxLine is the longest input line this connection may send.
func (c *conn) maxLine() int {
	if c.mode == ModeHardened {
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

func (c *conn) info(now time.Time) commands.ClientInfo {
	return commands.ClientInfo{
		ID: c.id, Peer: c.peer, Listener: c.listener,
		Mode: Mode(c.modeA.Load()).String(), State: c.getPhase().String(),
		AgeMS:    now.Sub(c.opened).Milliseconds(),
		Requests: c.requests.Load(), BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		Streams: c.streams.Load(),
	}
}
