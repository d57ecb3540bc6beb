package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"tapline/access"
	"tapline/commands"
)

// SetAllowStore makes st the home of the runtime allowlist entries (call
// before Start). Its owner feeds what it holds back with SetRuntimeAllow.
func (s *Server) SetAllowStore(st AllowStore) { s.guard.allowStore = st }

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
	} else {
		next, err = cur.WithRemoved(p)
	}
	if err != nil {
		return s.allowState(cur), err
	}
	if err := s.storeAllow(action, p); err != nil {
		return s.allowState(cur), err
	}
	g.allow.Store(next)
	slog.Info("allowlist changed", "action", action, "cidr", p.String(), "entries", next.Len(), "store", s.allowStoreName())
	return s.allowState(next), nil
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
	st := commands.AllowlistState{Store: s.allowStoreName()}
	for _, p := range a.Config() {
		st.Config = append(st.Config, p.String())
	}
	for _, p := range a.Runtime() {
		st.Runtime = append(st.Runtime, p.String())
	}
	return st
}

// ErrBadAllowEntry marks a runtime entry from the store that is not an
// address or CIDR; it is left out, the others apply.
var ErrBadAllowEntry = errors.New("allowlist: invalid runtime entry ignored")

// SetRuntimeAllow replaces the runtime entries with what the store holds.
// The store is shared and hostile like any input: entries that do not
// parse are left out (reported in the error), and a list over
// access.MaxRuntimeAllow keeps the entries in force. Unchanged lists
// change nothing.
func (s *Server) SetRuntimeAllow(entries []string) error {
	var ps []netip.Prefix
	var bad error
	for _, e := range entries {
		p, err := access.ParsePrefix(e)
		if err != nil {
			bad = fmt.Errorf("%w: %v", ErrBadAllowEntry, err)
			continue
		}
		ps = append(ps, p)
	}
	g := &s.guard
	g.allowMu.Lock()
	defer g.allowMu.Unlock()
	cur := g.allow.Load()
	next, err := cur.WithRuntime(ps)
	if err != nil {
		return err
	}
	if !samePrefixes(cur.Runtime(), next.Runtime()) {
		g.allow.Store(next)
		slog.Info("allowlist updated from the store", "entries", next.Len(), "runtime", len(next.Runtime()))
	}
	return bad
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
