package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"tapline/internal/redistest"
)

var testKey = StoredKey{Key: "MDEyMzQ1Njc4OWFiY2RlZg==", IV: "ZmVkY2JhOTg3NjU0MzIxMA=="}

func TestPing(t *testing.T) {
	_, s := setup(t)
	if err := s.Ping(tctx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestManagerKey(t *testing.T) {
	srv, s := setup(t)
	ctx := tctx(t)

	if _, ok, err := s.GetManagerKey(ctx); ok || err != nil {
		t.Fatalf("Get on empty Redis: ok=%v err=%v", ok, err)
	}
	if err := s.SetManagerKey(ctx, testKey); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.GetManagerKey(ctx)
	if err != nil || !ok || got != testKey {
		t.Fatalf("Get = %+v, %v, %v; want %+v", got, ok, err, testKey)
	}
	// The stored form is the documented JSON, without a TTL.
	raw, err := srv.Client().Get(ctx, KeyManagerKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"key":"` + testKey.Key + `","iv":"` + testKey.IV + `"}`; raw != want {
		t.Fatalf("stored %s, want %s", raw, want)
	}
	if ttl := srv.Client().TTL(ctx, KeyManagerKey).Val(); ttl != -1 {
		t.Fatalf("manager key TTL %v, want none", ttl)
	}

	existed, err := s.DeleteManagerKey(ctx)
	if err != nil || !existed {
		t.Fatalf("Delete = %v, %v; want true", existed, err)
	}
	existed, err = s.DeleteManagerKey(ctx)
	if err != nil || existed {
		t.Fatalf("second Delete = %v, %v; want false", existed, err)
	}
	if _, ok, err := s.GetManagerKey(ctx); ok || err != nil {
		t.Fatalf("Get after Delete: ok=%v err=%v", ok, err)
	}
}

// TestPlaintextMarker: keys delete --allow-plaintext sets the marker and
// deletes the key; keys store removes the marker; an empty Redis (FLUSHALL)
// has no marker, and a malformed one is an error, never a permission.
func TestPlaintextMarker(t *testing.T) {
	srv, s := setup(t)
	ctx := tctx(t)
	if _, ok, err := s.PlaintextAllowed(ctx); ok || err != nil {
		t.Fatalf("marker on an empty Redis: ok=%v err=%v", ok, err)
	}
	if err := s.SetManagerKey(ctx, testKey); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	existed, err := s.AllowPlaintext(ctx, now)
	if err != nil || !existed {
		t.Fatalf("AllowPlaintext = %v, %v; want the key deleted", existed, err)
	}
	if _, ok, err := s.GetManagerKey(ctx); ok || err != nil {
		t.Fatalf("key after AllowPlaintext: ok=%v err=%v", ok, err)
	}
	m, ok, err := s.PlaintextAllowed(ctx)
	if err != nil || !ok || !m.At.Equal(now) {
		t.Fatalf("PlaintextAllowed = %+v, %v, %v; want at %v", m, ok, err, now)
	}
	if ttl := srv.Client().TTL(ctx, keyPlaintextAllowed).Val(); ttl != -1 {
		t.Fatalf("marker TTL %v, want none", ttl)
	}
	if err := s.SetManagerKey(ctx, testKey); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.PlaintextAllowed(ctx); ok || err != nil {
		t.Fatalf("marker after a new key was stored: ok=%v err=%v; want gone", ok, err)
	}
	if _, err := s.AllowPlaintext(ctx, now); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.PlaintextAllowed(ctx); ok || err != nil {
		t.Fatalf("marker after FLUSHALL: ok=%v err=%v; want none", ok, err)
	}
	for _, raw := range []string{"1", "yes", `{}`, `{"at":"never"}`} {
		if err := srv.Client().Set(ctx, keyPlaintextAllowed, raw, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.PlaintextAllowed(ctx); ok || err == nil {
			t.Errorf("marker %q: ok=%v err=%v; want an error and no permission", raw, ok, err)
		}
	}
}

func TestManagerKeyBadValues(t *testing.T) {
	srv, s := setup(t)
	ctx := tctx(t)
	for _, raw := range []string{"not json", `{"key":"a"}`, `{}`, `[1,2]`} {
		if err := srv.Client().Set(ctx, KeyManagerKey, raw, 0).Err(); err != nil {
			t.Fatal(err)
		}
		_, ok, err := s.GetManagerKey(ctx)
		if err == nil || ok || !strings.Contains(err.Error(), KeyManagerKey) {
			t.Errorf("Get of %q: ok=%v err=%v; want an error naming the key", raw, ok, err)
		}
	}
	for _, k := range []StoredKey{{}, {Key: "a"}, {IV: "b"}} {
		if err := s.SetManagerKey(ctx, k); err == nil {
			t.Errorf("Set(%+v) accepted an incomplete key", k)
		}
	}
}

func TestUnixSocketAndPassword(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPassword("pw"))
	ctx := tctx(t)
	for _, url := range []string{srv.URL(), srv.SocketURL()} {
		s := open(t, url)
		if err := s.SetManagerKey(ctx, testKey); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if got, ok, err := s.GetManagerKey(ctx); err != nil || !ok || got != testKey {
			t.Fatalf("%s: Get = %+v, %v, %v", url, got, ok, err)
		}
	}
	s := open(t, "redis://"+srv.Addr()+"/0") // no password
	if err := s.SetManagerKey(ctx, testKey); err == nil {
		t.Fatal("Set without the password succeeded")
	}
}

func TestDatabaseNumber(t *testing.T) {
	srv := redistest.Start(t)
	ctx := tctx(t)
	s := open(t, "redis://"+srv.Addr()+"/5")
	if err := s.SetManagerKey(ctx, testKey); err != nil {
		t.Fatal(err)
	}
	if n := srv.Client().Exists(ctx, KeyManagerKey).Val(); n != 0 {
		t.Fatal("key landed in database 0")
	}
	s2 := open(t, srv.SocketURL()+"?db=5")
	if _, ok, err := s2.GetManagerKey(ctx); !ok || err != nil {
		t.Fatalf("database 5 via the socket: ok=%v err=%v", ok, err)
	}
}

// TestACL checks the permissions the package doc tells operators to grant.
func TestACL(t *testing.T) {
	srv := redistest.Start(t)
	ctx := tctx(t)
	acl := []any{"ACL", "SETUSER", "tapline", "on", ">pw", "resetchannels"}
	for _, r := range strings.Fields("~tapline:* &tapline:* +get +set +del +scan +sadd +srem +smembers +scard +sismember +watch +unwatch +publish +subscribe +ping +hgetall +hget +hset +hsetnx +hdel +hlen +multi +exec") {
		acl = append(acl, r)
	}
	if err := srv.Client().Do(ctx, acl...).Err(); err != nil {
		t.Fatal(err)
	}
	s := open(t, "redis://tapline:pw@"+srv.Addr()+"/0")
	ch := s.Subscribe(ctx)
	waitEvent(t, ch, "initial subscribe")
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SetManagerKey(ctx, testKey); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ch, "event")
	if _, _, err := s.GetManagerKey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteManagerKey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AllowPlaintext(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PlaintextAllowed(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.registerSensor(ctx, Sensor{IDSensor: 1}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LookupSensor(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if l, err := s.listSensors(ctx); err != nil || len(l) != 1 {
		t.Fatalf("List = %v, %v", l, err)
	}
	if err := s.unregisterSensor(ctx, 1); err != nil {
		t.Fatal(err)
	}
	exerciseTokens(t, s)
	exerciseAllowlist(t, s)
	// And the user really is confined.
	if err := s.rdb.Set(ctx, "other", "x", 0).Err(); err == nil {
		t.Fatal("ACL let tapline write a foreign key")
	}

	// Another database needs +select, as the package doc says.
	s5 := open(t, "redis://tapline:pw@"+srv.Addr()+"/5")
	if err := s5.Ping(ctx); err == nil {
		t.Fatal("database 5 worked without +select")
	}
	if err := srv.Client().Do(ctx, "ACL", "SETUSER", "tapline", "+select").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "database 5 with +select", func() error { return s5.SetManagerKey(ctx, testKey) })
}

// TestRedisDown checks that every call fails, and fails fast, while Redis
// is down, and works again once it is back.
func TestRedisDown(t *testing.T) {
	srv, s := setup(t)
	ctx := tctx(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ops := map[string]func(context.Context) error{
		"Ping": s.Ping,
		"GetManagerKey": func(ctx context.Context) error {
			_, _, err := s.GetManagerKey(ctx)
			return err
		},
		"SetManagerKey": func(ctx context.Context) error { return s.SetManagerKey(ctx, testKey) },
		"DeleteManagerKey": func(ctx context.Context) error {
			_, err := s.DeleteManagerKey(ctx)
			return err
		},
		"registerSensor": func(ctx context.Context) error {
			return s.registerSensor(ctx, Sensor{IDSensor: 1}, time.Minute)
		},
		"unregisterSensor": func(ctx context.Context) error { return s.unregisterSensor(ctx, 1) },
		"LookupSensor": func(ctx context.Context) error {
			_, _, err := s.LookupSensor(ctx, 1)
			return err
		},
		"listSensors": func(ctx context.Context) error {
			_, err := s.listSensors(ctx)
			return err
		},
	}
	for name, op := range ops {
		done := make(chan error, 1)
		go func() { done <- op(context.Background()) }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s succeeded with Redis down", name)
			} else if !strings.HasPrefix(err.Error(), "redisstore: ") {
				t.Errorf("%s: error %q lacks context", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s hangs with Redis down", name)
		}
	}
	srv.Restart()
	eventually(t, 10*time.Second, "Ping after restart", func() error { return s.Ping(ctx) })
	if err := s.SetManagerKey(ctx, testKey); err != nil {
		t.Fatal(err)
	}
}

func TestCallerContextIsHonoured(t *testing.T) {
	_, s := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping with a cancelled context: %v", err)
	}
}

// TestGetOversizedValue: a value larger than tapline ever writes is a bad
// value (the keyring then reports bad_key and stays closed), not parsed.
func TestGetOversizedValue(t *testing.T) {
	srv, s := setup(t)
	ctx := tctx(t)
	big := `{"key":"` + strings.Repeat("A", maxValue) + `","iv":"x"}`
	if err := srv.Client().Set(ctx, KeyManagerKey, big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.GetManagerKey(ctx); ok || !errors.Is(err, ErrBadValue) {
		t.Fatalf("GetManagerKey of a %d-byte value: ok=%v err=%v; want ErrBadValue", len(big), ok, err)
	}
}
