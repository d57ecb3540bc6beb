package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pingHammer sends one-shot TCP pings back to back until stopped.
type pingHammer struct {
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	ok       int
	fails    []string
}

func startPingHammer(addr string) *pingHammer {
	h := &pingHammer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			select {
			case <-h.stop:
				return
			default:
			}
			got, err := oneShot("tcp", addr, "ping\n", true, 5*time.Second)
			if err != nil || string(got) != "pong\n" {
				h.fails = append(h.fails, fmt.Sprintf("%s: got %q, err %v", time.Now().Format("15:04:05.000"), got, err))
			} else {
				h.ok++
			}
		}
	}()
	return h
}

// finish stops the hammer and waits for it; safe to call twice.
func (h *pingHammer) finish() {
	h.stopOnce.Do(func() { close(h.stop) })
	<-h.done
}

func requireSocket0600(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("lstat %s: %v; want a socket", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: mode %v, want a socket with permissions 0600", path, fi.Mode())
	}
}

func requireGone(t *testing.T, path string) {
	t.Helper()
	if fi, err := os.Lstat(path); err == nil {
		t.Fatalf("%s still exists (mode %v) after manager_file stop replied", path, fi.Mode())
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("lstat %s: %v", path, err)
	}
}

// TestManagerFileCycles starts and stops the runtime Unix listener 5 times
// while TCP pings run without a break.
func TestManagerFileCycles(t *testing.T) {
	requireTools(t)
	s := startServer(t, serverConfig{noSocket: true})
	dir := shortTempDir(t)
	path := filepath.Join(dir, "mf.sock")
	other := filepath.Join(dir, "other.sock")

	s.expectReply(t, "tcp", "manager_file stop\n", "not running\n")
	h := startPingHammer(s.addr)
	defer h.finish()
	for cycle := 1; cycle <= 5; cycle++ {
		s.expectReply(t, "tcp", "manager_file start "+path+"\n", "OK ("+path+")\n")
		s.expectReply(t, "tcp", "manager_file start "+path+"\n", "running ("+path+")\n")
		s.expectReply(t, "tcp", "manager_file start "+other+"\n", "running ("+path+")\n")
		if _, err := os.Lstat(other); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("cycle %d: %s was created although a manager file was running (lstat err %v)", cycle, other, err)
		}
		requireSocket0600(t, path)

		out := filepath.Join(dir, "nc.out")
		script := "printf 'ping\\n' | timeout 10 nc -N -U " + shellQuote(path)
		if stderr, err := runShell(20*time.Second, script, out); err != nil {
			t.Fatalf("cycle %d: `%s`: %v, stderr %q", cycle, script, err, stderr)
		}
		compareFile(t, fmt.Sprintf("cycle %d: `%s`", cycle, script), out, []byte("pong\n"))
		got, err := oneShot("unix", path, "test_blob 1048576\n", true, 20*time.Second)
		if d := diffBytes(got, blobExpect(1<<20)); err != nil || d != "" {
			t.Fatalf("cycle %d: 1 MiB over the manager file: err %v; %s", cycle, err, d)
		}

		s.expectReply(t, "tcp", "manager_file stop\n", "OK\n")
		requireGone(t, path)
		s.expectReply(t, "tcp", "manager_file stop\n", "not running\n")
	}
	h.finish()
	if len(h.fails) > 0 {
		t.Errorf("%d of %d TCP pings failed during the manager_file cycles; first ones: %q",
			len(h.fails), len(h.fails)+h.ok, h.fails[:min(len(h.fails), 5)])
	}
	if h.ok == 0 {
		t.Errorf("no TCP ping succeeded during the manager_file cycles")
	}
	t.Logf("%d TCP pings answered during 5 manager_file cycles", h.ok)
}

// TestManagerFileRefusesNonSocket: a path that is a regular file or a
// directory is refused with an error reply and left alone.
func TestManagerFileRefusesNonSocket(t *testing.T) {
	s := startServer(t, serverConfig{noSocket: true})
	dir := shortTempDir(t)

	file := filepath.Join(dir, "notes.txt")
	content := []byte("keep me\n")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	child := filepath.Join(sub, "data.txt")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(child, content, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{file, sub} {
		reply := s.request(t, "tcp", "manager_file start "+path+"\n")
		if strings.HasPrefix(reply, "OK") || strings.HasPrefix(reply, "running") || !strings.HasSuffix(reply, "\n") {
			t.Errorf("manager_file start %s (not a socket): got %q, want an error reply line", path, reply)
		} else {
			t.Logf("manager_file start %s → %q", path, reply)
		}
		s.expectReply(t, "tcp", "manager_file stop\n", "not running\n")
	}
	if got, err := os.ReadFile(file); err != nil || string(got) != string(content) {
		t.Errorf("regular file %s changed: %q, err %v; want %q", file, got, err, content)
	}
	if fi, err := os.Lstat(sub); err != nil || !fi.IsDir() {
		t.Errorf("directory %s changed: %v, err %v", sub, fi, err)
	}
	if got, err := os.ReadFile(child); err != nil || string(got) != string(content) {
		t.Errorf("file %s inside the directory changed: %q, err %v; want %q", child, got, err, content)
	}
}

// TestManagerFileWithManagerSocket: the --managersocket listener is the
// manager file and cannot be stopped.
func TestManagerFileWithManagerSocket(t *testing.T) {
	s := startServer(t, serverConfig{})
	other := filepath.Join(s.dir, "other.sock")
	s.expectReply(t, "tcp", "manager_file start "+other+"\n", "running ("+s.sock+")\n")
	s.expectReply(t, "tcp", "manager_file stop\n", "manager enabled via the managersocket option cannot be terminated\n")
	s.expectReply(t, "unix", "manager_file stop\n", "manager enabled via the managersocket option cannot be terminated\n")
	if _, err := os.Lstat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s was created (lstat err %v)", other, err)
	}
	requireSocket0600(t, s.sock)
	s.expectReply(t, "unix", "ping\n", "pong\n")
}
