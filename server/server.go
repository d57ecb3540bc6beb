package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"tapline/commands"
	"tapline/config"
	"tapline/crypto"
	"tapline/keyring"
	"tapline/tokens"
)

// Server owns the manager listeners, the worker pool and the counters.
type Server struct {
	cfg    config.Config
	table  *commands.Table
	keys   *keyring.Ring
	opener *crypto.Opener
	replay *crypto.ReplayCache // the opener's; its counters are in sniffer_stat
	env    *commands.Env       // the sensor's data, handed to every request
	pool   *pool
	ctx    context.Context
	stop   context.CancelFunc

	started      time.Time
	nextID       atomic.Uint64
	served       atomic.Int64 // connections counted against limits.max
	total        atomic.Int64
	rejected     atomic.Int64
	outLimited   atomic.Int64 // connections reset by manager_output_limit
	rejectLinger atomic.Int64
	bytesIn      atomic.Int64
	bytesOut     atomic.Int64
	errors       atomic.Int64
	legacyWorker atomic.Int64 // legacy requests sent to a worker (all but known inline commands)
	reqs         []atomic.Int64

	// connection limits (limits.go) and cut replies (reset.go)
	limits        connLimits   // set by Start before any listener runs
	tcpServed     atomic.Int64 // TCP connections counted against limits.tcp
	ipMu          sync.Mutex
	perIP         map[netip.Addr]int // TCP connections counted per address
	rejectedPerIP atomic.Int64
	hold          holdRegistry // descriptors held per address and by TCP (hold.go)
	resets        atomic.Int64 // replies cut short and ended with a reset

	fatal chan error

	access      accessState                // the access policy in force (access.go)
	guard       guard                      // allowlist, failure backoff, rate limit, audit bounds (guard.go)
	policyErr   error                      // the config's access settings did not resolve: Start fails
	prot        protectState               // protected mode (protected.go)
	peerRefused atomic.Int64               // Unix peers without a level, refused at connect
	tokens      atomic.Pointer[tokens.Set] // access tokens (tokens.go); nil: none accepted
	authFailed  atomic.Int64               // auth refusals

	mu   sync.Mutex // tcp, file
	tcp  *engine
	file *engine // the one Unix listener: managersocket or manager_file
}

// The hardened replay cache keeps requests only while their timestamps are
// within the frame window, at most replayPerKey of them per key id (the
// whole 30 s window at about 17,000 requests a second; about 21 MiB) and for
// at most replayKeys key ids (the current key and those in
// their grace period need a few). A key over its budget first forgets its
// oldest past frames and refuses frames older than them, so a key holder's
// flood locks nobody out (crypto.ReplayCache).
const (
	replayPerKey = 1 << 19
	replayKeys   = 8
)

// New prepares a server; Start opens the listeners. keys may be nil (no
// encryption key: plaintext is accepted, as in VoIPmonitor without a key).
// env is what handlers read of the sensor (its tables and counters, the
// key ring's status); the server only hands it on. It may be nil (no
// sensor: empty listings, no key shown).
func New(cfg config.Config, table *commands.Table, keys *keyring.Ring, env *commands.Env) *Server {
	if keys == nil {
		keys = keyring.New(cfg.KeyGrace)
	}
	s := &Server{cfg: cfg, table: table, keys: keys, env: env, started: time.Now(), fatal: make(chan error, 4), perIP: map[netip.Addr]int{}}
	s.setPolicy(&cfg)
	s.initGuard(&cfg)
	s.limits = computeLimits(cfg.MaxConnections, cfg.MaxConnectionsPerIP, cfg.UnixReserved, 0, 0)
	s.replay = crypto.NewReplayCache(cfg.FrameWindow, replayPerKey, replayKeys)
	s.opener = crypto.NewOpener(keys.Lookup, cfg.FrameWindow, s.replay)
	s.reqs = make([]atomic.Int64, table.Len())
	s.ctx, s.stop = context.WithCancel(context.Background()) // handlers' context, cancelled on shutdown
	workers := cfg.Workers
	if workers <= 0 {
		workers = max(8, 4*runtime.GOMAXPROCS(0))
	}
	s.pool = newPool(workers, cfg.Queue, s.runJob)
	return s
}

// Start opens the TCP listener (unless managerport is 0) and the configured
// Unix socket. It returns once both accept connections.
func (s *Server) Start() error {
	if s.policyErr != nil {
		return s.policyErr
	}
	s.setupLimits()
	if s.cfg.ManagerPort > 0 {
		hostPort := net.JoinHostPort(s.cfg.ManagerIP, strconv.Itoa(s.cfg.ManagerPort))
		e := newEngine(s, "tcp", "tcp://"+hostPort, "")
		err := error(nil)
		if s.cfg.ReusePort {
			err = probePort(hostPort)
		}
		if err == nil {
			err = s.runEngine(e, s.tcpOptions()...)
		}
		if err != nil {
			return fmt.Errorf("listen on %s:%d: %w", s.cfg.ManagerIP, s.cfg.ManagerPort, err)
		}
		s.mu.Lock()
		s.tcp = e
		s.mu.Unlock()
		slog.Info("manager listening", "listener", "tcp", "addr", e.addr)
		s.NoteAccessChange()
	}
	if s.cfg.ManagerSocket != "" {
		path, err := configuredSocketPath(s.cfg.ManagerSocket)
		if err != nil {
			return fmt.Errorf("manager socket %q: %w", s.cfg.ManagerSocket, err)
		}
		perm, err := s.configuredSockPerm()
		if err != nil {
			return err
		}
		e, err := s.startUnix(path, perm)
		if err != nil {
			return err
		}
		e.configured = true
		s.mu.Lock()
		s.file = e
		s.mu.Unlock()
	}
	return nil
}

// tcpOptions: SO_REUSEADDR so a restart does not fail on TIME_WAIT. With
// manager_reuseport, SO_REUSEPORT gives every event loop its own listening
// socket: one-shot clients (a connection per request) skip gnet's accept
// hand-off between loops, about 15 % more connections per second here.
// probePort keeps SO_REUSEPORT from letting a second tapline share the port.
func (s *Server) tcpOptions() []gnet.Option {
	opts := []gnet.Option{gnet.WithReuseAddr(true), gnet.WithTicker(true), gnet.WithLogger(gnetLogger{})}
	if s.cfg.ReusePort {
		opts = append(opts, gnet.WithReusePort(true))
	}
	if s.cfg.EventLoops > 0 {
		return append(opts, gnet.WithNumEventLoop(s.cfg.EventLoops))
	}
	return append(opts, gnet.WithMulticore(true))
}

// probePort binds addr without SO_REUSEPORT and lets it go. Sockets bound
// with SO_REUSEPORT by the same user share a port silently, so a second
// tapline started by mistake would take part of the first one's
// connections; a plain bind fails on any socket already there instead.
func probePort(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// runEngine starts e in its own goroutine and waits until it is listening. An
// engine that stops without being asked is restarted (revive): gnet shuts a
// whole engine down on accept errors such as EMFILE or ENFILE and Run then
// returns nil.
func (s *Server) runEngine(e *engine, opts ...gnet.Option) error {
	go func() {
		e.runErr = gnet.Run(e, e.gnetAddr(), opts...)
		close(e.exited)
		if !e.stopping.Load() {
			select {
			case <-e.booted:
				go s.revive(e, opts)
			default:
			}
		}
	}()
	select {
	case <-e.booted:
		return nil
	case <-e.exited:
		if e.runErr == nil {
			return errors.New("engine exited during start")
		}
		return e.runErr
	case <-time.After(10 * time.Second):
		e.stopping.Store(true)
		return errors.New("timed out starting listener")
	}
}

// Reviving a dead engine: the first attempt after reviveFirst, then backing
// off to reviveMax between attempts; after reviveGiveUp of failures the
// listener is reported on Fatal (a supervisor can do better than retrying).
const (
	reviveFirst  = 200 * time.Millisecond
	reviveMax    = 5 * time.Second
	reviveGiveUp = 5 * time.Minute
)

// revive replaces an engine that gnet shut down by itself. That happens
// when accept fails with anything but EAGAIN-like errors: EMFILE (the
// descriptor budget of limits.go makes it unlikely, but a main reactor,
// used by Unix listeners and with manager_reuseport = no, accepts a whole
// backlog before any OnOpen can refuse), or ENFILE (system-wide, out of
// tapline's hands). gnet has closed the engine's connections; new ones are
// refused by the kernel until the listener is back. The process keeps
// running and every other listener keeps serving.
func (s *Server) revive(dead *engine, opts []gnet.Option) {
	slog.Error("manager listener stopped unexpectedly (accept failed, e.g. too many open files); restarting it",
		"listener", dead.name, "addr", dead.addr, "err", dead.runErr)
	wait, start := reviveFirst, time.Now()
	for {
		time.Sleep(wait)
		e, gone, err := s.reopen(dead, opts)
		if gone {
			return
		}
		if err == nil {
			slog.Warn("manager listener restarted", "listener", e.name, "addr", e.addr, "down_for", time.Since(start).Round(time.Millisecond).String())
			return
		}
		if time.Since(start) > reviveGiveUp {
			s.fatal <- fmt.Errorf("%s listener %s stopped unexpectedly and could not be reopened for %v: %w", dead.name, dead.addr, reviveGiveUp, err)
			return
		}
		slog.Error("manager listener restart failed; retrying", "listener", dead.name, "addr", dead.addr, "err", err, "retry_in", wait)
		wait = min(2*wait, reviveMax)
	}
}

// reopen starts a replacement for dead unless dead was meanwhile stopped or
// replaced (gone: Shutdown, manager_file stop). The listener starts without
// holding s.mu, so stats and clients are not held up meanwhile.
func (s *Server) reopen(dead *engine, opts []gnet.Option) (e *engine, gone bool, err error) {
	slot := func() **engine {
		if dead.name == "tcp" {
			return &s.tcp
		}
		return &s.file
	}()
	s.mu.Lock()
	alive := *slot == dead
	s.mu.Unlock()
	if !alive {
		return nil, true, nil
	}
	if dead.name == "tcp" {
		e = newEngine(s, "tcp", dead.addr, "")
		err = s.runEngine(e, opts...)
	} else {
		e, err = s.startUnix(dead.path, dead.sock.perm)
	}
	if err != nil {
		return nil, false, err
	}
	e.configured = dead.configured
	s.mu.Lock()
	alive = *slot == dead
	if alive {
		*slot = e
	}
	s.mu.Unlock()
	if !alive { // stopped while we reopened: stop the replacement too
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		_ = s.stopEngine(ctx, e)
		return nil, true, nil
	}
	return e, false, nil
}

// Fatal delivers an error when a listener died on its own and could not be
// reopened for reviveGiveUp.
func (s *Server) Fatal() <-chan error { return s.fatal }

// TCPAddr is the TCP listener's address, "" when TCP is off.
func (s *Server) TCPAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tcp == nil {
		return ""
	}
	return s.tcp.addr
}

// Shutdown stops accepting, lets in-flight requests and replies finish (up to
// ShutdownTimeout or ctx), then stops every engine, which removes the Unix
// socket files.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	var engines []*engine
	for _, e := range []*engine{s.tcp, s.file} {
		if e != nil {
			engines = append(engines, e)
		}
	}
	s.tcp, s.file = nil, nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(engines))
	for i, e := range engines {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.stopEngine(ctx, e) }()
	}
	wg.Wait()
	s.stop()
	s.pool.close()
	return errors.Join(errs...)
}

// stopEngine drains e (bounded by ctx), then stops it.
func (s *Server) stopEngine(ctx context.Context, e *engine) error {
	e.stopping.Store(true)
	e.draining.Store(true)
	e.closeIdle()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for e.jobs.Load() > 0 || e.writers.Load() > 0 {
		select {
		case <-ctx.Done():
			slog.Warn("manager: shutdown timeout, dropping in-flight replies", "listener", e.name,
				"jobs", e.jobs.Load(), "writers", e.writers.Load())
			e.cutBusy("shutdown timeout: the reply was not complete within manager_shutdown_timeout")
			goto stop
		case <-tick.C:
		}
	}
stop:
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.ge.Stop(sctx)
	<-e.exited
	e.releaseSocket()
	if err != nil {
		return fmt.Errorf("stop %s listener: %w", e.name, err)
	}
	slog.Info("manager listener stopped", "listener", e.name, "addr", e.addr)
	return nil
}

// closeIdle ends connections that are waiting for a request: during a drain
// they would only hold it up.
func (e *engine) closeIdle() {
	e.mu.Lock()
	var idle []*conn
	for _, c := range e.conns {
		if c.getPhase() == phReading || c.getPhase() == phLinger {
			idle = append(idle, c)
		}
	}
	e.mu.Unlock()
	for _, c := range idle {
		e.execute(c, func() {
			if !c.closed && !c.inflight && !c.queueBusy() && c.getPhase() != phBusy {
				_ = c.loop.Close(c.gc)
			}
		})
	}
}

// Table implements commands.Server.
func (s *Server) Table() *commands.Table { return s.table }

// Stats implements commands.Server.
func (s *Server) Stats() commands.Stats {
	st := commands.Stats{
		Started: s.started, ConnsOpen: s.served.Load(), ConnsTotal: s.total.Load(),
		ConnsRejected: s.rejected.Load(), RejectedPerIP: s.rejectedPerIP.Load(), Protected: s.prot.refused.Load(), PeerRefused: s.peerRefused.Load(), LingerClosed: s.hold.evicted.Load(), RepliesReset: s.resets.Load(), ConnsOutputLimited: s.outLimited.Load(), BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(),
		Errors: s.errors.Load(), Requests: make([]int64, len(s.reqs)),
		ReplayFull: s.replay.Stats().Full(),
	}
	for _, c := range s.guardCounters() {
		st.Access = append(st.Access, commands.Counter{Name: c.name, Value: uint64(c.n)})
	}
	s.tokenStats(&st)
	for i := range s.reqs {
		st.Requests[i] = s.reqs[i].Load()
	}
	s.mu.Lock()
	for _, e := range []*engine{s.tcp, s.file} {
		if e != nil {
			st.Listeners = append(st.Listeners, e.addr)
		}
	}
	s.mu.Unlock()
	return st
}

// Clients implements commands.Server.
func (s *Server) Clients() []commands.ClientInfo {
	s.mu.Lock()
	engines := []*engine{s.tcp, s.file}
	s.mu.Unlock()
	now := time.Now()
	var out []commands.ClientInfo
	for _, e := range engines {
		if e == nil {
			continue
		}
		e.mu.Lock()
		for _, c := range e.conns {
			if !c.rejected {
				out = append(out, c.info(now))
			}
		}
		e.mu.Unlock()
	}
	sortClients(out)
	return out
}
