package tokens

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFileSource: the file is written 0600 and atomically, a change is
// seen by Version, and once tokens were in force a vanished or corrupt
// file keeps the last good set (fail closed).
func TestFileSource(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tokens.json")
	src := &FileSource{Path: path}
	if v, err := src.Version(ctx); err != nil || v != "none" {
		t.Fatalf("no file yet: %q %v", v, err)
	}
	if recs, err := src.Load(ctx); err != nil || len(recs) != 0 {
		t.Fatalf("no file yet: %v %v", recs, err)
	}
	text, r := mint(t, func(r *Record) { r.TTL, r.Renew, r.Expires = time.Hour, true, t0.Add(time.Hour) })
	if err := WriteFile(path, []Record{r}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	v1, _ := src.Version(ctx)
	recs, err := src.Load(ctx)
	if err != nil || len(recs) != 1 || recs[0].Hash != r.Hash {
		t.Fatalf("load: %v %v", recs, err)
	}
	s := NewSet()
	s.Replace(recs)
	if _, err := s.Check([]byte(text), netip.Addr{}, t0.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := src.WriteBack(ctx, s.Uses()); err != nil {
		t.Fatal(err)
	}
	recs, _ = src.Load(ctx)
	if want := t0.Add(90 * time.Minute); !recs[0].Expires.Equal(want) || recs[0].LastUsed.IsZero() {
		t.Fatalf("write back not merged: %+v", recs[0])
	}
	for _, breakIt := range []func() error{
		func() error { return os.WriteFile(path, []byte("{not json"), 0o600) },
		func() error { return os.Remove(path) },
	} {
		if err := breakIt(); err != nil {
			t.Fatal(err)
		}
		v2, verr := src.Version(ctx)
		_, lerr := src.Load(ctx)
		if (verr == nil && v2 == v1) || (verr == nil && lerr == nil) {
			t.Fatalf("broken file not reported: version %q %v, load %v", v2, verr, lerr)
		}
	}
}

// TestWatchFailClosed: Watch keeps the last good set when the file breaks.
func TestWatchFailClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	text, r := mint(t, nil)
	if err := WriteFile(path, []Record{r}); err != nil {
		t.Fatal(err)
	}
	s := NewSet()
	w := watcher{set: s, src: &FileSource{Path: path}, log: nil}
	w.log = discardLogger()
	w.poll(context.Background())
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.poll(context.Background())
	if _, err := s.Check([]byte(text), netip.Addr{}, t0); err != nil || !w.failing {
		t.Fatalf("corrupt file: %v (failing %v)", err, w.failing)
	}
	if err := WriteFile(path, nil); err != nil {
		t.Fatal(err)
	}
	w.poll(context.Background())
	if _, err := s.Check([]byte(text), netip.Addr{}, t0); !errors.Is(err, ErrUnknown) || w.failing {
		t.Fatalf("emptied file: %v", err)
	}
}

// TestFileUntrusted (attack finding F3): a tokens file writable by group
// or others, or owned by another user, is refused; the reader keeps what
// it had (Watch) instead of loading tokens someone else could have minted.
func TestFileUntrusted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	if err := WriteFile(path, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err != nil {
		t.Fatalf("0600 file of our own: %v", err)
	}
	for _, mode := range []os.FileMode{0o620, 0o602, 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadFile(path); !errors.Is(err, ErrUntrusted) {
			t.Errorf("mode %04o: %v, want ErrUntrusted", mode, err)
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Log("not root: the other-owner case needs chown (CI runs as root)")
		return
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); !errors.Is(err, ErrUntrusted) {
		t.Errorf("owned by uid 65534: %v, want ErrUntrusted", err)
	}
}
