package keyring

import (
	"log/slog"
	"sync"
	"time"

	"tapline/redisstore"
)

// guard is the ring's memory of having enforced a key from Redis. It is set
// when a Redis key is loaded (and written to the state file, so it survives
// restarts) and cleared only by the operator's plaintext marker: an empty
// Redis is not an operator, so while the guard is set a missing key is an
// error and plaintext stays refused.
type guard struct {
	mu       sync.Mutex
	enforced bool
	fp       string     // fingerprint of the key enforced ("" when unknown)
	since    time.Time  // when it was first enforced
	why      string     // for Status.Reason: what the ring remembers
	file     *StateFile // nil: memory only
	written  string     // fingerprint the state file holds ("" none or unknown)
	fileErr  string     // last state file failure, "" when none
}

// Remember ties the ring to its state file and reads it, so that a sensor
// restarted against a Redis that lost the key stays closed. A file that
// cannot be read counts as "a key was enforced" (fail closed) and is logged
// at ERROR; the next key loaded rewrites it.
func (r *Ring) Remember(f *StateFile) {
	g := &r.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	g.file = f
	e, ok, err := f.Read()
	switch {
	case err != nil:
		g.enforced, g.why, g.fileErr = true, "a state file that cannot be read", err.Error()
		slog.Error("manager key state file unreadable: refusing plaintext TCP requests until a key is loaded or plaintext is allowed again",
			"path", f.Path(), "err", err)
		r.setStateError(g.fileErr)
	case ok && e.Enforced:
		g.enforced, g.fp, g.since, g.written = true, e.Fingerprint, e.Since, e.Fingerprint
		g.why = "this sensor enforced key " + e.Fingerprint + " (state file, since " + e.Since.UTC().Format(time.RFC3339) + ")"
		slog.Info("manager key state: a key was enforced before; plaintext TCP stays refused without one",
			"path", f.Path(), "fingerprint", e.Fingerprint, "since", e.Since)
	}
}

// enforcedSince is why plaintext must stay refused without a key ("" when
// the ring never enforced one, or the operator allowed plaintext since) and
// when the key in force was first seen (zero when unknown, as after an
// unreadable state file).
func (g *guard) enforcedSince() (why string, since time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.enforced {
		return "", time.Time{}
	}
	return g.why, g.since
}

// markEnforced records that key fp is in force, in memory and (when it
// changed, or an earlier write failed) in the state file. A failed write is
// logged at ERROR once per distinct error; the ring stays closed in memory.
func (r *Ring) markEnforced(fp string) {
	g := &r.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.enforced || g.fp != fp {
		g.enforced, g.fp, g.since = true, fp, time.Now()
		g.why = "this sensor enforced key " + fp
	}
	if g.file == nil || (g.written == fp && g.fileErr == "") {
		return
	}
	err := g.file.Write(Enforced{Enforced: true, Fingerprint: fp, Since: g.since.UTC()})
	if err == nil {
		g.written = fp
		if g.fileErr != "" {
			slog.Info("manager key state file written again", "path", g.file.Path())
		}
		g.fileErr = ""
		r.setStateError("")
		return
	}
	if err.Error() != g.fileErr {
		slog.Error("manager key state file cannot be written: the sensor remembers the enforced key in memory only (a restart against an empty Redis would serve plaintext)",
			"path", g.file.Path(), "err", err)
	}
	g.fileErr = err.Error()
	r.setStateError(g.fileErr)
}

// allowPlaintext applies the operator's plaintext marker: the ring forgets
// the enforced key and the state file goes, logged at WARN. Without an
// enforced key there is nothing to reopen and nothing is logged.
func (r *Ring) allowPlaintext(m redisstore.PlaintextMarker) {
	g := &r.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.enforced {
		return
	}
	fp := g.fp
	g.enforced, g.fp, g.why, g.written = false, "", "", ""
	slog.Warn("plaintext TCP requests allowed again by the operator (tapline keys delete --allow-plaintext)",
		"source", "redis", "allowed_at", m.At, "fingerprint", fp)
	if g.file == nil {
		return
	}
	if err := g.file.Clear(); err != nil {
		slog.Error("manager key state file cannot be removed: after a restart the sensor refuses plaintext until it sees the marker again",
			"path", g.file.Path(), "err", err)
		g.fileErr = err.Error()
	} else {
		g.fileErr = ""
	}
	r.setStateError(g.fileErr)
}
