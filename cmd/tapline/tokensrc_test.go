package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"tapline/internal/redistest"
	"tapline/redisstore"
	"tapline/tokens"
)

// TestRedisTokensWatch runs the server's side of the Redis token store
// against a real redis-server: a created token loads, a revoked one is
// refused, and while Redis is down the tokens loaded stay valid, unknown
// ones are refused, and a revocation made meanwhile applies once Redis is
// back.
func TestRedisTokensWatch(t *testing.T) {
	srv := redistest.Start(t)
	st, err := redisstore.Open(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := redisTokens{st}
	mk := func() (tokens.Record, string) {
		r, err := newRecord("full_read", "", "t", 0, false, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		id, text, h, err := tokens.Generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		r.ID, r.Hash = id, h
		if err := src.create(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r, text
	}
	a, aText := mk()
	_, bText := mk()
	set := tokens.NewSet()
	go tokens.Watch(ctx, set, src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	check := func(text string) error { _, err := set.Check([]byte(text), netip.Addr{}, time.Now()); return err }
	waitFor(t, "tokens loaded", func() bool { return check(aText) == nil && check(bText) == nil })

	if err := src.revoke(ctx, a.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "revocation", func() bool { return errors.Is(check(aText), tokens.ErrRevoked) })

	_, cText := mk() // created, but Redis goes down before a poll can be relied on
	srv.Stop()
	// Down: b (loaded) keeps working; c may or may not have been loaded,
	// so only a token never stored is checked as unknown.
	if err := check(bText); err != nil {
		t.Fatalf("loaded token while Redis is down: %v", err)
	}
	_, never, _, _ := tokens.Generate(nil)
	if err := check(never); !errors.Is(err, tokens.ErrUnknown) {
		t.Fatalf("unknown token while Redis is down: %v", err)
	}
	srv.Restart() // redistest keeps no data: the store comes back empty
	waitFor(t, "empty store after restart", func() bool {
		return errors.Is(check(bText), tokens.ErrUnknown) && errors.Is(check(cText), tokens.ErrUnknown)
	})
}

// waitFor polls cond every 20 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 10 s", what)
}
