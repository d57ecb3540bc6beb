package keyring

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"tapline/redisstore"
)

// Watch keeps the ring equal to the key stored in Redis until ctx ends. A
// pub/sub event (sent by `tapline keys store|delete`) triggers a reload at
// once; a periodic re-read covers lost events, so a change takes effect
// within poll. While Redis is unreachable the last key keeps serving and the
// re-read backs off up to maxBackoff; one log line marks each state change.
// Once a key was enforced, Redis without one is the "missing" state (see
// noKey), not a return to plaintext.
func (r *Ring) Watch(ctx context.Context, st *redisstore.Store, poll time.Duration) {
	const maxBackoff = 10 * time.Second
	r.mu.Lock()
	r.store = st
	r.mu.Unlock()
	events := st.Subscribe(ctx)
	loaded := false
	wait := time.Duration(0)
	lastState := ""
	for {
		select {
		case <-ctx.Done():
			return
		case _, open := <-events:
			if !open {
				events = nil // closed with the store: keep polling, do not spin
			}
		case <-time.After(wait):
		}
		before := r.Status().Fingerprint
		state, err := r.load(ctx, st)
		if fp := r.Status().Fingerprint; err == nil && fp != before && fp != "" {
			slog.Info("manager key loaded", "source", "redis", "fingerprint", fp, "replaced", before)
		}
		if err == nil || state == "bad_key" {
			loaded = loaded || err == nil
			wait = poll
		} else {
			wait = min(max(2*wait, poll), maxBackoff)
		}
		if state != lastState {
			r.logState(state, err, lastState)
			lastState = state
		}
		if err != nil {
			r.SetState(state, err.Error(), !loaded)
		}
	}
}

// refreshEvery bounds on-demand re-reads, so a flood of undecryptable
// requests cannot turn into a flood of Redis reads.
const refreshEvery = 100 * time.Millisecond

// Refresh re-reads the key from Redis now, when a request could not be
// decrypted with any known key: a GUI may already use a key that was stored
// a moment ago (VoIPmonitor also reloads its key and retries once). tried is
// the fingerprint of the current key the caller failed with; Refresh reports
// whether the current key is different now, so a retry is worth it.
//
// Re-reads are serialised and limited to one per refreshEvery, and skipped
// while Redis is down, so a flood of undecryptable requests costs neither a
// flood of Redis reads nor workers stuck on timeouts.
func (r *Ring) Refresh(ctx context.Context, tried string) bool {
	r.mu.Lock()
	st := r.store
	r.mu.Unlock()
	if st == nil {
		return false
	}
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	if r.Status().Fingerprint != tried {
		return true // reloaded meanwhile, by the watcher or another request
	}
	if r.Status().State == "redis_down" || time.Since(r.lastRefresh) < refreshEvery {
		return false
	}
	r.lastRefresh = time.Now()
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := r.load(cctx, st); err != nil {
		return false
	}
	return r.Status().Fingerprint != tried
}

func (r *Ring) load(ctx context.Context, st *redisstore.Store) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	k, lvl, state, err := fetch(cctx, st)
	switch state {
	case "no_key":
		return r.noKey(cctx, st), nil
	case "bad_key":
		err = errors.Join(errors.New("stored manager key is invalid"), err)
	case "ok":
		r.markEnforced(k.Fingerprint()) // first: the file is written before the key shows as loaded
		r.SetKey(&k, lvl, time.Now())
	}
	return state, err
}

// noKey handles a Redis without a manager key. A sensor that never enforced
// one serves plaintext, as VoIPmonitor does without a key. One that did
// reopens only when the operator's marker (keys delete --allow-plaintext)
// is there and newer than the key it enforced: anything else (Redis
// restarted without persistence, a FLUSHALL, a failover to an empty replica,
// a bare DEL, an unreadable marker, a marker left from before the key was
// stored by something other than `tapline keys store`) is the "missing"
// state, which keeps the last key and refuses plaintext.
func (r *Ring) noKey(ctx context.Context, st *redisstore.Store) string {
	why, since := r.guard.enforcedSince()
	if why == "" {
		r.Set(nil, time.Now())
		return "no_key"
	}
	m, allowed, err := st.PlaintextAllowed(ctx)
	switch {
	case allowed && m.At.After(since):
		r.allowPlaintext(m)
		r.Set(nil, time.Now())
		return "no_key"
	case allowed:
		why += " (the plaintext marker of " + m.At.UTC().Format(time.RFC3339) +
			" predates the key; run `tapline keys delete --allow-plaintext` again)"
	case err != nil:
		why += " (plaintext marker unreadable: " + err.Error() + ")"
	}
	r.setMissing(why)
	return "missing"
}

// logState writes one line per state change; a missing key is an ERROR.
func (r *Ring) logState(state string, err error, prev string) {
	switch {
	case state == "missing":
		st := r.Status()
		slog.Error("manager key missing from Redis: plaintext TCP requests stay refused",
			"source", "redis", "state", state, "fingerprint", st.Fingerprint, "reason", st.Reason)
	case err != nil:
		slog.Warn("manager key source", "source", "redis", "state", state, "err", err)
	case prev == "" || prev == "redis_down" || prev == "bad_key" || prev == "missing" || state != "ok":
		slog.Info("manager key source", "source", "redis", "state", state)
	}
}
