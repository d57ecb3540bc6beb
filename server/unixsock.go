package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"tapline/commands"
)

// checkSocketPath refuses a path gnet must not touch: gnet removes whatever
// exists at a Unix address before binding (directories included), so only a
// missing path or a stale socket nobody answers on may be used.
func checkSocketPath(path string) error {
	if path == "" {
		return errors.New("empty socket path")
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return fmt.Errorf("socket directory %s does not exist", filepath.Dir(path))
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
	}
	c, err := net.DialTimeout("unix", path, 300*time.Millisecond)
	if err == nil {
		_ = c.Close()
		return fmt.Errorf("%s is in use by a running server", path)
	}
	return nil // stale socket: replaced
}

// umaskMu serialises the process-wide umask change around bind, so the
// socket is created 0600 instead of briefly following the umask.
var umaskMu sync.Mutex

func (s *Server) startUnix(path string) (*engine, error) {
	if err := checkSocketPath(path); err != nil {
		return nil, fmt.Errorf("manager socket: %w", err)
	}
	e := newEngine(s, "unix", "unix://"+path, path)
	umaskMu.Lock()
	old := syscall.Umask(0o177)
	err := s.run(e, gnet.WithNumEventLoop(1), gnet.WithTicker(true), gnet.WithLogger(gnetLogger{}))
	syscall.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("manager socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		slog.Warn("manager socket chmod failed", "path", path, "err", err)
	}
	slog.Info("manager listening", "listener", "unix", "path", path)
	return e, nil
}

// ManagerFileStart implements `manager_file start [path]` with VoIPmonitor's replies.
func (s *Server) ManagerFileStart(path string, _ commands.ConnInfo) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil {
		return "running (" + s.file.path + ")\n", nil
	}
	if path == "" {
		path = filepath.Join(os.TempDir(),
			"tapline-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(s.seq.Add(1), 10)+".sock")
	}
	e, err := s.startUnix(path)
	if err != nil {
		return "", fmt.Errorf("manager_file start: %w", err)
	}
	s.file = e
	return "OK (" + path + ")\n", nil
}

// ManagerFileStop implements `manager_file stop`. A stop that arrives on the
// listener being stopped cannot wait for itself: it is answered first and
// the listener stops right after.
func (s *Server) ManagerFileStop(from commands.ConnInfo) (string, error) {
	s.mu.Lock()
	e := s.file
	switch {
	case e == nil:
		s.mu.Unlock()
		return "not running\n", nil
	case e.configured:
		s.mu.Unlock()
		return "manager enabled via the managersocket option cannot be terminated\n", nil
	}
	s.file = nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	if from.Engine == any(e) {
		go func() {
			defer cancel()
			if err := s.stopEngine(ctx, e); err != nil {
				slog.Warn("manager_file stop", "err", err)
			}
		}()
		return "OK\n", nil
	}
	defer cancel()
	if err := s.stopEngine(ctx, e); err != nil {
		return "", fmt.Errorf("manager_file stop: %w", err)
	}
	return "OK\n", nil
}

func sortClients(c []commands.ClientInfo) {
	sort.Slice(c, func(i, j int) bool { return c[i].ID < c[j].ID })
}
