package server

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// engine is one gnet engine: the TCP listener, or one Unix socket listener.
// Unix listeners get their own engine because gnet cannot add or remove a
// listener on a running engine, and a Unix address would turn SO_REUSEPORT
// off for TCP too.
type engine struct {
	gnet.BuiltinEventEngine
	srv        *Server
	name       string // "tcp" or "unix"
	addr       string // listener address as shown (tcp://host:port, unix://path)
	bind       string // address given to gnet when it differs from addr
	path       string // Unix socket path
	sock       *unixSocket
	sockOnce   sync.Once
	configured bool // from managersocket: manager_file stop refuses it

	booted   chan struct{}
	exited   chan struct{}
	runErr   error
	ge       gnet.Engine
	stopping atomic.Bool
	draining atomic.Bool
	jobs     atomic.Int64 // jobs whose result has not reached the loop yet
	writers  atomic.Int64

	mu    sync.Mutex
	conns map[uint64]*conn

	tickConns []*conn // OnTick's scratch copy of conns (ticker goroutine only)
}

func newEngine(s *Server, name, addr, path string) *engine {
	return &engine{srv: s, name: name, addr: addr, path: path,
		booted: make(chan struct{}), exited: make(chan struct{}), conns: map[uint64]*conn{}}
}

// gnetAddr is the address gnet listens on: a Unix engine binds in a private
// directory (sockpath.go), never at the client-given path.
func (e *engine) gnetAddr() string {
	if e.bind != "" {
		return e.bind
	}
	return e.addr
}

// releaseSocket removes the socket file this engine created, once, after
// the engine has exited; a file someone put in its place is left alone.
func (e *engine) releaseSocket() {
	if e.sock == nil {
		return
	}
	e.sockOnce.Do(func() {
		if e.sock.release() {
			slog.Warn("manager socket replaced by another file; left alone", "path", e.path)
		}
	})
}

func (e *engine) OnBoot(ge gnet.Engine) gnet.Action {
	e.ge = ge
	close(e.booted)
	return gnet.None
}

// forget removes c from the registry and the counters, once. The registry
// keeps a connection whose reply still flows on a dup after gnet let go, so
// `clients` and the connection limit see it until it is really done.
func (e *engine) forget(c *conn) {
	if c.finalized.Swap(true) {
		return
	}
	s := e.srv
	e.mu.Lock()
	delete(e.conns, c.id)
	e.mu.Unlock()
	s.holdRelease(c)
	if c.rejectSlot {
		s.rejectLinger.Add(-1)
	}
	c.uncount()
}

// uncount releases c's place under the connection limits, once: when it is done or
// merely lingering for the client's EOF (its reply is complete, and lingering
// is bounded by manager_linger).
func (c *conn) uncount() {
	if c.counted.Swap(false) {
		s := c.eng.srv
		s.served.Add(-1)
		if c.hold.tcp {
			s.tcpServed.Add(-1)
		}
		if c.hold.hasKey {
			s.releaseIP(c.hold.key)
		}
	}
}

// OnTick runs on gnet's ticker goroutine, not on a loop: it only reads
// atomics and hands expired connections to their loops.
func (e *engine) OnTick() (time.Duration, gnet.Action) {
	now := time.Now().UnixNano()
	// Only the pointers are copied under e.mu: the output check takes each
	// connection's queue lock and may ask the kernel (SIOCOUTQ), which must
	// not hold up OnOpen on the other loops.
	e.mu.Lock()
	e.tickConns = e.tickConns[:0]
	for _, c := range e.conns {
		e.tickConns = append(e.tickConns, c)
	}
	e.mu.Unlock()
	for _, c := range e.tickConns {
		if d := c.deadline.Load(); d != 0 && now >= d && c.deadline.CompareAndSwap(d, 0) {
			e.execute(c, c.onDeadline)
		}
		if c.outputOverLimit(now) {
			e.execute(c, c.outputLimited)
		}
	}
	clear(e.tickConns) // no references to closed connections until the next tick
	if e.name == "tcp" {
		e.srv.NoteAccessChange() // protected mode's log follows key, token and allowlist changes
	}
	return tickEvery, gnet.None
}

const tickEvery = 200 * time.Millisecond

// execute runs fn on c's event loop. It reports false when the engine has
// shut down and fn will never run.
func (e *engine) execute(c *conn, fn func()) bool {
	err := c.loop.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		fn()
		return nil
	}))
	return err == nil
}

func peerOf(gc gnet.Conn, listener string) string {
	if listener == "tcp" {
		if a := gc.RemoteAddr(); a != nil {
			return a.String()
		}
		return "?"
	}
	cred, err := unix.GetsockoptUcred(gc.Fd(), unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return "unix"
	}
	return "pid=" + strconv.Itoa(int(cred.Pid)) + " uid=" + strconv.Itoa(int(cred.Uid))
}
