package server

import (
	"testing"

	"tapline/commands"
	"tapline/config"
	"tapline/crypto"
	"tapline/keyring"
)

// TestRunPolicy: with a key, Server.run refuses plaintext TCP requests for
// commands not allowed in plaintext ("need aes!"), and manager_file on
// plaintext TCP; encrypted requests and the Unix socket are not refused.
func TestRunPolicy(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	ring := keyring.New(cfg.KeyGrace)
	ring.Static(key)
	s := New(cfg, commands.Default(), ring, nil)
	t.Cleanup(s.pool.close)
	tests := []struct {
		listener string
		mode     wireMode
		cmd      string
		want     string // the refusal's code, "" = runs
	}{
		{"tcp", modeText, "ping", ""},
		{"tcp", modeText, "help", commands.CodeForbidden},
		{"tcp", modeJSON, "help", commands.CodeForbidden},
		{"tcp", modeLegacy, "help", ""},
		{"tcp", modeHardened, "help", ""},
		{"unix", modeText, "help", ""},
		{"unix", modeJSON, "help", ""},
	}
	for _, tt := range tests {
		c := &conn{eng: &engine{srv: s}, listener: tt.listener, mode: tt.mode}
		j := newJob(c)
		j.req.Ctx, j.req.Server, j.req.Env = s.ctx, s, s.env
		q := s.textRequest([]byte(tt.cmd))
		s.run(j, c.identity(), &q)
		if j.rep.Code != tt.want {
			t.Errorf("%s %v %s: code %q, want %q", tt.listener, tt.mode, tt.cmd, j.rep.Code, tt.want)
		}
		j.release()
	}
	mf := s.table.Lookup([]byte("manager_file"))
	for _, tt := range []struct {
		id   identity
		want bool
	}{
		{identity{"tcp", modeText}, true},
		{identity{"tcp", modeJSON}, true},
		{identity{"tcp", modeLegacy}, false},
		{identity{"tcp", modeHardened}, false},
		{identity{"unix", modeText}, false},
	} {
		if got := s.plaintextTCPRefused(tt.id, mf); got != tt.want {
			t.Errorf("manager_file for %+v: refused %v, want %v", tt.id, got, tt.want)
		}
	}
}
