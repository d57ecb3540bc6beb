package server

import (
	"crypto/rand"
	"net/netip"
	"strings"
	"testing"
	"time"

	"tapline/access"
	"tapline/commands"
	"tapline/config"
	"tapline/crypto"
	"tapline/keyring"
	"tapline/tokens"
)

// FuzzManagerFilePath: whatever a client sends as manager_file's path, an
// accepted path is canonical socket syntax strictly inside the directory.
func FuzzManagerFilePath(f *testing.F) {
	for _, p := range []string{"", "/run/tapline/x.sock", "/run/tapline/../x", "/run/taplinex/y", "/run/tapline",
		"/run/tapline/", "/run/tapline//x", "/run/tapline/a?b", "@x", "x.sock", "/run/tapline/sub/x.sock"} {
		f.Add(p)
	}
	cfg := config.Default()
	cfg.FileDir = "/run/tapline"
	s := &Server{cfg: cfg}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := s.managerFilePath(p)
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "/run/tapline/") || checkSocketSyntax(got) != nil || (p != "" && got != p) {
			t.Fatalf("%q accepted as %q", p, got)
		}
	})
}

// TestProtected: protected mode is on only while TCP listens beyond
// loopback and nothing protects it; a key or an allowlist turns it off,
// live tokens alone only let non-loopback peers in at limited_read, and
// revoked or expired tokens do nothing (F2 of the attack report).
func TestProtected(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	wide := func(c *config.Config) { c.ManagerIP = "0.0.0.0" }
	const (
		on, off, tok = protectOn, protectOff, protectTokens
	)
	cases := []struct {
		name   string
		cfg    func(*config.Config)
		keyed  bool
		tokens string   // "", "live", "revoked", "expired": the one token record
		allow  []string // runtime allowlist entries
		want   protection
	}{
		{"all addresses, nothing", wide, false, "", nil, on},
		{"IPv6 any", func(c *config.Config) { c.ManagerIP = "::" }, false, "", nil, on},
		{"routable address", func(c *config.Config) { c.ManagerIP = "192.0.2.7" }, false, "", nil, on},
		{"host name (fail closed)", func(c *config.Config) { c.ManagerIP = "sensor.example" }, false, "", nil, on},
		{"loopback", func(c *config.Config) { c.ManagerIP = "127.0.0.1" }, false, "", nil, off},
		{"127.0.0.2 is loopback", func(c *config.Config) { c.ManagerIP = "127.0.0.2" }, false, "", nil, off},
		{"::1", func(c *config.Config) { c.ManagerIP = "::1" }, false, "", nil, off},
		{"no TCP", func(c *config.Config) { c.ManagerIP = "0.0.0.0"; c.ManagerPort = 0 }, false, "", nil, off},
		{"turned off", func(c *config.Config) { c.ManagerIP = "0.0.0.0"; c.ProtectedMode = false }, false, "", nil, off},
		{"manager_allow", func(c *config.Config) { c.ManagerIP = "0.0.0.0"; c.Allow = "10.0.0.0/8" }, false, "", nil, off},
		{"key", wide, true, "", nil, off},
		{"key bypassed by manager_enable_unencrypted", func(c *config.Config) { c.ManagerIP = "0.0.0.0"; c.Unencrypted = true }, true, "", nil, on},
		{"live token alone", wide, false, "live", nil, tok},
		{"live token and a key", wide, true, "live", nil, off},
		{"live token and an allowlist", wide, false, "live", []string{"10.1.2.3"}, off},
		{"revoked token", wide, false, "revoked", nil, on},
		{"expired token", wide, false, "expired", nil, on},
		{"runtime allowlist", wide, false, "", []string{"10.1.2.3"}, off},
	}
	for _, tc := range cases {
		cfg := config.Default()
		cfg.ManagerPort = 5029
		tc.cfg(&cfg)
		ring := keyring.New(cfg.KeyGrace)
		if tc.keyed {
			ring.Static(key)
		}
		s := New(cfg, commands.Default(), ring, nil)
		if tc.tokens != "" {
			set := tokens.NewSet()
			id, _, h, err := tokens.Generate(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			r := tokens.Record{ID: id, Level: access.FullRead, Created: time.Now(), Hash: h}
			switch tc.tokens {
			case "revoked":
				r.Revoked = time.Now()
			case "expired":
				r.Expires = time.Now().Add(-time.Second)
			}
			if set.Replace([]tokens.Record{r}) != 0 {
				t.Fatal("token record refused")
			}
			s.UseTokens(set)
		}
		if err := s.SetRuntimeAllow(tc.allow, false, s.AllowGen()); err != nil {
			t.Fatal(err)
		}
		if got := s.protection(); got != tc.want {
			t.Errorf("%s: protection() = %v, want %v", tc.name, got, tc.want)
		}
		if got := s.protected(); got != (tc.want == on) {
			t.Errorf("%s: protected() = %v", tc.name, got)
		}
		// what a plaintext peer from afar, and from loopback, may get
		far, farMost := s.protectConnect(netip.MustParseAddr("198.51.100.9"), true)
		_, loMost := s.protectConnect(netip.MustParseAddr("127.0.0.1"), true)
		wantFar := map[protection]access.Level{on: access.None, off: access.ReadWrite, tok: access.LimitedRead}[tc.want]
		if far != (tc.want == on) || farMost != wantFar || loMost != access.ReadWrite {
			t.Errorf("%s: far peer refused %v at most %v, loopback at most %v", tc.name, far, farMost, loMost)
		}
		s.pool.close()
	}
}
