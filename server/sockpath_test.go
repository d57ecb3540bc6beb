package server

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"tapline/commands"
	"tapline/config"
)

// shortDir is a directory whose paths stay well under sun_path's 107 bytes
// (t.TempDir() paths carry the test name).
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

func TestCheckSocketSyntax(t *testing.T) {
	refused := []struct{ name, path string }{
		{"empty", ""},
		{"relative", "x.sock"},
		{"dot relative", "./x.sock"},
		{"leading @", "@x"},
		{"root", "/"},
		{"question mark", "/srv/v?"},
		{"hash", "/srv/v#x"},
		{"dot-dot", "/srv/a/../x"},
		{"dot-dot at the end", "/srv/.."},
		{"dot", "/srv/./x"},
		{"double slash", "/srv//x"},
		{"trailing slash", "/srv/x/"},
		{"NUL", "/srv/x\x00y"},
		{"newline", "/srv/x\ny"},
		{"DEL", "/srv/x\x7f"},
		{"invalid UTF-8", "/srv/x\xff"},
		{"over-long", "/" + strings.Repeat("s", maxSunPath)},
	}
	for _, tc := range refused {
		if err := checkSocketSyntax(tc.path); err == nil {
			t.Errorf("%s: %q accepted", tc.name, tc.path)
		}
	}
	accepted := []string{
		"/tmp/x.sock",
		"/run/tapline/manager.sock",
		"/tmp/a=b.sock",
		"/tmp/100%.sock",
		"/tmp/a b.sock",
		"/tmp/@x",
		"/tmp/x@y",
		"/" + strings.Repeat("s", maxSunPath-1),
	}
	for _, p := range accepted {
		if err := checkSocketSyntax(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
		if got, ok := gnetUnixPath(p); !ok || got != p {
			t.Errorf("%q: gnet would read %q", p, got)
		}
	}
}

// TestSocketHeld: the kernel's view decides, not a connect probe. A socket
// renamed after bind is found by its inode (sock_diag), since /proc/net/unix
// only has the name it was bound with.
func TestSocketHeld(t *testing.T) {
	dir := shortDir(t)
	held := func(p string) bool {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		h, err := socketHeld(p, &st)
		if err != nil {
			t.Fatalf("socketHeld(%s): %v", p, err)
		}
		return h
	}
	listen := func(network, name string) string {
		p := filepath.Join(dir, name)
		l, err := net.ListenUnix(network, &net.UnixAddr{Name: p, Net: network})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return p
	}
	for _, network := range []string{"unix", "unixpacket"} {
		if p := listen(network, network+".sock"); !held(p) {
			t.Errorf("a listening %s socket is not held", network)
		}
	}
	g := filepath.Join(dir, "dgram.sock")
	gl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: g, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer gl.Close()
	if !held(g) {
		t.Error("a bound DGRAM socket is not held")
	}

	renamed := listen("unix", "before.sock")
	after := filepath.Join(dir, "after.sock")
	if err := os.Rename(renamed, after); err != nil {
		t.Fatal(err)
	}
	if !held(after) {
		t.Error("a listening socket renamed after bind is not held")
	}

	stale := filepath.Join(dir, "stale.sock")
	sl, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	sl.SetUnlinkOnClose(false)
	_ = sl.Close()
	if held(stale) {
		t.Error("a closed socket's file is held")
	}
}

// TestPrepareSocketRefuses: symlinked components, non-sockets and missing
// directories are refused and nothing on disk changes.
func TestPrepareSocketRefuses(t *testing.T) {
	dir := shortDir(t)
	victim := filepath.Join(dir, "v")
	if err := os.MkdirAll(filepath.Join(victim, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "keep.txt"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "lnk")); err != nil {
		t.Fatal(err)
	}
	before := listTree(t, dir)
	for _, p := range []string{
		victim,
		filepath.Join(victim, "keep.txt"),
		filepath.Join(dir, "lnk", "x.sock"),
		filepath.Join(dir, "lnk"),
		filepath.Join(dir, "missing", "x.sock"),
		filepath.Join(victim, "keep.txt", "x.sock"),
	} {
		if u, err := prepareSocket(p, fileSockPerm); err == nil {
			u.release()
			t.Errorf("%s accepted", p)
		}
		if after := listTree(t, dir); after != before {
			t.Fatalf("prepareSocket(%s) changed the directory:\n%s\nwant:\n%s", p, after, before)
		}
	}
}

func listTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + " " + d.Type().String() + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestManagerFileLifecycle: start publishes a 0600 socket and leaves no
// private directory behind; stop removes only the inode it created;
// refusals all carry the one text.
func TestManagerFileLifecycle(t *testing.T) {
	dir := shortDir(t)
	s, _, _ := startServer(t, func(c *config.Config) { c.ManagerSocket = ""; c.FileDir = dir })
	p := filepath.Join(dir, "mf.sock")
	if got, err := s.ManagerFileStart(p, commands.ConnInfo{}); err != nil || got != "OK ("+p+")\n" {
		t.Fatalf("start: %q %v", got, err)
	}
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want a 0600 socket", p, fi, err)
	}
	if got := do(t, "unix", p, "ping"); got != "pong\n" {
		t.Fatalf("ping over %s: %q", p, got)
	}
	if got := listTree(t, dir); got != dir+" d---------\n"+p+" S---------\n" {
		t.Errorf("directory holds more than the socket:\n%s", got)
	}
	// Someone replaces the file: stop leaves the replacement alone.
	if err := os.Rename(p, p+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("not yours"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ManagerFileStop(commands.ConnInfo{}); err != nil || got != "OK\n" {
		t.Fatalf("stop: %q %v", got, err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "not yours" {
		t.Errorf("replacement changed: %q %v", b, err)
	}

	// Every refusal is the same error, whatever the reason.
	outside := shortDir(t)
	for _, bad := range []string{dir, p, dir + "?", "rel.sock", filepath.Join(dir, "missing", "s"),
		filepath.Join(outside, "x.sock"), dir + "x/y.sock", dir + "/../" + filepath.Base(outside) + "/x.sock"} {
		_, err := s.ManagerFileStart(bad, commands.ConnInfo{})
		if !errors.Is(err, errRefusedPath) || err.Error() != "manager_file start: refused socket path" {
			t.Errorf("start %q: %v, want the uniform refusal", bad, err)
		}
	}
}

// TestConfiguredSocketPath: a relative managersocket is taken against the
// working directory; a non-canonical one fails Start.
func TestConfiguredSocketPath(t *testing.T) {
	dir := shortDir(t)
	t.Chdir(dir)
	cfg := config.Default()
	cfg.ManagerPort = 0
	cfg.ManagerSocket = "m.sock"
	s := New(cfg, commands.Default(), nil, nil)
	if err := s.Start(); err != nil {
		t.Fatalf("start with a relative managersocket: %v", err)
	}
	if got := do(t, "unix", filepath.Join(dir, "m.sock"), "ping"); got != "pong\n" {
		t.Fatalf("ping over %s/m.sock: %q", dir, got)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "m.sock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left after shutdown: %v", err)
	}
	for _, bad := range []string{"./m.sock", "x/../m.sock", dir + "/m.sock?"} {
		cfg := config.Default()
		cfg.ManagerPort = 0
		cfg.ManagerSocket = bad
		s := New(cfg, commands.Default(), nil, nil)
		if err := s.Start(); err == nil {
			_ = s.Shutdown(context.Background())
			t.Errorf("managersocket %q accepted", bad)
		}
		s.pool.close()
	}
}

// TestManagerFileDir: without a path the socket is
// <manager_file_dir>/tapline-manager.sock; the directory defaults to that
// of managersocket, then to rundir; a path outside it is refused and
// nothing is created there.
func TestManagerFileDir(t *testing.T) {
	fileDir, sockDir, runDir, outside := shortDir(t), shortDir(t), shortDir(t), shortDir(t)
	cases := []struct {
		name string
		cfg  func(*config.Config)
		want string
	}{
		{"manager_file_dir", func(c *config.Config) { c.FileDir = fileDir; c.ManagerSocket = filepath.Join(sockDir, "m.sock") }, fileDir},
		{"managersocket's directory", func(c *config.Config) { c.ManagerSocket = filepath.Join(sockDir, "m.sock") }, sockDir},
		{"rundir", func(c *config.Config) { c.ManagerSocket = ""; c.RunDir = runDir }, runDir},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			tc.cfg(&cfg)
			s := New(cfg, commands.Default(), nil, nil)
			defer s.pool.close()
			got, err := s.managerFilePath("")
			if want := filepath.Join(tc.want, managerFileName); err != nil || got != want {
				t.Fatalf("default path %q %v, want %q", got, err, want)
			}
			for _, bad := range []string{filepath.Join(outside, "x.sock"), tc.want + "x/y.sock", tc.want, "/x.sock"} {
				if p, err := s.managerFilePath(bad); err == nil {
					t.Errorf("%q accepted as %q", bad, p)
				}
			}
			if p, err := s.managerFilePath(filepath.Join(tc.want, "sub", "x.sock")); err != nil {
				t.Errorf("a path in a subdirectory refused: %q %v", p, err)
			}
		})
	}
	// End to end: the default path is used and is 0600.
	s, _, _ := startServer(t, func(c *config.Config) { c.ManagerSocket = ""; c.RunDir = runDir; c.SocketMode = 0o666 })
	p := filepath.Join(runDir, managerFileName)
	if got, err := s.ManagerFileStart("", commands.ConnInfo{}); err != nil || got != "OK ("+p+")\n" {
		t.Fatalf("start: %q %v", got, err)
	}
	if fi, err := os.Lstat(p); err != nil || fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want a 0600 socket whatever managersocket_mode says", p, fi, err)
	}
	if _, err := s.ManagerFileStop(commands.ConnInfo{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ManagerFileStart(filepath.Join(outside, "x.sock"), commands.ConnInfo{}); !errors.Is(err, errRefusedPath) {
		t.Fatalf("a path outside the directory: %v", err)
	}
	if got := listTree(t, outside); got != outside+" d---------\n" {
		t.Errorf("something was created outside manager_file_dir:\n%s", got)
	}
}

// TestManagerSocketPerm: managersocket_mode and managersocket_group are on
// the socket when it appears; an unknown group fails the start.
func TestManagerSocketPerm(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the socket a group the test user is not in (we run as root here and in CI)")
	}
	dir := shortDir(t)
	p := filepath.Join(dir, "m.sock")
	startServer(t, func(c *config.Config) { c.ManagerSocket = p; c.SocketMode = 0o660; c.SocketGroup = "4242" })
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o660 || st.Gid != 4242 {
		t.Fatalf("%s: mode %v gid %d, want 0660 and gid 4242", p, fi.Mode(), st.Gid)
	}
	cfg := config.Default()
	cfg.ManagerPort = 0
	cfg.ManagerSocket = filepath.Join(dir, "n.sock")
	cfg.SocketGroup = "no-such-group-tapline"
	s := New(cfg, commands.Default(), nil, nil)
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "managersocket_group") {
		_ = s.Shutdown(context.Background())
		t.Fatalf("unknown managersocket_group: start gave %v, want an error naming the key", err)
	}
	s.pool.close()
}
