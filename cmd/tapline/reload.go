package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"tapline/config"
	"tapline/redisstore"
	"tapline/server"
)

// rereadConfig reads the config file again with the command-line flags
// applied on top, as at start, for reload and SIGHUP. Unlike loadConfig it
// leaves logging alone and reports warnings only by count: a reload must
// not change where the log goes.
func rereadConfig(file string, fs *pflag.FlagSet) func() (config.Config, error) {
	return func() (config.Config, error) {
		cfg, warns, err := readWithFlags(file, fs)
		if err == nil && len(warns) > 0 {
			slog.Warn("config: reload found warnings (see the start log for the kinds)", "count", len(warns))
		}
		return cfg, err
	}
}

// reloadOnHUP applies a SIGHUP: the same as the reload command. It never
// ends the process; a bad config keeps the old settings (Reload logs why).
func reloadOnHUP(srv *server.Server) {
	r, err := srv.ReloadAccess()
	if err != nil {
		return // logged by the server, one line
	}
	slog.Info("SIGHUP: access settings reloaded", "changed", strings.Join(r.Changed, ","),
		"needs_restart", strings.Join(r.NeedsRestart, ","))
}

// allowPoll is how often the runtime allowlist is re-read from Redis even
// without an event: a missed Pub/Sub message costs at most this long.
const allowPoll = time.Second

// watchAllowlist keeps the server's runtime allowlist in step with Redis:
// on every "allowlist" event (and every reconnect of the subscription) and
// every allowPoll. While Redis is unreachable the entries last read stay
// in force, and so they do when Redis answers with an empty set but
// without the operator's clear marker (it lost the set: the server keeps
// them and says so). The first failure and the recovery are logged, not every poll.
func watchAllowlist(ctx context.Context, st *redisstore.Store, srv *server.Server) {
	events := st.Subscribe(ctx)
	tick := time.NewTicker(allowPoll)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-tick.C:
		}
		entries, cleared, err := st.ListAllow(ctx)
		if err == nil {
			err = srv.SetRuntimeAllow(entries, cleared)
		}
		switch {
		case err != nil && !failing:
			slog.Warn("runtime allowlist: Redis unreadable or holding invalid entries; the entries last applied stay in force (valid ones still apply)", "err", err)
		case err == nil && failing:
			slog.Info("runtime allowlist: Redis entries applied again")
		}
		failing = err != nil
	}
}
