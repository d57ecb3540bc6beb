package keyring

import (
	"context"
	"testing"
	"time"

	"tapline/access"
	"tapline/config"
	"tapline/internal/redistest"
	"tapline/redisstore"
)

// TestKeyLevels: the level stored with a key travels with it through
// rotation (the key in its grace period keeps its own), and a level that
// does not parse makes the stored key bad, never a guessed level.
func TestKeyLevels(t *testing.T) {
	srv := redistest.Start(t)
	st, err := redisstore.Open(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := config.Default()
	cfg.Redis = srv.URL()
	k1, k2 := mustKey(t), mustKey(t)
	r := New(time.Minute)
	cases := []struct {
		stored  string
		want    access.Level // LoadLevel's answer (None: manager_key_level filled in)
		ringLvl access.Level
		state   string
	}{
		{stored: "limited_read", want: access.LimitedRead, ringLvl: access.LimitedRead, state: "ok"},
		{stored: "", want: cfg.KeyLevel, ringLvl: access.None, state: "ok"},
		{stored: "root", state: "bad_key"},
	}
	for i, c := range cases {
		k := k1
		if i%2 == 1 {
			k = k2
		}
		kb, ivb := k.Base64()
		if err := st.SetManagerKey(ctx, redisstore.StoredKey{Key: kb, IV: ivb, Level: c.stored}); err != nil {
			t.Fatal(err)
		}
		state, _ := r.load(ctx, st)
		if state != c.state {
			t.Fatalf("%q: state %q, want %q", c.stored, state, c.state)
		}
		_, lvl, _, err := LoadLevel(ctx, cfg, st)
		if c.state != "ok" {
			if err == nil {
				t.Fatalf("%q: loaded", c.stored)
			}
			continue
		}
		if err != nil || lvl != c.want || r.KeyLevel(k.Hardened().KID) != c.ringLvl {
			t.Fatalf("%q: LoadLevel %v %v, ring %v", c.stored, lvl, err, r.KeyLevel(k.Hardened().KID))
		}
	}
	// k1 (limited_read) is in its grace period behind k2 and keeps its level.
	if got := r.KeyLevel(k1.Hardened().KID); got != access.LimitedRead {
		t.Fatalf("rotated-out key level %v", got)
	}
}
