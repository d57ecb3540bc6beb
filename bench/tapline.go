package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"tapline/access"
	"tapline/commands"
	"tapline/config"
	"tapline/crypto"
	"tapline/keyring"
	"tapline/server"
	"tapline/tokens"
)

// Tapline is a tapline manager server run in-process on loopback (target
// "tapline"), with a static key so every crypto mode can be driven.
type Tapline struct {
	TCP  Target
	Unix Target
	Key  crypto.Key
	// Token is a read_write token, renewed by use, that the server accepts
	// (--token auto): sessions that authenticate with it pay the access
	// check of every request.
	Token string
	srv   *server.Server
	dir   string
}

// StartTapline starts tapline's real server (gnet engines, commands.Default)
// on a free loopback port and a Unix socket in a temporary directory. A zero
// key is replaced by a generated one.
func StartTapline(key crypto.Key) (*Tapline, error) {
	if key.AES == nil {
		var err error
		if key, err = crypto.GenerateKey(); err != nil {
			return nil, err
		}
	}
	port, dir, sock, err := listenSpots("tapline")
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.ManagerPort = port
	cfg.ManagerSocket = sock
	ring := keyring.New(cfg.KeyGrace)
	ring.Static(key)
	s := server.New(cfg, commands.Default(), ring, nil)
	tok, set, err := benchTokens()
	if err != nil {
		return nil, err
	}
	s.UseTokens(set)
	if err := s.Start(); err != nil {
		_ = s.Shutdown(context.Background())
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start tapline: %w", err)
	}
	return &Tapline{srv: s, dir: dir, Key: key, Token: tok,
		TCP:  Target{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", port)},
		Unix: Target{Network: "unix", Addr: cfg.ManagerSocket}}, nil
}

// benchTokens is a Set holding one read_write token renewed by use.
func benchTokens() (string, *tokens.Set, error) {
	id, text, h, err := tokens.Generate(nil)
	if err != nil {
		return "", nil, err
	}
	set := tokens.NewSet()
	set.Replace([]tokens.Record{{ID: id, Name: "bench", Level: access.ReadWrite, Created: time.Now(),
		TTL: time.Hour, Renew: true, Expires: time.Now().Add(time.Hour), Hash: h}})
	return text, set, nil
}

// Stop shuts the server down.
func (t *Tapline) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := t.srv.Shutdown(ctx)
	_ = os.RemoveAll(t.dir)
	return err
}
