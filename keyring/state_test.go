package keyring

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tapline/redisstore"
)

// TestStateFile: the file round-trips, is written 0600 in a 0700 directory
// created on demand, holds no secret, and anything that is not ours reads as
// an error (the caller then fails closed), while a missing file is "never".
func TestStateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "sub")
	f := NewStateFile(dir)
	if _, ok, err := f.Read(); ok || err != nil {
		t.Fatalf("Read without a file: ok=%v err=%v; want neither", ok, err)
	}
	k := mustKey(t)
	want := Enforced{Enforced: true, Fingerprint: k.Fingerprint(), Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	// The server narrows the umask to 0177 for a moment while it creates
	// its Unix socket; directories made meanwhile must still be 0700.
	old := syscall.Umask(0o177)
	err := f.Write(want)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := f.Read()
	if err != nil || !ok || got != want {
		t.Fatalf("Read = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	for path, mode := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Dir(dir): 0o700 | os.ModeDir, f.Path(): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != mode {
			t.Errorf("%s: mode %v (%v); want %v", path, fi.Mode(), err, mode)
		}
	}
	raw, _ := os.ReadFile(f.Path())
	kb, ivb := k.Base64()
	if bytes.Contains(raw, []byte(kb)) || bytes.Contains(raw, []byte(ivb)) || bytes.Contains(raw, k.AES) {
		t.Errorf("the state file holds the secret: %q", raw)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("statedir holds %d entries after Write; want only %s (no temporary files left)", len(ents), stateFileName)
	}

	for name, content := range map[string][]byte{
		"garbage":  []byte("not json"),
		"truncate": []byte(`{"enforced":tr`),
		"huge":     bytes.Repeat([]byte(" "), maxStateFile+1),
	} {
		if err := os.WriteFile(f.Path(), content, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := f.Read(); ok || !errors.Is(err, ErrStateCorrupt) {
			t.Errorf("%s: ok=%v err=%v; want ErrStateCorrupt", name, ok, err)
		}
	}
	if err := f.Clear(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.Read(); ok || err != nil {
		t.Fatalf("Read after Clear: ok=%v err=%v", ok, err)
	}
	if err := f.Clear(); err != nil {
		t.Fatalf("Clear without a file: %v", err)
	}
}

// lockedBuf is a log sink safe for the watcher's goroutine.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureSlog sends the default logger to a buffer for the test.
func captureSlog(t *testing.T) *lockedBuf {
	lb := &lockedBuf{}
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(lb, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return lb
}

// watched starts a ring that remembers in dir and watches st.
func watched(t *testing.T, st *redisstore.Store, dir string) *Ring {
	r := New(time.Minute)
	r.Remember(NewStateFile(dir))
	r.SetState("loading", "", true)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.Watch(ctx, st, 100*time.Millisecond)
	return r
}

// TestMissingKeyAcrossRestart is the attack: a key enforced from
// Redis, then Redis loses its data. The sensor must stay closed (state
// "missing", ERROR logged), also after a restart against the empty Redis,
// until the operator's marker reopens plaintext (WARN logged).
func TestMissingKeyAcrossRestart(t *testing.T) {
	logs := captureSlog(t)
	rs, st := startRedis(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	k := mustKey(t)
	kb, _ := k.Base64()
	storeKey(t, st, k)
	r1 := watched(t, st, dir)
	waitFor(t, "the key", func() bool { return r1.Status().State == "ok" })
	if e, ok, err := NewStateFile(dir).Read(); err != nil || !ok || !e.Enforced || e.Fingerprint != k.Fingerprint() {
		t.Fatalf("state file after a key was enforced: %+v %v %v", e, ok, err)
	}
	if err := rs.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "state missing after FLUSHALL", func() bool { return r1.Status().State == "missing" })
	s1 := r1.Status()
	if cur, ok := r1.Current(); !ok || !sameKey(cur, k) || !r1.RequireAES() || !s1.FailClosed || s1.Reason == "" {
		t.Fatalf("after FLUSHALL: %+v; want the last key kept, fail_closed and a reason", s1)
	}
	if strings.Contains(s1.Reason, kb) {
		t.Fatal("the reason shows the secret")
	}
	// The state changes before its log line is written: wait for the line.
	waitFor(t, "an ERROR logged for the missing key", func() bool { return strings.Contains(logs.String(), "level=ERROR") })

	// A restart: a new ring with the same statedir and an empty Redis.
	r2 := watched(t, st, dir)
	if !r2.RequireAES() {
		t.Fatal("a restarted ring that remembers a key must fail closed before its first read")
	}
	waitFor(t, "restarted ring: missing", func() bool { return r2.Status().State == "missing" })
	if _, ok := r2.Current(); ok || !r2.RequireAES() || !r2.Status().FailClosed {
		t.Fatalf("restarted ring against an empty Redis: %+v; want no key and fail closed", r2.Status())
	}
	rs.Stop() // and Redis down on top of it: still closed
	waitFor(t, "redis_down", func() bool { return r2.Status().State == "redis_down" })
	if !r2.RequireAES() {
		t.Fatalf("Redis down after a missing key opened plaintext: %+v", r2.Status())
	}
	rs.Restart()
	waitFor(t, "missing again", func() bool { return r2.Status().State == "missing" })

	// A plain delete is no permission; --allow-plaintext is.
	if _, err := st.DeleteManagerKey(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a few polls
	if !r2.RequireAES() {
		t.Fatal("a plain delete reopened plaintext")
	}
	if _, err := st.AllowPlaintext(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "plaintext allowed", func() bool { return !r2.RequireAES() && !r1.RequireAES() })
	if _, ok, err := NewStateFile(dir).Read(); ok || err != nil {
		t.Errorf("state file after --allow-plaintext: ok=%v err=%v; want removed", ok, err)
	}
	waitFor(t, "a WARN for plaintext allowed", func() bool {
		return strings.Contains(logs.String(), "level=WARN msg=\"plaintext TCP requests allowed again")
	})

	// Allowed and then flushed: the sensor is one that never had a key.
	r3 := watched(t, st, dir)
	waitFor(t, "a fresh ring: no_key", func() bool { return r3.Status().State == "no_key" && !r3.RequireAES() })
}

// TestStateFileTrouble: an unreadable state file fails closed (ERROR), and
// a statedir that cannot be written keeps the ring closed in memory and
// shows the error in the status.
func TestStateFileTrouble(t *testing.T) {
	logs := captureSlog(t)
	_, st := startRedis(t)
	ctx := context.Background()

	corrupt := t.TempDir()
	if err := os.WriteFile(filepath.Join(corrupt, stateFileName), []byte("\x00garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := watched(t, st, corrupt)
	waitFor(t, "corrupt state: missing", func() bool { return r.Status().State == "missing" })
	if !r.RequireAES() || r.Status().StateError == "" {
		t.Fatalf("corrupt state file: %+v; want fail closed with a state_error", r.Status())
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"manager key state file unreadable") {
		t.Errorf("no ERROR for the corrupt state file:\n%s", logs)
	}

	// statedir below a regular file: never writable.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	k := mustKey(t)
	storeKey(t, st, k)
	w := watched(t, st, filepath.Join(blocker, "state"))
	waitFor(t, "key with an unwritable statedir", func() bool { return w.Status().State == "ok" && w.Status().StateError != "" })
	if !strings.Contains(logs.String(), "level=ERROR msg=\"manager key state file cannot be written") {
		t.Errorf("no ERROR for the unwritable statedir:\n%s", logs)
	}
	if _, err := st.DeleteManagerKey(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "missing, in memory", func() bool { return w.Status().State == "missing" })
	if !w.RequireAES() {
		t.Fatal("a ring that cannot write its state must still fail closed in memory")
	}
	// The corrupt file was rewritten when the key was loaded.
	if e, ok, err := NewStateFile(corrupt).Read(); err != nil || !ok || e.Fingerprint != k.Fingerprint() {
		t.Errorf("corrupt state file not rewritten: %+v %v %v", e, ok, err)
	}
}

// TestNeverKeyedIgnoresMarker: a ring that never enforced a key serves
// plaintext with or without the marker and logs no WARN.
func TestNeverKeyedIgnoresMarker(t *testing.T) {
	logs := captureSlog(t)
	_, st := startRedis(t)
	r := watched(t, st, t.TempDir())
	waitFor(t, "no_key", func() bool { return r.Status().State == "no_key" && !r.RequireAES() })
	if _, err := st.AllowPlaintext(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if r.RequireAES() || strings.Contains(logs.String(), "level=WARN") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("never-keyed ring: RequireAES=%v, log:\n%s", r.RequireAES(), logs)
	}
}

// TestStaleMarker: a plaintext marker older than the key in force (left by
// an earlier --allow-plaintext when a GUI then wrote the key into Redis
// itself, so nothing removed the marker) must not turn a bare DEL of the key
// into a permission.
func TestStaleMarker(t *testing.T) {
	rs, st := startRedis(t)
	ctx := context.Background()
	if _, err := st.AllowPlaintext(ctx, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	k := mustKey(t)
	kb, ivb := k.Base64()
	if err := rs.Client().Set(ctx, redisstore.KeyManagerKey, `{"key":"`+kb+`","iv":"`+ivb+`"}`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	r := watched(t, st, t.TempDir())
	waitFor(t, "the key", func() bool { return r.Status().State == "ok" })
	if err := rs.Client().Del(ctx, redisstore.KeyManagerKey).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "missing despite the stale marker", func() bool { return r.Status().State == "missing" })
	if !r.RequireAES() || !strings.Contains(r.Status().Reason, "predates") {
		t.Fatalf("stale marker: %+v; want fail closed, the reason naming the old marker", r.Status())
	}
	if _, err := st.AllowPlaintext(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "plaintext after a fresh marker", func() bool { return !r.RequireAES() })
}
