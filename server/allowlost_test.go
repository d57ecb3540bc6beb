package server

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"tapline/commands"
	"tapline/config"
)

// TestRuntimeAllowLost is the server's half of attack report F4: a store
// that answers "empty" without the operator's clear marker lost the
// entries (Redis FLUSHALL, restart without persistence, DEL, eviction);
// the entries in force stay, also across a restart (statedir), and only
// the marker clears them.
func TestRuntimeAllowLost(t *testing.T) {
	dir := t.TempDir()
	in, out := netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("203.0.113.5")
	start := func() *Server {
		s := New(config.Default(), commands.Default(), nil, nil)
		t.Cleanup(s.pool.close)
		s.SetAllowStore(nil, dir)
		return s
	}
	check := func(s *Server, step string, wantOn, wantMissing bool) {
		t.Helper()
		a := s.guard.allow.Load()
		if a.Allows(in) != true || a.Allows(out) == wantOn {
			t.Errorf("%s: allows %v: %v, %v: %v; want the list in force = %v", step, in, a.Allows(in), out, a.Allows(out), wantOn)
		}
		st, _ := s.Allowlist("list", "")
		if st.Missing != wantMissing || s.guard.allowMissing.Load() != wantMissing {
			t.Errorf("%s: missing = %v, want %v", step, st.Missing, wantMissing)
		}
	}
	steps := []struct {
		name             string
		restart          bool
		entries          []string
		cleared, apply   bool
		wantOn, wantMiss bool
		wantFile         []string // nil: not checked
	}{
		{name: "entries from the store", entries: []string{"192.0.2.0/24", "198.51.100.7"}, apply: true, wantOn: true, wantFile: []string{"192.0.2.0/24", "198.51.100.7/32"}},
		{name: "store lost them", apply: true, wantOn: true, wantMiss: true, wantFile: []string{"192.0.2.0/24", "198.51.100.7/32"}},
		{name: "store holds only garbage", entries: []string{"nonsense"}, apply: true, wantOn: true, wantMiss: true},
		{name: "restart: the state file is in force at once", restart: true, wantOn: true},
		{name: "restart: empty store without marker", apply: true, wantOn: true, wantMiss: true},
		{name: "entries again", entries: []string{"192.0.2.0/24"}, apply: true, wantOn: true, wantFile: []string{"192.0.2.0/24"}},
		{name: "operator cleared", cleared: true, apply: true, wantOn: false, wantFile: []string{}},
		{name: "restart after the clear", restart: true, wantOn: false},
		{name: "empty store, nothing in force", apply: true, wantOn: false},
	}
	s := start()
	for _, st := range steps {
		if st.restart {
			s = start()
		}
		if st.apply {
			_ = s.SetRuntimeAllow(st.entries, st.cleared, s.AllowGen())
		}
		check(s, st.name, st.wantOn, st.wantMiss)
		if st.wantFile != nil {
			checkAllowState(t, st.name, filepath.Join(dir, allowStateName), st.wantFile)
		}
	}
}

func checkAllowState(t *testing.T, step, path string, want []string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: state file %v %v; want mode 0600", step, fi, err)
	}
	b, _ := os.ReadFile(path)
	var d allowStateData
	if err := json.Unmarshal(b, &d); err != nil || len(d.Entries) != len(want) {
		t.Fatalf("%s: state file %s (%v); want entries %v", step, b, err, want)
	}
	for i := range want {
		if d.Entries[i] != want[i] {
			t.Fatalf("%s: state file %s; want entries %v", step, b, want)
		}
	}
}

// TestRuntimeAllowUnknown (attack round 2, R2-1): a state file that cannot
// be read at start means entries were in force that are not known now:
// TCP then admits only manager_allow until the store answers with a list,
// or an operator clears it; an empty store without the marker does not
// open it.
func TestRuntimeAllowUnknown(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, allowStateName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Allow = "198.51.100.0/24"
	in, cfgPeer := netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("198.51.100.1")
	start := func() *Server {
		s := New(cfg, commands.Default(), nil, nil)
		t.Cleanup(s.pool.close)
		s.SetAllowStore(nil, dir)
		return s
	}
	s := start()
	closed := func(step string, wantIn bool) {
		t.Helper()
		a := s.guard.allow.Load()
		if !a.Active() || a.Allows(in) != wantIn || !a.Allows(cfgPeer) {
			t.Errorf("%s: active %v, allows %v: %v (want %v), config peer: %v", step, a.Active(), in, a.Allows(in), wantIn, a.Allows(cfgPeer))
		}
	}
	closed("unreadable state file", false)
	if !s.guard.allowMissing.Load() {
		t.Error("unreadable state file: not shown as missing")
	}
	_ = s.SetRuntimeAllow(nil, false, s.AllowGen())
	closed("empty store without the marker", false)
	_ = s.SetRuntimeAllow([]string{"192.0.2.0/24"}, false, s.AllowGen())
	closed("the store's list", true)
	if s.guard.allowMissing.Load() {
		t.Error("the store's list: still missing")
	}

	// An operator's remove of an entry it cannot see clears the unknown list.
	_ = os.WriteFile(filepath.Join(dir, allowStateName), []byte("{not json"), 0o600)
	s = start()
	if _, err := s.Allowlist("remove", "10.9.9.9"); err != nil {
		t.Fatalf("remove while unknown: %v", err)
	}
	if a := s.guard.allow.Load(); a.Unknown() || a.Len() != 1 || s.guard.allowMissing.Load() {
		t.Errorf("after remove: unknown %v, entries %d (want the config's one), missing %v", a.Unknown(), a.Len(), s.guard.allowMissing.Load())
	}
}

// TestRuntimeAllowStaleRead (R2-5): a store read that started before a
// change made on this sensor is not applied: it cannot hold the change,
// and applying it would report the new entry missing.
func TestRuntimeAllowStaleRead(t *testing.T) {
	s := New(config.Default(), commands.Default(), nil, nil)
	t.Cleanup(s.pool.close)
	s.SetAllowStore(nil, t.TempDir())
	gen := s.AllowGen() // a poll starts reading
	if _, err := s.Allowlist("add", "192.0.2.0/24"); err != nil {
		t.Fatal(err)
	}
	_ = s.SetRuntimeAllow(nil, false, gen) // ...and comes back without the entry
	if s.guard.allowMissing.Load() || len(s.guard.allow.Load().Runtime()) != 1 {
		t.Errorf("a stale read changed the list: missing %v, runtime %v", s.guard.allowMissing.Load(), s.guard.allow.Load().Runtime())
	}
}
