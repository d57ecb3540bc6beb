package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/panjf2000/gnet/v2"

	"tapline/commands"
)

// startUnix opens a Unix listener at path. The path is verified and the
// socket created and published by tapline (sockpath.go); gnet only binds
// inside a private directory. The error says why, for the log.
func (s *Server) startUnix(path string, perm sockPerm) (*engine, error) {
	u, err := prepareSocket(path, perm)
	if err != nil {
		return nil, fmt.Errorf("manager socket %q: %w", path, err)
	}
	e := newEngine(s, "unix", "unix://"+path, path)
	e.sock = u
	e.bind = u.gnetAddr()
	if err := s.runEngine(e, gnet.WithNumEventLoop(1), gnet.WithTicker(true), gnet.WithLogger(gnetLogger{})); err != nil {
		s.releaseWhenExited(e)
		return nil, fmt.Errorf("manager socket %q: %w", path, err)
	}
	if err := u.publish(); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.stopEngine(ctx, e)
		return nil, fmt.Errorf("manager socket %q: %w", path, err)
	}
	slog.Info("manager listening", "listener", "unix", "path", path)
	return e, nil
}

// configuredSocketPath makes a relative managersocket path (an operator's
// choice, e.g. `make run`) absolute against the working directory, without
// cleaning it: "./x" or "a/../x" still fail checkSocketSyntax.
func configuredSocketPath(p string) (string, error) {
	if p == "" || filepath.IsAbs(p) {
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(wd, "/") + "/" + p, nil
}

// releaseWhenExited releases e's socket once its engine has exited: until
// then gnet may still use the private directory, and its descriptor number
// must not be reused. An engine that booted after its start timed out is
// stopped.
func (s *Server) releaseWhenExited(e *engine) {
	go func() {
		select {
		case <-e.booted:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = e.ge.Stop(ctx)
			cancel()
		case <-e.exited:
		}
		<-e.exited
		e.releaseSocket()
	}()
}

// ManagerFileStart implements `manager_file start [path]` with VoIPmonitor's replies.
func (s *Server) ManagerFileStart(path string, _ commands.ConnInfo) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil {
		return "running (" + s.file.path + ")\n", nil
	}
	p, err := s.managerFilePath(path)
	var e *engine
	if err == nil {
		e, err = s.startUnix(p, fileSockPerm)
	}
	if err != nil {
		// One text for every refusal: the reason would tell a remote
		// client what exists on the sensor's file system.
		slog.Warn("manager_file start refused", "err", err)
		return "", errRefusedPath
	}
	s.file = e
	return "OK (" + p + ")\n", nil
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
