package main

import (
	"context"
	"fmt"
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
// leaves logging alone (a reload must not change where the log goes); it
// logs the file's warnings as at start. A near miss of a security key
// (manager_alow for manager_allow) is an error: the reload is refused and
// the old settings stay, since applying the file would silently drop the
// restriction the operator meant to keep.
func rereadConfig(file string, fs *pflag.FlagSet) func() (config.Config, error) {
	return func() (config.Config, error) {
		cfg, warns, err := readWithFlags(file, fs)
		if err != nil {
			return cfg, err
		}
		if err := securityNearMiss(warns); err != nil {
			return cfg, err
		}
		logWarnings(warns)
		return cfg, nil
	}
}

// securityNearMiss is the error for the config's unknown keys that are
// near misses of a security key, nil when there are none.
func securityNearMiss(warns []config.Warning) error {
	var miss []string
	for _, w := range warns {
		switch {
		case w.Unknown() && w.Security && w.Suggest != "":
			miss = append(miss, fmt.Sprintf("%s:%d: unknown key %s, did you mean %s?", w.File, w.Line, w.Key, w.Suggest))
		case w.Security && w.Suggest != "": // a line that sets nothing, naming a security key
			miss = append(miss, fmt.Sprintf("%s:%d: %s (%s?)", w.File, w.Line, w.Msg, w.Suggest))
		}
	}
	if len(miss) == 0 {
		return nil
	}
	return fmt.Errorf("%s (a misspelt security setting would be dropped: fix the file)", strings.Join(miss, "; "))
}

// reloadOnHUP applies a SIGHUP: the same as the reload command. It never
// ends the process; a bad config keeps the old settings (Reload logs why).
func reloadOnHUP(srv *server.Server) {
	r, err := srv.ReloadAccess()
	if err != nil {
		return // logged by the server, one line
	}
	slog.Info("SIGHUP: access settings reloaded", "changed", strings.Join(r.Changed, ","),
		"needs_restart", strings.Join(r.NeedsRestart, ","), "widened", strings.Join(r.Widened, ","))
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
		gen := srv.AllowGen()
		entries, cleared, err := st.ListAllow(ctx)
		if err == nil {
			err = srv.SetRuntimeAllow(entries, cleared, gen)
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
