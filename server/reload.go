package server

import (
	"errors"
	"log/slog"
	"slices"
	"strings"

	"tapline/access"
	"tapline/commands"
	"tapline/config"
)

// reloadable are the keys Reload applies to a running server; any other
// key that differs from the running config is reported as needing a
// restart.
var reloadable = []string{
	"manager_plain_level", "manager_legacy_level", "manager_key_level", "manager_unix_levels",
	"manager_allow", "manager_protected_mode", "manager_tokens_file", "manager_plain_tokens",
	"manager_rate_limit", "manager_auth_fail_limit", "manager_auth_fail_window", "manager_auth_fail_cooldown",
}

// SetReloader gives the server the way to re-read its config file (the
// server never reads files itself): cmd/tapline's, with the command-line
// flags applied on top as at start. Call before Start.
func (s *Server) SetReloader(reread func() (config.Config, error)) { s.guard.reread = reread }

// OnReload registers what cmd/tapline applies itself after a reload that
// succeeded (the token store's file: the server reads no files). It runs
// under the reload lock, so reloads apply in order. Call before Start.
func (s *Server) OnReload(f func(config.Config)) { s.guard.onReload = f }

// ErrNoReloader: the server was started without a way to re-read its config.
var ErrNoReloader = errors.New("this server has no config file to re-read")

// ReloadAccess implements commands.Server (the reload command) and is what
// SIGHUP calls: re-read the config, then Reload.
func (s *Server) ReloadAccess() (commands.ReloadResult, error) {
	if s.guard.reread == nil {
		return commands.ReloadResult{}, ErrNoReloader
	}
	cfg, err := s.guard.reread()
	if err != nil {
		slog.Error("reload failed, the old settings stay in force", "err", err)
		return commands.ReloadResult{}, err
	}
	return s.Reload(cfg)
}

// Reload installs cfg's access settings (reloadable) without dropping a
// connection: the policy, the config part of the allowlist, the backoff
// settings and the rate limit are swapped whole. Connections keep the
// identity they have; new ones, and every request's level check against a
// per-request identity (legacy key), see the new settings. On an error
// nothing changes. Changed lists the access keys now different,
// NeedsRestart the other keys that differ from the config the server
// started with, Widened the changed keys that give someone more access
// (widen.go): operators do that on purpose, so it applies, but the log
// line is a WARN that names them. A reload applies what the file says: an
// empty file is all defaults, and shows as widened where that is so.
func (s *Server) Reload(cfg config.Config) (r commands.ReloadResult, err error) {
	g := &s.guard
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	defer func() {
		if err != nil {
			slog.Error("reload failed, the old settings stay in force", "err", err)
		}
	}()
	if err := cfg.Validate(); err != nil {
		return r, err
	}
	p, err := newPolicy(&cfg)
	if err != nil {
		return r, err
	}
	for _, k := range config.Diff(&g.loaded, &cfg) {
		if slices.Contains(reloadable, k) {
			r.Changed = append(r.Changed, k)
		}
	}
	for _, k := range config.Diff(&s.cfg, &cfg) {
		if !slices.Contains(reloadable, k) {
			r.NeedsRestart = append(r.NeedsRestart, k)
		}
	}
	old := s.policy()
	r.Widened = p.widens(old)
	if err := s.swapAllowConfig(p); err != nil {
		return commands.ReloadResult{}, err
	}
	s.access.pol.Store(p)
	g.fails.SetSettings(p.fail)
	if p.rate != old.rate {
		g.rate.Store(access.NewRateLimiter(p.rate, 0))
	}
	g.loaded = cfg
	if g.onReload != nil {
		g.onReload(cfg)
	}
	if len(r.Widened) > 0 {
		slog.Warn("config reloaded; access widened by "+strings.Join(r.Widened, ", "), "file", cfg.File,
			"widened", strings.Join(r.Widened, ","), "changed", strings.Join(r.Changed, ","),
			"needs_restart", strings.Join(r.NeedsRestart, ","))
	} else {
		slog.Info("config reloaded", "file", cfg.File, "changed", strings.Join(r.Changed, ","),
			"needs_restart", strings.Join(r.NeedsRestart, ","))
	}
	return r, nil
}

// swapAllowConfig installs p's manager_allow with the runtime entries kept.
func (s *Server) swapAllowConfig(p *policy) error {
	g := &s.guard
	g.allowMu.Lock()
	defer g.allowMu.Unlock()
	next, err := g.allow.Load().WithConfig(p.allow)
	if err != nil {
		return err
	}
	g.allow.Store(next)
	return nil
}
