package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"tapline/access"
	"tapline/commands"
)

// SetAllowStore makes st the home of the runtime allowlist entries (call
// before Start). Its owner feeds what it holds back with SetRuntimeAllow.
// With stateDir set the entries last applied are remembered in
// <stateDir>/allowlist.state and put in force here at once, until the
// store answers: a restart against a Redis that is down or lost the set
// must not open the listener to every address.
func (s *Server) SetAllowStore(st AllowStore, stateDir string) {
	g := &s.guard
	g.allowMu.Lock()
	defer g.allowMu.Unlock()
	g.allowStore = st
	if stateDir == "" {
		return
	}
	g.allowFile = &allowStateFile{dir: stateDir}
	ps, err := g.allowFile.read()
	if err != nil { // fail closed: entries were kept here, so some were in force
		g.allow.Store(g.allow.Load().WithUnknownRuntime())
		g.allowMissing.Store(true)
		slog.Error("runtime allowlist state file unreadable: TCP admits only manager_allow until Redis holds the list again",
			"path", g.allowFile.path(), "err", err,
			"fix", "`allowlist add CIDR` or `allowlist remove CIDR` over the Unix socket sets the list; fix or remove the file and restart")
		return
	}
	if len(ps) == 0 {
		return
	}
	next, err := g.allow.Load().WithRuntime(ps)
	if err != nil {
		slog.Error("runtime allowlist state file refused", "path", g.allowFile.path(), "err", err)
		return
	}
	g.allow.Store(next)
	g.allowSaved, g.allowWritten = next.Runtime(), true
	slog.Info("runtime allowlist: the entries last applied are in force until Redis answers",
		"path", g.allowFile.path(), "runtime", len(ps), "entries", next.Len())
}

// allowStoreTimeout bounds an allowlist change in the store.
const allowStoreTimeout = 3 * time.Second

// Allowlist implements commands.Server: list, add or remove a runtime
// entry. With a store the change is written there first (an error leaves
// the list as it was) and then applied here at once; the other sensors
// pick it up from the store.
func (s *Server) Allowlist(action, cidr string) (commands.AllowlistState, error) {
	g := &s.guard
	if action == "list" {
		return s.allowState(g.allow.Load()), nil
	}
	p, err := access.ParsePrefix(cidr)
	if err != nil {
		return commands.AllowlistState{}, err
	}
	g.allowMu.Lock()
	defer g.allowMu.Unlock()
	cur := g.allow.Load()
	var next *access.Allowlist
	if action == "add" {
		next, err = cur.WithAdded(p)
		if errors.Is(err, access.ErrListed) && g.allowMissing.Load() && !cur.InConfig(p) {
			next, err = cur, nil // kept while missing from the store: write it back there
		}
	} else {
		next, err = cur.WithRemoved(p)
		if errors.Is(err, access.ErrNotListed) && cur.Unknown() {
			next, err = cur.WithRuntime(nil) // the entries are unknown: removing confirms the loss
		}
	}
	if err != nil {
		return s.allowState(cur), err
	}
	if err := s.storeAllowChange(action, p, next); err != nil {
		return s.allowState(cur), err
	}
	g.allowGen.Add(1)
	if cur.Unknown() { // the operator set the list: it is known again
		s.allowFound(action == "remove", len(next.Runtime()))
	}
	g.allow.Store(next)
	s.rememberAllow(next)
	slog.Info("allowlist changed", "action", action, "cidr", p.String(), "entries", next.Len(), "store", s.allowStoreName())
	return s.allowState(next), nil
}

// storeAllowChange writes an add or remove of p to the store. An add while
// the store lost the entries (missing) writes back every entry kept in
// force with it, or the store's next read would drop those.
func (s *Server) storeAllowChange(action string, p netip.Prefix, next *access.Allowlist) error {
	if action != "add" || !s.guard.allowMissing.Load() {
		return s.storeAllow(action, p)
	}
	for _, q := range next.Runtime() {
		if err := s.storeAllow("add", q); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) storeAllow(action string, p netip.Prefix) error {
	st := s.guard.allowStore
	if st == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, allowStoreTimeout)
	defer cancel()
	if action == "add" {
		return st.AddAllow(ctx, p.String())
	}
	_, err := st.RemoveAllow(ctx, p.String())
	return err
}

func (s *Server) allowStoreName() string {
	if s.guard.allowStore != nil {
		return "redis"
	}
	return "memory"
}

func (s *Server) allowState(a *access.Allowlist) commands.AllowlistState {
	st := commands.AllowlistState{Store: s.allowStoreName(), Missing: s.guard.allowMissing.Load()}
	for _, p := range a.Config() {
		st.Config = append(st.Config, p.String())
	}
	for _, p := range a.Runtime() {
		st.Runtime = append(st.Runtime, p.String())
	}
	return st
}

// AllowGen is taken before reading the store and handed to
// SetRuntimeAllow with what was read, which ignores a read that started
// before a change made on this sensor (the change may not be in it yet).
func (s *Server) AllowGen() uint64 { return s.guard.allowGen.Load() }

// ErrBadAllowEntry marks a runtime entry from the store that is not an
// address or CIDR; it is left out, the others apply.
var ErrBadAllowEntry = errors.New("allowlist: invalid runtime entry ignored")

// SetRuntimeAllow replaces the runtime entries with what the store holds.
// The store is shared and hostile like any input: entries that do not
// parse are left out (reported in the error), and a list over
// access.MaxRuntimeAllow keeps the entries in force. Unchanged lists
// change nothing.
//
// An empty store clears the entries in force only when cleared is set (the
// operator's `allowlist remove` emptied it, and left a marker saying so).
// Without the marker the store lost them (Redis FLUSHALL, a restart
// without persistence, DEL, eviction): the entries stay in force, fail
// closed, with one ERROR line, and the state shows in `allowlist list` and
// sniffer_stat (allowlist_missing) until the store holds entries or the
// marker again.
func (s *Server) SetRuntimeAllow(entries []string, cleared bool, gen uint64) error {
	ps, bad := parseAllowEntries(entries)
	g := &s.guard
	g.allowMu.Lock()
	defer g.allowMu.Unlock()
	if gen != g.allowGen.Load() {
		return nil // read before a change made here: the next read sees it
	}
	cur := g.allow.Load()
	if len(ps) == 0 && !cleared && (len(cur.Runtime()) > 0 || cur.Unknown()) {
		s.allowLost(cur)
		return bad
	}
	s.allowFound(cleared, len(ps))
	next, err := cur.WithRuntime(ps)
	if err != nil {
		return err
	}
	if !samePrefixes(cur.Runtime(), next.Runtime()) {
		g.allow.Store(next)
		slog.Info("allowlist updated from the store", "entries", next.Len(), "runtime", len(next.Runtime()))
	}
	s.rememberAllow(next)
	return bad
}

// parseAllowEntries parses the store's entries; bad is set when one did
// not parse (it is left out).
func parseAllowEntries(entries []string) (ps []netip.Prefix, bad error) {
	for _, e := range entries {
		p, err := access.ParsePrefix(e)
		if err != nil {
			bad = fmt.Errorf("%w: %v", ErrBadAllowEntry, err)
			continue
		}
		ps = append(ps, p)
	}
	return ps, bad
}

// allowLost enters the missing state (the store is empty without the
// operator's marker while entries are in force), logged once at ERROR.
func (s *Server) allowLost(cur *access.Allowlist) {
	if s.guard.allowMissing.Swap(true) {
		return
	}
	rt := cur.Runtime()
	slog.Error(fmt.Sprintf("runtime allowlist missing from Redis; keeping %d entries in force", len(rt)),
		"runtime", prefixList(rt),
		"why", "the set is empty without the operator's clear marker: Redis lost its data (FLUSHALL, restart without persistence, DEL or eviction)",
		"fix", "`allowlist add CIDR` writes an entry back to Redis; `allowlist remove CIDR` confirms the loss and clears the runtime entries on every sensor")
}

// allowFound leaves the missing state, if in it, saying how.
func (s *Server) allowFound(cleared bool, n int) {
	if !s.guard.allowMissing.Swap(false) {
		return
	}
	if cleared {
		slog.Warn("runtime allowlist cleared by an operator's allowlist remove after it was missing from Redis")
		return
	}
	slog.Info("runtime allowlist entries in Redis again", "runtime", n)
}

// rememberAllow writes the runtime entries of a to the state file when
// they differ from what it holds (only with a store and a statedir). A
// failure is logged at ERROR once per distinct error; the entries stay in
// force in memory.
func (s *Server) rememberAllow(a *access.Allowlist) {
	g := &s.guard
	if g.allowFile == nil {
		return
	}
	rt := a.Runtime()
	if !g.allowWritten && len(rt) == 0 {
		return // nothing was or is in force: nothing to remember
	}
	if g.allowWritten && g.allowFileErr == "" && samePrefixes(rt, g.allowSaved) {
		return
	}
	if err := g.allowFile.write(rt); err != nil {
		if err.Error() != g.allowFileErr {
			slog.Error("runtime allowlist state file cannot be written: a restart against an empty Redis would drop the entries",
				"path", g.allowFile.path(), "err", err)
		}
		g.allowFileErr = err.Error()
		return
	}
	g.allowSaved, g.allowWritten, g.allowFileErr = rt, true, ""
}

func prefixList(ps []netip.Prefix) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

func samePrefixes(a, b []netip.Prefix) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[netip.Prefix]bool, len(a))
	for _, p := range a {
		seen[p] = true
	}
	for _, p := range b {
		if !seen[p] {
			return false
		}
	}
	return true
}
