package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// taplineBin is the server binary that TestMain builds once per run.
var taplineBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	// A -race server sleeps 1 s at exit by default; every test stops several.
	os.Setenv("GORACE", strings.TrimSpace("atexit_sleep_ms=0 "+os.Getenv("GORACE")))
	if bin := os.Getenv("TAPLINE_E2E_BIN"); bin != "" {
		// A prebuilt binary (it must include the tapline_testcmds commands).
		taplineBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "tapline-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	taplineBin = filepath.Join(dir, "tapline")
	start := time.Now()
	if err := buildServer(taplineBin); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: cannot build the server under test:\n%v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: built %s (race=%v) in %v\n", taplineBin, raceEnabled, time.Since(start).Round(time.Millisecond))
	return m.Run()
}

// buildServer builds ./cmd/tapline with the test-only commands, and with
// -race when this test binary runs with the race detector.
func buildServer(out string) error {
	args := []string{"build", "-tags", "tapline_testcmds"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "-o", out, "./cmd/tapline")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = ".." // the module root; go test runs us in e2e/
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

var (
	toolsOnce sync.Once
	toolsErr  error
)

// requireTools fails the test when the external clients are missing.
func requireTools(t testing.TB) {
	t.Helper()
	toolsOnce.Do(func() { toolsErr = checkTools() })
	if toolsErr != nil {
		t.Fatalf("%v; run `make deps` (it installs netcat-openbsd and socat)", toolsErr)
	}
}

func checkTools() error {
	for _, tool := range []string{"bash", "timeout", "nc", "socat"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed: %v", tool, err)
		}
	}
	out, _ := exec.Command("nc", "-h").CombinedOutput()
	if !bytes.Contains(out, []byte("OpenBSD netcat")) {
		return fmt.Errorf("nc is not netcat-openbsd (nc -h starts with %q)", firstLine(out))
	}
	return nil
}

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// shortTempDir returns a new directory under os.TempDir(). t.TempDir() paths
// contain the test name and can exceed the 108-byte sun_path limit.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tl-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("freePort: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("freePort: %v", err)
	}
	return port
}

// serverConfig describes one tapline process.
type serverConfig struct {
	noSocket bool     // start without --managersocket
	socket   string   // --managersocket path; default <private dir>/m.sock
	flags    []string // extra flags, e.g. "--manager-max-request", "1024"
	cwd      string   // working directory of the process; default: the test's
	wrap     []string // a command that execs the server, e.g. "prlimit", "--nofile=256:256", "--"
}

// prlimitNofile is a serverConfig.wrap that runs the server under a nofile
// limit of n (soft and hard); it fails the test when prlimit is missing.
func prlimitNofile(t testing.TB, n int) []string {
	t.Helper()
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Fatalf("prlimit (util-linux) is not installed: %v", err)
	}
	return []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", n, n), "--"}
}

// server is one running tapline process.
type server struct {
	t       testing.TB
	port    int
	addr    string // 127.0.0.1:port
	sock    string // --managersocket path, "" when none
	dir     string // private short directory
	logPath string // stdout+stderr of the process
	args    []string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	exitErr error         // set before done is closed
}

// startServer starts tapline and waits until it answers ping on TCP. It
// retries with another port when the chosen one was taken meanwhile.
func startServer(t testing.TB, cfg serverConfig) *server {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s := launchServer(t, cfg)
		err := s.waitReady(10 * time.Second)
		if err == nil {
			return s
		}
		lastErr = err
		if !strings.Contains(s.logTail(50), "address already in use") {
			t.Fatalf("server did not become ready: %v\ncommand: %s\nserver log tail:\n%s",
				err, s.cmdline(), s.logTail(40))
		}
		s.shutdown()
	}
	t.Fatalf("server did not become ready after 3 port choices: %v", lastErr)
	return nil
}

// launchServer starts tapline without waiting for readiness. The process is
// stopped at cleanup (SIGTERM, then SIGKILL after 5 s); when the test failed
// the tail of its log is printed.
func launchServer(t testing.TB, cfg serverConfig) *server {
	t.Helper()
	s := &server{t: t, done: make(chan struct{})}
	s.dir = shortTempDir(t)
	s.port = freePort(t)
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	// statedir in the private directory, never the system's /var/lib/tapline;
	// a test that restarts a sensor passes its own --statedir (the later
	// flag wins).
	s.args = []string{"serve", "--managerip", "127.0.0.1", "--managerport", strconv.Itoa(s.port), "--log-format", "json",
		"--statedir", s.dir}
	if !cfg.noSocket {
		s.sock = cfg.socket
		if s.sock == "" {
			s.sock = filepath.Join(s.dir, "m.sock")
		}
		s.args = append(s.args, "--managersocket", s.sock)
	}
	// The failure backoff never refuses a loopback peer, but tests that
	// connect from this host's own non-loopback address send bad
	// credentials on purpose; guard_test.go turns it on (a later flag wins).
	s.args = append(s.args, "--manager-auth-fail-limit", "0")
	s.args = append(s.args, cfg.flags...)
	s.logPath = filepath.Join(s.dir, "server.log")
	logf, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append(append([]string(nil), cfg.wrap...), taplineBin), s.args...)
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Dir = cfg.cwd
	s.cmd.Stdout = logf
	s.cmd.Stderr = logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		_ = logf.Close()
		t.Fatalf("starting %s: %v", s.cmdline(), err)
	}
	go func() {
		err := s.cmd.Wait()
		_ = logf.Close()
		s.exitErr = err
		close(s.done)
	}()
	t.Cleanup(func() {
		s.shutdown()
		if t.Failed() {
			t.Logf("server %s (pid %d) log tail:\n%s", s.addr, s.pid(), s.logTail(40))
		}
	})
	return s
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) cmdline() string {
	return filepath.Base(taplineBin) + " " + strings.Join(s.args, " ")
}

// waitReady polls ping until it gets "pong\n" on TCP and, when the server
// has one, on its Unix socket: the listeners start one after the other.
func (s *server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		if s.exited() {
			return fmt.Errorf("the server exited during startup: %s", s.exitStatus())
		}
		got, err := oneShot("tcp", s.addr, "ping\n", true, 2*time.Second)
		if err == nil && string(got) == "pong\n" && s.sock != "" {
			got, err = oneShot("unix", s.sock, "ping\n", true, 2*time.Second)
		}
		if err == nil && string(got) == "pong\n" {
			return nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("ping answered %q, want %q", got, "pong\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no pong within %v (last: %v)", limit, last)
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// waitExit waits up to limit for the process to exit.
func (s *server) waitExit(limit time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(limit):
		return false
	}
}

// exitCode is the exit status (-1 if killed by a signal). Only after exit.
func (s *server) exitCode() int { return s.cmd.ProcessState.ExitCode() }

func (s *server) exitStatus() string {
	if !s.exited() {
		return "still running"
	}
	return fmt.Sprintf("%v (exit code %d)", s.exitErr, s.exitCode())
}

func (s *server) signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v to pid %d: %v", sig, s.pid(), err)
	}
}

// shutdown stops the process: SIGTERM, then SIGKILL after 5 s.
func (s *server) shutdown() {
	if s.exited() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	if s.waitExit(5 * time.Second) {
		return
	}
	s.t.Logf("server pid %d ignored SIGTERM for 5 s; sending SIGKILL", s.pid())
	_ = s.cmd.Process.Kill()
	s.waitExit(5 * time.Second)
}

// logTail returns the last n lines of the server's log, each cut to 400 bytes.
func (s *server) logTail(n int) string {
	return tailFile(s.logPath, n, 400)
}

// target returns the dial address for network "tcp" or "unix".
func (s *server) target(network string) string {
	if network == "unix" {
		return s.sock
	}
	return s.addr
}

// request sends a one-shot text request (half-closing after it) and returns
// the reply; it fails the test on a transport error.
func (s *server) request(t testing.TB, network, req string) string {
	t.Helper()
	got, err := oneShot(network, s.target(network), req, true, 10*time.Second)
	if err != nil {
		t.Fatalf("%s request %q: %v (received %d bytes: %q)", network, req, err, len(got), clip(got, 200))
	}
	return string(got)
}

// expectReply sends req over network and requires the reply bytes to be want.
func (s *server) expectReply(t testing.TB, network, req, want string) {
	t.Helper()
	got := s.request(t, network, req)
	if got != want {
		t.Fatalf("%s %q: got %q, want %q", network, req, clip([]byte(got), 300), want)
	}
}

type closeWriter interface{ CloseWrite() error }

// oneShot dials, writes req, optionally half-closes, and reads until EOF. The
// whole exchange must finish within limit. Bytes received before an error are
// returned with it.
func oneShot(network, addr, req string, halfClose bool, limit time.Duration) ([]byte, error) {
	c, err := net.DialTimeout(network, addr, limit)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(limit)); err != nil {
		return nil, err
	}
	if req != "" {
		if _, err := io.WriteString(c, req); err != nil {
			return nil, fmt.Errorf("write: %w", err)
		}
	}
	if halfClose {
		if err := c.(closeWriter).CloseWrite(); err != nil {
			return nil, fmt.Errorf("half-close: %w", err)
		}
	}
	got, err := io.ReadAll(c)
	if err != nil {
		return got, fmt.Errorf("read: %w", err)
	}
	return got, nil
}

// runShell runs script with `bash -c`, stdin from /dev/null and stdout into
// the file outPath. It returns bash's stderr. The process group is killed
// when limit passes.
func runShell(limit time.Duration, script, outPath string) (string, error) {
	out, err := os.Create(outPath)
	if err != nil {
		return "", err
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Stdout = out
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after %v: %w", limit, err)
	}
	return stderr.String(), err
}

// shellOutput runs script with bash (bounded by 20 s) and returns what it
// wrote to stdout; the test fails when the script fails.
func shellOutput(t *testing.T, script string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "sh.out")
	if stderr, err := runShell(20*time.Second, script, out); err != nil {
		t.Fatalf("`%s`: %v, stderr %q", script, err, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ncCmd is the netcat-openbsd command that talks to s over network and
// half-closes after its input: "nc -N 127.0.0.1 PORT" or "nc -N -U SOCK".
func (s *server) ncCmd(network string) string {
	if network == "unix" {
		return "nc -N -U " + shellQuote(s.sock)
	}
	return "nc -N 127.0.0.1 " + strconv.Itoa(s.port)
}

// ncExpect runs the shell script (an nc exchange) with its stdout in the
// file out and requires that to be exactly want; label prefixes the
// messages.
func ncExpect(t testing.TB, label, script, out string, want []byte) {
	t.Helper()
	if stderr, err := runShell(20*time.Second, script, out); err != nil {
		t.Fatalf("%s`%s`: %v, stderr %q", label, script, err, stderr)
	}
	compareFile(t, label+"`"+script+"`", out, want)
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var (
	blobMu  sync.Mutex
	blobBuf []byte
)

// blobExpect returns the first n bytes that test_blob produces: 16-byte
// records fmt.Sprintf("%015d\n", k) for k = 0, 1, 2, … The slice is shared:
// do not modify it.
func blobExpect(n int) []byte {
	blobMu.Lock()
	defer blobMu.Unlock()
	if len(blobBuf) < n {
		records := (n + 15) / 16
		b := make([]byte, records*16)
		for k := 0; k < records; k++ {
			putRecord(b[k*16:k*16+16], k)
		}
		blobBuf = b
	}
	return blobBuf[:n:n]
}

// putRecord writes k as 15 zero-padded decimal digits and a newline.
func putRecord(dst []byte, k int) {
	dst[15] = '\n'
	for i := 14; i >= 0; i-- {
		dst[i] = byte('0' + k%10)
		k /= 10
	}
}

// diffBytes describes how got differs from want ("" when equal): lengths
// first, then the first differing offset with a short excerpt of each side.
func diffBytes(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	n := min(len(got), len(want))
	off := n
	const chunk = 4096
	for i := 0; i < n; i += chunk {
		j := min(i+chunk, n)
		if !bytes.Equal(got[i:j], want[i:j]) {
			for k := i; k < j; k++ {
				if got[k] != want[k] {
					off = k
					break
				}
			}
			break
		}
	}
	lenNote := "same length"
	if len(got) != len(want) {
		lenNote = fmt.Sprintf("%d bytes short", len(want)-len(got))
		if len(got) > len(want) {
			lenNote = fmt.Sprintf("%d bytes too many", len(got)-len(want))
		}
	}
	return fmt.Sprintf("received %d bytes, expected %d (%s); first difference at offset %d: got %s, want %s",
		len(got), len(want), lenNote, off, excerpt(got, off), excerpt(want, off))
}

func excerpt(b []byte, off int) string {
	if off >= len(b) {
		return "<end of data>"
	}
	return fmt.Sprintf("%q", b[off:min(off+32, len(b))])
}

// compareFile checks that the file at path holds exactly want.
func compareFile(t testing.TB, label, path string, want []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("%s: %v", label, err)
		return
	}
	if fi.Size() != int64(len(want)) {
		got, _ := os.ReadFile(path)
		t.Errorf("%s: %s", label, diffBytes(got, want))
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v", label, err)
		return
	}
	if d := diffBytes(got, want); d != "" {
		t.Errorf("%s: %s", label, d)
	}
}

// clip returns at most n bytes of b, for messages.
func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// rssOf returns the resident set size of process pid, in bytes.
func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

// sizeName renders a byte count for subtest names: 1B, 1KiB, 64MiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// session is a persistent JSON-mode connection.
type session struct {
	t     testing.TB
	label string
	conn  net.Conn
	r     *bufio.Reader
}

func dialSession(t testing.TB, network, addr string) *session {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &session{t: t, label: network + " JSON session", conn: c, r: bufio.NewReaderSize(c, 64<<10)}
}

// send writes one request line (the newline is added).
func (s *session) send(line string) {
	s.t.Helper()
	_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(s.conn, line+"\n"); err != nil {
		s.t.Fatalf("%s: writing %q: %v", s.label, line, err)
	}
}

// readLine reads one reply line, without its trailing newline.
func (s *session) readLine(limit time.Duration) (string, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(limit))
	line, err := s.r.ReadString('\n')
	if err != nil {
		return line, err
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// expectLine requires the next reply line to be exactly want.
func (s *session) expectLine(want string, limit time.Duration) {
	s.t.Helper()
	got, err := s.readLine(limit)
	if err != nil {
		s.t.Fatalf("%s: waiting for %s: %v (partial line %q)", s.label, want, err, clip([]byte(got), 300))
	}
	if got != want {
		s.t.Fatalf("%s: got line %q, want %q", s.label, clip([]byte(got), 300), want)
	}
}

// readFull reads exactly n raw bytes.
func (s *session) readFull(n int, limit time.Duration) ([]byte, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(limit))
	b := make([]byte, n)
	m, err := io.ReadFull(s.r, b)
	return b[:m], err
}

// expectEOF requires the server to close the session, sending nothing more.
func (s *session) expectEOF(limit time.Duration) {
	s.t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(limit))
	rest, err := io.ReadAll(s.r)
	if err != nil {
		s.t.Fatalf("%s: expected EOF within %v, got error %v after %d more bytes %q", s.label, limit, err, len(rest), clip(rest, 200))
	}
	if len(rest) != 0 {
		s.t.Fatalf("%s: expected EOF, got %d more bytes first: %q", s.label, len(rest), clip(rest, 200))
	}
}
