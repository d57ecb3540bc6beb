package server

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"tapline/access"
	"tapline/commands"
	"tapline/config"
)

// TestRunRateLimit: over manager_rate_limit a request is answered
// rate_limited (429; text mode "error: rate limited"), per identity: a
// token, a key or the address of plaintext requests.
func TestRunRateLimit(t *testing.T) {
	cfg := config.Default()
	cfg.RateLimit = 2
	s := New(cfg, commands.Default(), nil, nil)
	t.Cleanup(s.pool.close)
	addrA, addrB := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	mk := func(addr netip.Addr, who access.Identity) *conn {
		c := &conn{eng: &engine{srv: s}, listener: "tcp", mode: modeText, who: who, addr: addr}
		c.hold.key, c.hold.hasKey = addr, true
		return c
	}
	plain := access.Identity{Level: access.FullRead, Via: access.ViaPlain}
	tok := access.Identity{Level: access.FullRead, Via: access.ViaToken, Name: "token:ab"}
	steps := []struct {
		c    *conn
		want string
	}{
		{mk(addrA, plain), ""}, {mk(addrA, plain), ""}, {mk(addrA, plain), commands.CodeRateLimited},
		{mk(addrB, plain), ""},                                                                 // another address
		{mk(addrA, tok), ""}, {mk(addrB, tok), ""}, {mk(addrB, tok), commands.CodeRateLimited}, // one token, any address
	}
	for i, st := range steps {
		j := newJob(st.c)
		j.req.Ctx, j.req.Server = s.ctx, s
		q := s.textRequest([]byte("ping"))
		s.run(j, st.c.identity(), &q)
		if j.rep.Code != st.want {
			t.Errorf("step %d: code %q, want %q", i, j.rep.Code, st.want)
		}
		if st.want != "" && string(j.rep.Body) != "error: rate limited\n" {
			t.Errorf("step %d: text reply %q", i, j.rep.Body)
		}
		j.release()
	}
}

// TestBackoffCountsCredentialsOnly: requests refused for their level
// (and need aes!) are audited but never put an address in its cool-down,
// nor does anything a loopback peer does; failed credentials from any
// other address do. (F1 of the attack report: ten plaintext `reload`
// from any local user shut 127.0.0.1 out.)
func TestBackoffCountsCredentialsOnly(t *testing.T) {
	cfg := config.Default()
	cfg.AuthFailLimit = 3
	s := New(cfg, commands.Default(), nil, nil)
	t.Cleanup(s.pool.close)
	plain := access.Identity{Level: access.LimitedRead, Via: access.ViaPlain}
	mk := func(addr string) *conn {
		a := netip.MustParseAddr(addr)
		c := &conn{eng: &engine{srv: s}, listener: "tcp", mode: modeText, who: plain, addr: a, peer: addr + ":4000"}
		c.hold.key, c.hold.hasKey = a, true
		return c
	}
	blocked := func(addr string) bool {
		return s.guard.fails.Blocked(access.AddrKey(netip.MustParseAddr(addr)), s.guard.now())
	}
	for _, addr := range []string{"192.0.2.1", "127.0.0.1"} {
		for i := range 10 {
			c := mk(addr)
			j := newJob(c)
			j.req.Ctx, j.req.Server = s.ctx, s
			q := s.textRequest([]byte("clients"))
			s.run(j, c.identity(), &q)
			if j.rep.Code != commands.CodeUnauthenticated {
				t.Fatalf("%s request %d: code %q, want a level refusal", addr, i, j.rep.Code)
			}
			j.release()
		}
		if blocked(addr) {
			t.Errorf("%s: level refusals started a cool-down", addr)
		}
	}
	for range 10 {
		s.auditAuthFailure(mk("127.0.0.1"), "bad_token", "")
	}
	if blocked("127.0.0.1") {
		t.Error("bad tokens from loopback started a cool-down")
	}
	for range 3 {
		s.auditAuthFailure(mk("192.0.2.1"), "bad_token", "")
	}
	if !blocked("192.0.2.1") {
		t.Error("three bad tokens from 192.0.2.1 did not start its cool-down")
	}
	if n := s.guard.authFailures.Load(); n != 33 {
		t.Errorf("auth_failures = %d, want 33 (every failure counted)", n)
	}
}

// TestReload: Reload swaps the access settings, names what changed and
// what needs a restart, and keeps the old settings on a bad config.
func TestReload(t *testing.T) {
	cfg := config.Default()
	s := New(cfg, commands.Default(), nil, nil)
	t.Cleanup(s.pool.close)
	next := cfg
	next.PlainLevel, next.Allow, next.MaxConnections = access.LimitedRead, "10.0.0.0/8", 7
	r, err := s.Reload(next)
	changed, restart := r.Changed, r.NeedsRestart
	if err != nil || len(changed) != 2 || changed[0] != "manager_plain_level" || changed[1] != "manager_allow" ||
		len(restart) != 1 || restart[0] != "manager_max_connections" || len(r.Widened) != 0 {
		t.Fatalf("Reload: changed %v restart %v widened %v err %v", changed, restart, r.Widened, err)
	}
	if s.policy().plain != access.LimitedRead || !s.allowlistActive() {
		t.Fatal("settings not in force")
	}
	bad := next
	bad.UnixLevels = "nosuchuser-tapline:read_write"
	if _, err := s.Reload(bad); err == nil {
		t.Fatal("a config naming a missing user reloaded")
	}
	bad = next
	bad.Allow = "not a cidr"
	if _, err := s.Reload(bad); err == nil {
		t.Fatal("a bad manager_allow reloaded")
	}
	if s.policy().plain != access.LimitedRead || s.guard.allow.Load().Len() != 1 {
		t.Fatal("a failed reload changed the settings")
	}
	if _, err := s.ReloadAccess(); err != ErrNoReloader {
		t.Fatalf("ReloadAccess without a reloader: %v", err)
	}
}

// TestReloadWidened: a reload that gives someone more access applies but
// names the keys that widen it (F6 of the attack report: an empty or
// truncated file reloaded as all defaults, dropping every restriction,
// with nothing but "reload ok").
func TestReloadWidened(t *testing.T) {
	strict := config.Default()
	strict.PlainLevel, strict.LegacyLevel, strict.KeyLevel = access.LimitedRead, access.FullRead, access.FullRead
	strict.UnixLevels = "1001:limited_read, @1002:limited_read"
	strict.Allow = "127.0.0.1, 10.0.0.0/8"
	strict.RateLimit, strict.AuthFailLimit = 5, 10
	cases := []struct {
		name string
		mod  func(*config.Config)
		want []string
	}{
		{"same", func(*config.Config) {}, nil},
		{"narrower", func(c *config.Config) {
			c.LegacyLevel, c.UnixLevels, c.Allow, c.RateLimit = access.LimitedRead, "@1002:limited_read", "10.1.0.0/16", 1
		}, []string{"manager_unix_levels"}}, // a user entry removed: its groups may give more
		{"empty file", func(c *config.Config) { *c = config.Default() }, []string{"manager_plain_level", "manager_legacy_level",
			"manager_key_level", "manager_unix_levels", "manager_allow", "manager_rate_limit"}},
		{"plain level raised", func(c *config.Config) { c.PlainLevel = access.FullRead }, []string{"manager_plain_level"}},
		{"unix entry added", func(c *config.Config) { c.UnixLevels += ", 1003:limited_read" }, []string{"manager_unix_levels"}},
		{"unix group raised", func(c *config.Config) { c.UnixLevels = "1001:limited_read, @1002:full_read" }, []string{"manager_unix_levels"}},
		{"allow entry outside", func(c *config.Config) { c.Allow += ", 192.0.2.0/24" }, []string{"manager_allow"}},
		{"allow entry inside", func(c *config.Config) { c.Allow += ", 10.9.0.0/16" }, nil},
		{"allow removed", func(c *config.Config) { c.Allow = "" }, []string{"manager_allow"}},
		{"protected mode off", func(c *config.Config) { c.ProtectedMode = false }, []string{"manager_protected_mode"}},
		{"plain tokens", func(c *config.Config) { c.PlainTokens = true }, []string{"manager_plain_tokens"}},
		{"tokens file", func(c *config.Config) { c.TokensFile = "/etc/other.json" }, []string{"manager_tokens_file"}},
		{"backoff off", func(c *config.Config) { c.AuthFailLimit = 0 }, []string{"manager_auth_fail_limit"}},
		{"cool-down shorter", func(c *config.Config) { c.AuthFailCooloff = time.Second }, []string{"manager_auth_fail_cooldown"}},
	}
	for _, tc := range cases {
		s := New(strict, commands.Default(), nil, nil)
		next := strict
		tc.mod(&next)
		r, err := s.Reload(next)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(r.Widened, tc.want) {
			t.Errorf("%s: widened %v, want %v", tc.name, r.Widened, tc.want)
		}
		s.pool.close()
	}
}

// BenchmarkRefuseRequest is the per-request cost of the guard with a rate
// limit in force: it must allocate nothing.
func BenchmarkRefuseRequest(b *testing.B) {
	cfg := config.Default()
	cfg.RateLimit = 1e9 // set 0 to see the cost without a limit
	s := New(cfg, commands.Default(), nil, nil)
	b.Cleanup(s.pool.close)
	c := &conn{eng: &engine{srv: s}, listener: "tcp", mode: modeJSON, addr: netip.MustParseAddr("192.0.2.1"),
		who: access.Identity{Level: access.ReadWrite, Via: access.ViaKey, Name: "key:0011223344556677"}}
	j := newJob(c)
	q := s.textRequest([]byte("ping"))
	id := c.identity()
	s.guard.epoch = time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if s.refuseRequest(j, id, q.cmd) {
			b.Fatal("refused")
		}
	}
}
