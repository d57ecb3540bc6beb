package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
	dir := shortTempDir(t)
	s := startServer(t, serverConfig{noSocket: true, flags: fileFlags(dir)})
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

		ncExpect(t, fmt.Sprintf("cycle %d: ", cycle), "printf 'ping\\n' | timeout 10 nc -N -U "+shellQuote(path),
			filepath.Join(dir, "nc.out"), []byte("pong\n"))
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
	dir := shortTempDir(t)
	s := startServer(t, serverConfig{noSocket: true, flags: fileFlags(dir)})

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
		if reply := s.request(t, "tcp", "manager_file start "+path+"\n"); reply != refusedPath {
			t.Errorf("manager_file start %s (not a socket): got %q, want %q", path, reply, refusedPath)
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
	s.expectReply(t, "unix", "manager_file start "+other+"\n", "running ("+s.sock+")\n")
	s.expectReply(t, "unix", "manager_file stop\n", "manager enabled via the managersocket option cannot be terminated\n")
	if _, err := os.Lstat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s was created (lstat err %v)", other, err)
	}
	requireSocket0600(t, s.sock)
	s.expectReply(t, "unix", "ping\n", "pong\n")
}

// fileFlags lets plaintext TCP clients use manager_file inside dir, for
// tests that drive it over TCP: manager_plain_level read_write (by default
// plaintext TCP has full_read and manager_file needs read_write) and
// manager_file_dir dir.
func fileFlags(dir string) []string {
	return []string{"--manager-plain-level", "read_write", "--manager-file-dir", dir}
}

// refusedPath is the one reply for every unusable manager_file path.
const refusedPath = "error: manager_file start: refused socket path\n"

// refusedPlain is the reply to manager_file over plaintext TCP by default
// (manager_plain_level full_read).
const refusedPlain = "error: manager_file needs read_write; this connection has full_read (plaintext)\n"

// requireRootFS skips tests that only mean something as root: the attacks
// matter when the sensor runs as root (as in CI), and some set-ups (chown)
// need it.
func requireRootFS(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the sensor runs as root in CI, where these attacks matter")
	}
}

// treeSnapshot describes every entry under root: path, type, permissions,
// inode and, for regular files, the content. Any change shows.
func treeSnapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&b, "%s %v ino=%d", p, fi.Mode(), st.Ino)
		if fi.Mode().IsRegular() {
			c, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %q", c)
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", root, err)
	}
	return b.String()
}

func mkVictim(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"keep.txt", "sub/data.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("victim "+f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestManagerFilePathTricks: every path a URL parser or path cleaning would
// read differently, or that goes through a symlink, is refused with the one
// uniform reply, and nothing on disk changes. Before the fix `dir?`, `dir#x`,
// `@x` and `lnk/../x` deleted the victim directory with everything in it.
func TestManagerFilePathTricks(t *testing.T) {
	requireRootFS(t)
	requireTools(t)
	base := shortTempDir(t)
	cwd := filepath.Join(base, "cwd")
	victim := filepath.Join(base, "v")
	mkVictim(t, victim)
	mkVictim(t, filepath.Join(cwd, "v")) // what "@v" and "v?" resolve to
	if err := os.MkdirAll(filepath.Join(base, "other", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "other", "deep"), filepath.Join(base, "lnk")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(base, "vl")); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverConfig{noSocket: true, flags: fileFlags(base), cwd: cwd})
	before := treeSnapshot(t, base)

	tricks := []struct{ name, path string }{
		{"question mark cuts the path", victim + "?"},
		{"hash cuts the path", victim + "#x"},
		{"leading @ is relative to the cwd", "@v"},
		{"relative with ?", "v?"},
		{"relative", "rel.sock"},
		{"dot-dot through a missing dir", base + "/missing/../v"},
		{"dot-dot through a real dir", base + "/other/../v"},
		{"dot-dot through a symlink", base + "/lnk/../v"},
		{"symlinked component", base + "/vl/x.sock"},
		{"symlinked last component", base + "/vl"},
		{"the victim itself", victim},
		{"trailing slash", victim + "/"},
		{"double slash", base + "//x.sock"},
		{"dot element", base + "/./x.sock"},
		{"over-long", base + "/" + strings.Repeat("x", 120)},
	}
	for _, tc := range tricks {
		if got := s.request(t, "tcp", "manager_file start "+tc.path+"\n"); got != refusedPath {
			t.Errorf("%s: manager_file start %s: got %q, want %q", tc.name, tc.path, got, refusedPath)
			s.request(t, "tcp", "manager_file stop\n")
		}
		if after := treeSnapshot(t, base); after != before {
			t.Fatalf("%s: manager_file start %s changed the file system:\nbefore:\n%s\nafter:\n%s", tc.name, tc.path, before, after)
		}
	}
	// The repro, with the real nc.
	ncExpect(t, "", "echo "+shellQuote("manager_file start "+victim+"?")+" | timeout 10 "+s.ncCmd("tcp"),
		filepath.Join(s.dir, "nc.out"), []byte(refusedPath))
	if after := treeSnapshot(t, base); after != before {
		t.Fatalf("nc repro changed the file system:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	s.expectReply(t, "tcp", "manager_file stop\n", "not running\n")
	if log := s.logTail(200); !strings.Contains(log, "manager_file start refused") {
		t.Errorf("refusals not logged (want a WARN line with the reason); log tail:\n%s", log)
	}
}

// liveVictim is a socket some other process holds.
type liveVictim struct {
	name  string
	path  string
	check func(t *testing.T) // the victim still works
}

func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// streamVictim listens on a stream (or seqpacket) socket.
func streamVictim(t *testing.T, network, p string) liveVictim {
	l, err := net.ListenUnix(network, &net.UnixAddr{Name: p, Net: network})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return liveVictim{name: network, path: p, check: func(t *testing.T) {
		c, err := net.DialTimeout(network, p, 2*time.Second)
		if err != nil {
			t.Fatalf("%s victim: dial: %v", network, err)
		}
		defer c.Close()
		_ = l.SetDeadline(time.Now().Add(2 * time.Second))
		a, err := l.Accept()
		if err != nil {
			t.Fatalf("%s victim: accept: %v", network, err)
		}
		_ = a.Close()
	}}
}

func dgramVictim(t *testing.T, p string) liveVictim {
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return liveVictim{name: "unixgram", path: p, check: func(t *testing.T) {
		c, err := net.Dial("unixgram", p)
		if err != nil {
			t.Fatalf("dgram victim: dial: %v", err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("still here")); err != nil {
			t.Fatalf("dgram victim: send: %v", err)
		}
		buf := make([]byte, 64)
		_ = l.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := l.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "still here" {
			t.Fatalf("dgram victim: got %q, %v", buf[:n], err)
		}
	}}
}

// busyVictim is a stream listener with backlog 0 whose queue is full, so a
// connect fails with EAGAIN although the socket is very much alive.
func busyVictim(t *testing.T, p string) liveVictim {
	lfd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(lfd) })
	if err := syscall.Bind(lfd, &syscall.SockaddrUnix{Name: p}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(lfd, 0); err != nil {
		t.Fatal(err)
	}
	queued := 0
	for i := 0; i < 64; i++ {
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Close(fd) })
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: p})
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err != nil {
			t.Fatalf("filling the backlog: %v", err)
		}
		queued++
	}
	if queued == 0 || queued == 64 {
		t.Fatalf("could not fill the backlog (%d queued)", queued)
	}
	return liveVictim{name: "stream, backlog full", path: p, check: func(t *testing.T) {
		fd, _, err := syscall.Accept(lfd)
		if err != nil {
			t.Fatalf("busy victim: accept: %v", err)
		}
		_ = syscall.Close(fd)
	}}
}

// TestManagerFileLiveVictims: a socket file that any process holds is never
// replaced, whatever its type or state. Before the fix a connect probe
// judged DGRAM and SEQPACKET sockets and a listener with a full backlog
// stale and replaced them.
func TestManagerFileLiveVictims(t *testing.T) {
	requireRootFS(t)
	dir := shortTempDir(t)
	s := startServer(t, serverConfig{noSocket: true, flags: fileFlags(dir)})
	victims := []liveVictim{
		streamVictim(t, "unix", filepath.Join(dir, "stream.sock")),
		dgramVictim(t, filepath.Join(dir, "dgram.sock")),
		streamVictim(t, "unixpacket", filepath.Join(dir, "seqpacket.sock")),
		busyVictim(t, filepath.Join(dir, "busy.sock")),
	}
	for _, v := range victims {
		t.Run(v.name, func(t *testing.T) {
			ino := inodeOf(t, v.path)
			if got := s.request(t, "tcp", "manager_file start "+v.path+"\n"); got != refusedPath {
				t.Errorf("manager_file start on a live %s socket: got %q, want %q", v.name, got, refusedPath)
				s.request(t, "tcp", "manager_file stop\n")
			}
			if got := inodeOf(t, v.path); got != ino {
				t.Fatalf("the live %s socket file was replaced (inode %d → %d)", v.name, ino, got)
			}
			v.check(t)
		})
	}
}

// staleSocket leaves a socket file whose socket is closed: nobody holds it.
func staleSocket(t *testing.T, p string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(p); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("stale socket %s: %v %v", p, fi, err)
	}
}

// TestManagerFileStaleSocket: a socket file nobody holds (bound, then its
// socket closed) and owned by the sensor's user is replaced, as before; one
// owned by another user is left alone.
func TestManagerFileStaleSocket(t *testing.T) {
	requireRootFS(t)
	dir := shortTempDir(t)
	s := startServer(t, serverConfig{noSocket: true, flags: fileFlags(dir)})
	p := filepath.Join(dir, "stale.sock")
	staleSocket(t, p)
	s.expectReply(t, "tcp", "manager_file start "+p+"\n", "OK ("+p+")\n")
	requireSocket0600(t, p)
	// A stale socket cannot answer: a pong means it was replaced.
	if got, err := oneShot("unix", p, "ping\n", true, 10*time.Second); err != nil || string(got) != "pong\n" {
		t.Fatalf("ping over the replacement socket: %q %v", got, err)
	}
	s.expectReply(t, "tcp", "manager_file stop\n", "OK\n")
	requireGone(t, p)

	foreign := filepath.Join(dir, "foreign.sock")
	staleSocket(t, foreign)
	if err := os.Lchown(foreign, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	ino := inodeOf(t, foreign)
	s.expectReply(t, "tcp", "manager_file start "+foreign+"\n", refusedPath)
	if inodeOf(t, foreign) != ino {
		t.Fatalf("another user's stale socket was replaced")
	}
}

// TestManagerFileStopLeavesReplacement: manager_file stop removes the socket
// it created and nothing else. Before the fix gnet's RemoveAll at stop
// deleted whatever was at the path by then.
func TestManagerFileStopLeavesReplacement(t *testing.T) {
	dir := shortTempDir(t)
	s := startServer(t, serverConfig{noSocket: true, flags: fileFlags(dir)})
	p := filepath.Join(dir, "mf.sock")
	s.expectReply(t, "tcp", "manager_file start "+p+"\n", "OK ("+p+")\n")
	if err := os.Rename(p, p+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "keep.txt"), []byte("someone else's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := treeSnapshot(t, p)
	s.expectReply(t, "tcp", "manager_file stop\n", "OK\n")
	if after := treeSnapshot(t, p); after != before {
		t.Fatalf("manager_file stop touched what replaced its socket:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// The server still opens a new listener afterwards.
	q := filepath.Join(dir, "again.sock")
	s.expectReply(t, "tcp", "manager_file start "+q+"\n", "OK ("+q+")\n")
	s.expectReply(t, "tcp", "manager_file stop\n", "OK\n")
	requireGone(t, q)
}

// TestManagerFilePlaintextTCP: manager_file is refused over plaintext TCP
// (text and JSON) at the default manager_plain_level, and never in
// plaintext once a key exists; encrypted requests and the Unix socket keep
// working. The repro with the real nc creates nothing.
func TestManagerFilePlaintextTCP(t *testing.T) {
	requireTools(t)
	dir := shortTempDir(t)
	p := filepath.Join(dir, "mf.sock")

	t.Run("default", func(t *testing.T) {
		s := startServer(t, serverConfig{noSocket: true, flags: []string{"--manager-file-dir", dir}})
		s.expectReply(t, "tcp", "manager_file start "+p+"\n", refusedPlain)
		s.expectReply(t, "tcp", "manager_file stop\n", refusedPlain)
		js := dialSession(t, "tcp", s.addr)
		const msg = `"error":"manager_file needs read_write; this connection has full_read (plaintext)","code":"unauthenticated","status":401}`
		js.send(`{"id":1,"cmd":"manager_file","args":"start ` + p + `"}`)
		js.expectLine(`{"id":1,`+msg, 5*time.Second)
		js.send(`{"id":2,"cmd":"manager_file","args":["start"]}`)
		js.expectLine(`{"id":2,`+msg, 5*time.Second)
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s created although refused (lstat err %v)", p, err)
		}
		// The repro, verbatim, with the real nc.
		srv, existed := "/srv/x.sock", true
		if _, err := os.Lstat(srv); errors.Is(err, fs.ErrNotExist) {
			existed = false
		}
		ncExpect(t, "", "echo 'manager_file start /srv/x.sock' | timeout 10 "+s.ncCmd("tcp"),
			filepath.Join(dir, "nc.out"), []byte(refusedPlain))
		if _, err := os.Lstat(srv); !existed && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the repro created %s (lstat err %v)", srv, err)
		}
	})
	t.Run("plain read_write", func(t *testing.T) {
		s := startServer(t, serverConfig{noSocket: true, flags: fileFlags(dir)})
		s.expectReply(t, "tcp", "manager_file start "+p+"\n", "OK ("+p+")\n")
		requireSocket0600(t, p)
		js := dialSession(t, "tcp", s.addr)
		js.send(`{"id":1,"cmd":"manager_file","args":"start"}`)
		js.expectLine(`{"id":1,"error":"","result":"running (`+p+`)"}`, 5*time.Second)
		s.expectReply(t, "tcp", "manager_file stop\n", "OK\n")
		requireGone(t, p)
		// Still confined to manager_file_dir, with the uniform refusal.
		s.expectReply(t, "tcp", "manager_file start /srv/x.sock\n", refusedPath)
	})
	t.Run("unix socket", func(t *testing.T) {
		s := startServer(t, serverConfig{})
		s.expectReply(t, "unix", "manager_file start "+p+"\n", "running ("+s.sock+")\n")
		s.expectReply(t, "tcp", "manager_file start "+p+"\n", refusedPlain)
	})
	t.Run("encrypted", func(t *testing.T) {
		k := newKey(t)
		s := startServer(t, serverConfig{noSocket: true, flags: append(k.flags(), fileFlags(dir)...)})
		// With a key, plaintext is refused as for any command that is not
		// plaintext-allowed, whatever manager_plain_level says.
		s.expectReply(t, "tcp", "manager_file start "+p+"\n", "need aes!\n")
		raw, err := legacyCall("tcp", s.addr, k, "manager_file start "+p)
		if plain, perr := openLegacyReply(k, raw); err != nil || perr != nil || string(plain) != "OK ("+p+")\n" {
			t.Fatalf("legacy manager_file start: %q %v %v", plain, err, perr)
		}
		got, err := hardenedDo("tcp", s.addr, k, "manager_file stop")
		if err != nil || string(got) != "OK\n" {
			t.Fatalf("hardened manager_file stop: %q %v", got, err)
		}
		requireGone(t, p)
	})
}
