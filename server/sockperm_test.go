package server

import (
	"crypto/rand"
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
// loopback and nothing protects it; each protection alone turns it off.
func TestProtected(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		cfg    func(*config.Config)
		keyed  bool
		tokens bool     // a token exists
		allow  []string // runtime allowlist entries
		want   bool
	}{
		{"all addresses, nothing", func(c *config.Config) { c.ManagerIP = "0.0.0.0" }, false, false, nil, true},
		{"IPv6 any", func(c *config.Config) { c.ManagerIP = "::" }, false, false, nil, true},
		{"routable address", func(c *config.Config) { c.ManagerIP = "192.0.2.7" }, false, false, nil, true},
		{"host name (fail closed)", func(c *config.Config) { c.ManagerIP = "sensor.example" }, false, false, nil, true},
		{"loopback", func(c *config.Config) { c.ManagerIP = "127.0.0.1" }, false, false, nil, false},
		{"127.0.0.2 is loopback", func(c *config.Config) { c.ManagerIP = "127.0.0.2" }, false, false, nil, false},
		{"::1", func(c *config.Config) { c.ManagerIP = "::1" }, false, false, nil, false},
		{"no TCP", func(c *config.Config) { c.ManagerIP = "0.0.0.0"; c.ManagerPort = 0 }, false, false, nil, false},
		{"turned off", func(c *config.Config) { c.ManagerIP = "0.0.0.0"; c.ProtectedMode = false }, false, false, nil, false},
		{"manager_allow", func(c *config.Config) { c.ManagerIP = "0.0.0.0"; c.Allow = "10.0.0.0/8" }, false, false, nil, false},
		{"key", func(c *config.Config) { c.ManagerIP = "0.0.0.0" }, true, false, nil, false},
		{"key bypassed by manager_enable_unencrypted", func(c *config.Config) { c.ManagerIP = "0.0.0.0"; c.Unencrypted = true }, true, false, nil, true},
		{"tokens", func(c *config.Config) { c.ManagerIP = "0.0.0.0" }, false, true, nil, false},
		{"runtime allowlist", func(c *config.Config) { c.ManagerIP = "0.0.0.0" }, false, false, []string{"10.1.2.3"}, false},
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
		if tc.tokens {
			set := tokens.NewSet()
			id, _, h, err := tokens.Generate(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if set.Replace([]tokens.Record{{ID: id, Level: access.FullRead, Created: time.Now(), Hash: h}}) != 0 {
				t.Fatal("token record refused")
			}
			s.UseTokens(set)
		}
		if err := s.SetRuntimeAllow(tc.allow, false); err != nil {
			t.Fatal(err)
		}
		if got := s.protected(); got != tc.want {
			t.Errorf("%s: protected() = %v, want %v", tc.name, got, tc.want)
		}
		s.pool.close()
	}
}
