// Package redistest starts a real redis-server for tests.
//
// Start runs a private redis-server (no persistence) on a free loopback port
// and on a Unix socket in a temporary directory, waits until it answers PING,
// and stops it when the test ends. Stop and Restart simulate Redis going down
// and coming back on the same address, so tests can exercise reconnects.
//
// Tests that use this package need redis-server in PATH; `make deps`
// installs it. Never point tests at a system Redis.
//
// It is for tests only and must not import any tapline package.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// readyTimeout bounds how long Start and Restart wait for PING to answer.
const readyTimeout = 5 * time.Second

// stopGrace is how long Cleanup waits after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// Option configures Start.
type Option func(*config)

type config struct {
	password string
	args     []string
}

// WithPassword makes the server require pw (requirepass). Addr stays the
// same; URL, SocketURL and Client include the password.
func WithPassword(pw string) Option {
	return func(c *config) { c.password = pw }
}

// WithArgs appends raw redis-server arguments, e.g. "--maxmemory", "10mb".
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Server is a running (or deliberately stopped) redis-server owned by one
// test. Stop and Restart must be called from the test's goroutine, since
// they may call t.Fatalf.
type Server struct {
	t    testing.TB
	cfg  config
	bin  string
	dir  string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	client *redis.Client
}

// Start starts redis-server and registers its shutdown with t.Cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t}
	for _, o := range opts {
		o(&s.cfg)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server not found (%v); run `make deps` to install it", err)
	}
	s.bin = bin
	s.dir = tempDir(t)
	t.Cleanup(s.cleanup)

	// A free port can be taken by someone else between probing and
	// redis-server binding it; try a few ports before giving up.
	var lastErr error
	for range 3 {
		s.port, err = freePort()
		if err != nil {
			t.Fatalf("redistest: no free port: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

// Addr is the TCP address, 127.0.0.1:port.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Socket is the path of the Unix socket.
func (s *Server) Socket() string { return filepath.Join(s.dir, "redis.sock") }

// Password is the password given with WithPassword, or "".
func (s *Server) Password() string { return s.cfg.password }

// URL is redis://127.0.0.1:port/0 (with :password@ when one is set).
func (s *Server) URL() string {
	u := url.URL{Scheme: "redis", Host: s.Addr(), Path: "/0"}
	if s.cfg.password != "" {
		u.User = url.UserPassword("", s.cfg.password)
	}
	return u.String()
}

// SocketURL is unix://<dir>/redis.sock (with :password@ when one is set).
func (s *Server) SocketURL() string {
	if s.cfg.password != "" {
		u := url.URL{Scheme: "unix", User: url.UserPassword("", s.cfg.password), Path: s.Socket()}
		return u.String()
	}
	return "unix://" + s.Socket()
}

// Client returns a client for assertions, connected over TCP. It is created
// once, survives Stop/Restart (it reconnects), and is closed at cleanup.
func (s *Server) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewClient(s.options())
	}
	return s.client
}

// Stop kills the server at once (SIGKILL), simulating Redis going down.
// It is a no-op when the server is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill(syscall.SIGKILL, 0)
}

// Restart starts the server again on the same port and socket and waits
// until it answers. A running server is killed first. The data set starts
// empty: nothing is persisted.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

func (s *Server) options() *redis.Options {
	return &redis.Options{
		Addr:          s.Addr(),
		Password:      s.cfg.password,
		DialTimeout:   time.Second,
		ReadTimeout:   time.Second,
		WriteTimeout:  time.Second,
		MaxRetries:    1,
		DialerRetries: 1,
	}
}

func (s *Server) args() []string {
	a := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--unixsocket", s.Socket(),
		"--unixsocketperm", "700",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	}
	if s.cfg.password != "" {
		a = append(a, "--requirepass", s.cfg.password)
	}
	return append(a, s.cfg.args...)
}

// start launches redis-server and waits for PING. On failure the process
// is gone and the error carries the tail of its log.
func (s *Server) start() error {
	logPath := filepath.Join(s.dir, "redis.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	logf.Close() // the child has its own descriptor
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	if err := s.waitReady(exited); err != nil {
		s.mu.Lock()
		s.kill(syscall.SIGKILL, 0)
		s.mu.Unlock()
		return fmt.Errorf("redis-server on %s: %w\n%s", s.Addr(), err, tail(logPath))
	}
	return nil
}

func (s *Server) waitReady(exited <-chan struct{}) error {
	opt := s.options()
	opt.DialTimeout = 200 * time.Millisecond
	opt.ReadTimeout = 200 * time.Millisecond
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	c := redis.NewClient(opt)
	defer c.Close()
	deadline := time.Now().Add(readyTimeout)
	var err error
	for {
		select {
		case <-exited:
			return errors.New("exited before answering PING")
		default:
		}
		// Probe the port with a bare dial first: go-redis logs every
		// failed dial, which would clutter test output.
		var conn net.Conn
		if conn, err = net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond); err == nil {
			conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			err = c.Ping(ctx).Err()
			cancel()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PING answer within %v: %v", readyTimeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// kill sends sig, waits up to grace (0: forever) and then SIGKILLs. The
// caller holds s.mu.
func (s *Server) kill(sig syscall.Signal, grace time.Duration) {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-s.exited:
		case <-time.After(grace):
			_ = s.cmd.Process.Kill()
		}
	}
	<-s.exited
	s.cmd, s.exited = nil, nil
}

func (s *Server) cleanup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
	s.kill(syscall.SIGTERM, stopGrace)
}

// tempDir makes a short directory: a Unix socket path must stay under
// about 104 bytes, which a long TMPDIR plus t.TempDir's name can exceed.
func tempDir(t testing.TB) string {
	t.Helper()
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "redistest-")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last lines of the server log, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "redis-server log:\n" + strings.Join(lines, "\n")
}
