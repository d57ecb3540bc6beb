package keyring

import (
	"context"
	"testing"
	"time"

	"tapline/crypto"
	"tapline/internal/redistest"
	"tapline/redisstore"
)

func mustKey(t *testing.T) crypto.Key {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRotationGrace(t *testing.T) {
	r := New(time.Minute)
	if r.RequireAES() {
		t.Fatal("an empty ring must accept plaintext, like VoIPmonitor without a key")
	}
	k1, k2 := mustKey(t), mustKey(t)
	t0 := time.Now()
	r.Set(&k1, t0)
	r.Set(&k2, t0)
	if cur, _ := r.Current(); !sameKey(cur, k2) {
		t.Fatal("current is not the newest key")
	}
	keys := r.LegacyKeys(t0.Add(30 * time.Second))
	if len(keys) != 2 || !sameKey(keys[0], k2) || !sameKey(keys[1], k1) {
		t.Fatalf("within grace want [k2 k1], got %d keys", len(keys))
	}
	if got := r.LegacyKeys(t0.Add(61 * time.Second)); len(got) != 1 {
		t.Fatalf("after grace want only k2, got %d keys", len(got))
	}
	if r.Lookup(k1.Hardened().KID) == nil || r.Lookup(k2.Hardened().KID) == nil {
		t.Fatal("hardened lookup misses a key within grace")
	}
	r.Set(nil, t0)
	if _, ok := r.Current(); ok || r.RequireAES() {
		t.Fatal("a deleted key must leave no current key and accept plaintext")
	}
	if len(r.LegacyKeys(t0.Add(time.Second))) != 2 {
		t.Fatal("keys rotated out by a delete must still decrypt during grace")
	}
	if st := r.Status(); st.State != "no_key" || st.Previous != 2 {
		t.Fatalf("status %+v", st)
	}
}

func TestFailClosed(t *testing.T) {
	r := New(time.Minute)
	r.SetState("redis_down", "connection refused", true)
	if !r.RequireAES() {
		t.Fatal("a key source that never answered must fail closed")
	}
	k := mustKey(t)
	r.Set(&k, time.Now())
	r.SetState("redis_down", "connection refused", false)
	if cur, ok := r.Current(); !ok || !sameKey(cur, k) || !r.RequireAES() {
		t.Fatal("Redis going down must keep the last key")
	}
}

// TestWatch runs the watcher against a real redis-server: a stored key takes
// effect within a second, Redis down keeps it, a delete removes it.
func TestWatch(t *testing.T) {
	rs, st := startRedis(t)
	r := New(time.Minute)
	r.SetState("loading", "", true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Watch(ctx, st, 200*time.Millisecond)
	waitFor(t, "no_key after the first read", func() bool { return r.Status().State == "no_key" && !r.RequireAES() })
	k := mustKey(t)
	storeKey(t, st, k)
	waitFor(t, "the stored key", func() bool { cur, ok := r.Current(); return ok && sameKey(cur, k) })
	rs.Stop()
	waitFor(t, "redis_down", func() bool { return r.Status().State == "redis_down" })
	if cur, ok := r.Current(); !ok || !sameKey(cur, k) {
		t.Fatal("key lost while Redis is down")
	}
	rs.Restart() // without persistence: the key is gone, but no operator said so
	waitFor(t, "missing after restart", func() bool { return r.Status().State == "missing" })
	if cur, ok := r.Current(); !ok || !sameKey(cur, k) || !r.RequireAES() || !r.Status().FailClosed {
		t.Fatalf("a key lost by Redis must keep the last key and fail closed: %+v", r.Status())
	}
	storeKey(t, st, k)
	waitFor(t, "ok after the key is stored again", func() bool { return r.Status().State == "ok" })
	if _, err := st.DeleteManagerKey(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "missing after a plain delete", func() bool { return r.Status().State == "missing" })
	if _, ok := r.Current(); !ok || !r.RequireAES() {
		t.Fatal("a plain delete must leave the sensor refusing plaintext")
	}
	if _, err := st.AllowPlaintext(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "no key after delete --allow-plaintext", func() bool { _, ok := r.Current(); return !ok })
	if r.RequireAES() || r.Status().State != "no_key" {
		t.Fatalf("plaintext not allowed after the operator's marker: %+v", r.Status())
	}
}

// startRedis starts a redis-server for the test and opens a store on it,
// closed when the test ends.
func startRedis(t *testing.T) (*redistest.Server, *redisstore.Store) {
	t.Helper()
	rs := redistest.Start(t)
	st, err := redisstore.Open(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return rs, st
}

// storeKey stores k in Redis (SetManagerKey).
func storeKey(t *testing.T, st *redisstore.Store, k crypto.Key) {
	t.Helper()
	kb, ivb := k.Base64()
	if err := st.SetManagerKey(context.Background(), redisstore.StoredKey{Key: kb, IV: ivb}); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRefreshOnMiss: a key stored in Redis without a publish (as a GUI that
// writes Redis itself would) is found by Refresh before the next poll.
func TestRefreshOnMiss(t *testing.T) {
	rs, st := startRedis(t)
	r := New(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Watch(ctx, st, time.Hour) // no polling: only events and Refresh
	waitFor(t, "first read", func() bool { return r.Status().State == "no_key" })
	k := mustKey(t)
	kb, ivb := k.Base64()
	if err := rs.Client().Set(ctx, redisstore.KeyManagerKey, `{"key":"`+kb+`","iv":"`+ivb+`"}`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * refreshEvery)
	if !r.Refresh(ctx, "") {
		t.Fatal("Refresh did not pick up the key written behind its back")
	}
	if cur, ok := r.Current(); !ok || !sameKey(cur, k) {
		t.Fatal("wrong current key after Refresh")
	}
	if r.Refresh(ctx, k.Fingerprint()) {
		t.Fatal("Refresh claims a change when the key is the same")
	}
}

// TestBadKeyState (issue 9, item 5): an unparseable value at the key in a
// running Redis is state "bad_key" (not "redis_down"), with fail_closed true
// and a reason, whatever the value is wrong with; the last key stays in force.
func TestBadKeyState(t *testing.T) {
	rs, st := startRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := New(time.Minute)
	r.SetState("loading", "", true)
	go r.Watch(ctx, st, 100*time.Millisecond)
	k := mustKey(t)
	storeKey(t, st, k)
	waitFor(t, "the stored key", func() bool { cur, ok := r.Current(); return ok && sameKey(cur, k) })
	for _, bad := range []string{`not json`, `{"key":"","iv":""}`, `{"key":"zz","iv":"zz"}`, `[1,2]`} {
		if err := rs.Client().Set(ctx, redisstore.KeyManagerKey, bad, 0).Err(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "bad_key for "+bad, func() bool { return r.Status().State != "ok" && r.Status().LastError != "" })
		time.Sleep(250 * time.Millisecond) // a few polls: the state must stay
		s := r.Status()
		if s.State != "bad_key" || !s.FailClosed || s.Reason == "" || !r.RequireAES() {
			t.Fatalf("Redis up holding %q: status %+v, RequireAES %v; want state bad_key, fail_closed and a reason", bad, s, r.RequireAES())
		}
		if cur, ok := r.Current(); !ok || !sameKey(cur, k) {
			t.Fatalf("Redis up holding %q: the last key is no longer in force", bad)
		}
		storeKey(t, st, k)
		waitFor(t, "ok again", func() bool { s := r.Status(); return s.State == "ok" && !s.FailClosed })
	}
}
