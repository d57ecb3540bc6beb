package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"tapline/commands"
	"tapline/config"
	"tapline/crypto"
	"tapline/keyring"
	"tapline/sensor"
)

// Server owns the manager listeners, the worker pool and the counters.
type Server struct {
	cfg    config.Config
	table  *commands.Table
	keys   *keyring.Ring
	opener *crypto.Opener
	sensor *sensor.Sensor
	pool   *pool
	ctx    context.Context
	stop   context.CancelFunc

	started      time.Time
	nextID       atomic.Uint64
	served       atomic.Int64 // connections counted against MaxConnections
	total        atomic.Int64
	rejected     atomic.Int64
	outLimited   atomic.Int64 // connections reset by manager_output_limit
	rejectLinger atomic.Int64
	bytesIn      atomic.Int64
	bytesOut     atomic.Int64
	errors       atomic.Int64
	writers      atomic.Int64
	reqs         []atomic.Int64

	fatal chan error

	mu   sync.Mutex // tcp, file
	tcp  *engine
	file *engine // the one Unix listener: managersocket or manager_file
	seq  atomic.Int64
}

// replayEntries bounds the hardened replay cache: requests accepted within
// two frame windows. Past it new frames are refused (fail closed).
const replayEntries = 1 << 20

// New prepares a server; Start opens the listeners. keys may be nil (no
// encryption key: plaintext is accepted, as in VoIPmonitor without a key).
func New(cfg config.Config, table *commands.Table, keys *keyring.Ring) *Server {
	if keys == nil {
		keys = keyring.New(cfg.KeyGrace)
	}
	s := &Server{cfg: cfg, table: table, keys: keys, started: time.Now(), fatal: make(chan error, 4)}
	s.opener = crypto.NewOpener(keys.Lookup, cfg.FrameWindow, crypto.NewReplayCache(cfg.FrameWindow, replayEntries))
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
	s.checkFDLimit()
	if s.cfg.ManagerPort > 0 {
		hostPort := net.JoinHostPort(s.cfg.ManagerIP, strconv.Itoa(s.cfg.ManagerPort))
		e := newEngine(s, "tcp", "tcp://"+hostPort, "")
		err := error(nil)
		if s.cfg.ReusePort {
			err = probePort(hostPort)
		}
		if err == nil {
			err = s.run(e, s.tcpOptions()...)
		}
		if err != nil {
			return fmt.Errorf("listen on %s:%d: %w", s.cfg.ManagerIP, s.cfg.ManagerPort, err)
		}
		s.mu.Lock()
		s.tcp = e
		s.mu.Unlock()
		slog.Info("manager listening", "listener", "tcp", "addr", e.addr)
	}
	if s.cfg.ManagerSocket != "" {
		e, err := s.startUnix(s.cfg.ManagerSocket)
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

// checkFDLimit warns when the connection limit could exhaust file
// descriptors: gnet shuts a whole engine down on EMFILE (Start's caller then
// exits), so the limit must stay below what the process may open. Each
// connection may hold two descriptors (gnet's and a dup for its reply).
func (s *Server) checkFDLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	need := uint64(2*s.cfg.MaxConnections + maxRejectLinger + 64)
	if need > rl.Cur {
		slog.Warn("manager_max_connections may exhaust file descriptors; raise the nofile limit or lower it",
			"manager_max_connections", s.cfg.MaxConnections, "fds_needed", need, "nofile", rl.Cur)
	}
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

// run starts e in its own goroutine and waits until it is listening. An
// engine that stops without being asked is fatal: gnet shuts a whole engine
// down on accept errors such as EMFILE and Run then returns nil.
func (s *Server) run(e *engine, opts ...gnet.Option) error {
	go func() {
		e.runErr = gnet.Run(e, e.addr, opts...)
		close(e.exited)
		if !e.stopping.Load() {
			select {
			case <-e.booted:
				s.fatal <- fmt.Errorf("%s listener %s stopped unexpectedly (err=%v)", e.name, e.addr, e.runErr)
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

// Fatal delivers an error when a listener dies on its own.
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
			goto stop
		case <-tick.C:
		}
	}
stop:
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.ge.Stop(sctx)
	<-e.exited
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

// Table implements commands.Host.
func (s *Server) Table() *commands.Table { return s.table }

// Stats implements commands.Host.
func (s *Server) Stats() commands.Stats {
	st := commands.Stats{
		Started: s.started, ConnsOpen: s.served.Load(), ConnsTotal: s.total.Load(),
		ConnsRejected: s.rejected.Load(), ConnsOutputLimited: s.outLimited.Load(), BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(),
		Errors: s.errors.Load(), Requests: make([]int64, len(s.reqs)),
	}
	st.Drops, st.Capture = s.captureStats()
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

// Clients implements commands.Host.
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

// HasKey implements commands.Host.
func (s *Server) HasKey() bool {
	_, ok := s.keys.Current()
	return ok
}

// KeyStatus implements commands.Host.
func (s *Server) KeyStatus() []byte {
	b, err := json.Marshal(s.keys.Status())
	if err != nil {
		return []byte("null")
	}
	return b
}
