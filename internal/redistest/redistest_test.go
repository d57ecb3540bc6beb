package redistest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestStartURLsAndClient(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Fatalf("URL = %q, want %q", s.URL(), want)
	}
	if want := "unix://" + s.Socket(); s.SocketURL() != want {
		t.Fatalf("SocketURL = %q, want %q", s.SocketURL(), want)
	}
	if err := s.Client().Set(ctx(t), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{s.URL(), s.SocketURL()} {
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", u, err)
		}
		c := redis.NewClient(opt)
		got, err := c.Get(ctx(t), "k").Result()
		c.Close()
		if err != nil || got != "v" {
			t.Fatalf("GET via %s = %q, %v", u, got, err)
		}
	}
	fi, err := os.Stat(s.Socket())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Fatalf("socket mode %v, want 0700", perm)
	}
}

func TestStopRestart(t *testing.T) {
	s := Start(t)
	c := s.Client()
	if err := c.Set(ctx(t), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	s.Stop()
	s.Stop() // idempotent
	if err := c.Ping(ctx(t)).Err(); err == nil {
		t.Fatal("PING succeeded while stopped")
	}
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("restart moved from %s to %s", addr, s.Addr())
	}
	if err := c.Ping(ctx(t)).Err(); err != nil {
		t.Fatalf("PING after restart: %v", err)
	}
	// Nothing is persisted.
	if err := c.Get(ctx(t), "k").Err(); err != redis.Nil {
		t.Fatalf("GET after restart: %v, want redis.Nil", err)
	}
	s.Restart() // restarting a running server works too
	if err := c.Ping(ctx(t)).Err(); err != nil {
		t.Fatalf("PING after second restart: %v", err)
	}
}

func TestPassword(t *testing.T) {
	s := Start(t, WithPassword("s3cret"))
	if err := s.Client().Ping(ctx(t)).Err(); err != nil {
		t.Fatalf("PING with password: %v", err)
	}
	noauth := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer noauth.Close()
	if err := noauth.Set(ctx(t), "k", "v", 0).Err(); err == nil {
		t.Fatal("SET without password succeeded")
	}
	for _, u := range []string{s.URL(), s.SocketURL()} {
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", u, err)
		}
		if opt.Password != "s3cret" {
			t.Fatalf("%s: password %q", u, opt.Password)
		}
		c := redis.NewClient(opt)
		err = c.Ping(ctx(t)).Err()
		c.Close()
		if err != nil {
			t.Fatalf("PING via %s: %v", u, err)
		}
	}
}

func TestCleanupStopsServer(t *testing.T) {
	var addr string
	t.Run("inner", func(t *testing.T) {
		addr = Start(t).Addr()
	})
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	if err := c.Ping(ctx(t)).Err(); err == nil {
		t.Fatal("server still answers after its test ended")
	}
}
