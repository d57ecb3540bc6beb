package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// readUntilEOF reads everything the server sends until it closes, within
// limit, and reports how long that took.
func readUntilEOF(c net.Conn, limit time.Duration) ([]byte, time.Duration, error) {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	got, err := io.ReadAll(c)
	return got, time.Since(start), err
}

// TestRequestTimeout (slowloris): an unterminated request gets
// "error: request timeout\n" after --manager-read-timeout, then EOF.
func TestRequestTimeout(t *testing.T) {
	const readTimeout = time.Second
	s := startServer(t, serverConfig{flags: []string{"--manager-read-timeout", "1s"}})
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			got, err := oneShot(network, s.target(network), "pin", false, readTimeout+4*time.Second)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("after %v: got %q then error %v; want %q then EOF within %v",
					took.Round(time.Millisecond), got, err, "error: request timeout\n", readTimeout+4*time.Second)
			}
			if string(got) != "error: request timeout\n" {
				t.Fatalf("after %v: got %q then EOF, want %q then EOF", took.Round(time.Millisecond), got, "error: request timeout\n")
			}
			if took < readTimeout-200*time.Millisecond {
				t.Fatalf("the timeout reply came after %v, before the read timeout of %v", took, readTimeout)
			}
			t.Logf("timeout reply after %v", took.Round(time.Millisecond))
		})
	}
}

// TestRequestTooLarge: a request line over --manager-max-request gets
// "error: request too large\n" (text) or a too_large JSON error, then EOF.
func TestRequestTooLarge(t *testing.T) {
	s := startServer(t, serverConfig{flags: []string{"--manager-max-request", "1024"}})
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network+"/text", func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			got, err := oneShot(network, s.target(network), strings.Repeat("a", 5000), false, 5*time.Second)
			took := time.Since(start)
			if err != nil || string(got) != "error: request too large\n" {
				t.Fatalf("after %v: got %q, read error %v; want %q then EOF", took.Round(time.Millisecond), clip(got, 300), err, "error: request too large\n")
			}
		})
		t.Run(network+"/json", func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			got, err := oneShot(network, s.target(network), `{"id":1,"cmd":"ping"}`+"\n"+`{"id":2,"cmd":"`+strings.Repeat("a", 5000), false, 5*time.Second)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("after %v: got %q then error %v; want the ping reply, a too_large error and EOF", took.Round(time.Millisecond), clip(got, 300), err)
			}
			first, rest, _ := strings.Cut(string(got), "\n")
			if first != `{"id":1,"error":"","result":"pong"}` {
				t.Fatalf("first reply %q, want the ping reply; everything received: %q", first, clip(got, 300))
			}
			var r struct {
				Error string `json:"error"`
				Code  string `json:"code"`
			}
			line, ok := strings.CutSuffix(rest, "\n")
			if !ok || strings.Contains(line, "\n") || json.Unmarshal([]byte(line), &r) != nil || r.Code != "too_large" || r.Error == "" {
				t.Fatalf("after the ping reply got %q then EOF; want one JSON line with \"code\":\"too_large\" and an error message, then EOF", clip([]byte(rest), 300))
			}
			t.Logf("too_large reply: %s", line)
		})
	}
}

// TestConnectionLimit: with 5 connections held open, a 6th gets
// "error: too many connections\n"; once one closes, new ones are served.
func TestConnectionLimit(t *testing.T) {
	s := startServer(t, serverConfig{flags: []string{"--manager-max-connections", "5", "--manager-read-timeout", "30s"}})
	held := make([]net.Conn, 5)
	for i := range held {
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		held[i] = c
	}
	time.Sleep(300 * time.Millisecond) // let the server register all five

	// The 6th connection asks for `clients`: if it is wrongly served, the
	// reply shows which connections the server counted.
	got, err := oneShot("tcp", s.addr, "clients\n", true, 5*time.Second)
	if err != nil || string(got) != "error: too many connections\n" {
		var peers []string
		for _, c := range held {
			peers = append(peers, c.LocalAddr().String())
		}
		t.Fatalf("6th connection (300 ms after 5 idle ones from %v): got %q, error %v; want %q then EOF",
			peers, clip(got, 3000), err, "error: too many connections\n")
	}
	if s.sock != "" {
		got, err := oneShot("unix", s.sock, "", false, 5*time.Second)
		t.Logf("6th connection over the Unix socket (the limit may be per listener): %q, err %v", got, err)
	}

	// The held connections got nothing and are still open.
	for i, c := range held {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		b := make([]byte, 64)
		n, err := c.Read(b)
		var ne net.Error
		if !(errors.As(err, &ne) && ne.Timeout()) {
			t.Errorf("idle connection %d: got %q, err %v; want no data and still open", i, b[:n], err)
		}
	}

	_ = held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := oneShot("tcp", s.addr, "ping\n", true, 5*time.Second)
		if err == nil && string(got) == "pong\n" {
			break
		}
		if string(got) != "error: too many connections\n" || time.Now().After(deadline) {
			t.Fatalf("after closing one of the 5 connections: got %q, err %v; want %q within 5 s", got, err, "pong\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestJSONIdleTimeout: an idle JSON session is closed after
// --manager-idle-timeout; an active one is not.
func TestJSONIdleTimeout(t *testing.T) {
	const idle = 2 * time.Second
	s := startServer(t, serverConfig{flags: []string{"--manager-idle-timeout", "2s"}})

	t.Run("active", func(t *testing.T) {
		t.Parallel()
		j := dialSession(t, "tcp", s.addr)
		for i := 0; i < 10; i++ { // 5 s of traffic, more than the idle timeout
			j.send(`{"id":1,"cmd":"ping"}`)
			j.expectLine(`{"id":1,"error":"","result":"pong"}`, 5*time.Second)
			time.Sleep(500 * time.Millisecond)
		}
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		j := dialSession(t, "tcp", s.addr)
		j.send(`{"id":1,"cmd":"ping"}`)
		j.expectLine(`{"id":1,"error":"","result":"pong"}`, 5*time.Second)
		got, took, err := readUntilEOF(j.conn, idle+4*time.Second)
		if err != nil {
			t.Fatalf("idle session: after %v got %q and error %v; want EOF within %v", took.Round(time.Millisecond), clip(got, 300), err, idle+4*time.Second)
		}
		if took < idle-300*time.Millisecond {
			t.Fatalf("idle session closed after %v, before the idle timeout of %v", took, idle)
		}
		t.Logf("idle session closed after %v; bytes sent before closing: %q", took.Round(time.Millisecond), got)
		if len(got) > 0 {
			for _, line := range strings.Split(strings.TrimSuffix(string(got), "\n"), "\n") {
				if !json.Valid([]byte(line)) {
					t.Errorf("idle session: the server sent a non-JSON line before closing: %q", line)
				}
			}
		}
	})
}

// TestStaleSocketAndRegularFile: a stale socket file left by a dead process
// is replaced; a regular file at the socket path is never touched.
func TestStaleSocketAndRegularFile(t *testing.T) {
	requireTools(t)
	t.Run("stale-socket", func(t *testing.T) {
		dir := shortTempDir(t)
		path := dir + "/stale.sock"
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		_ = l.Close()
		if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
			t.Fatalf("setup: want a stale socket at %s, lstat: %v %v", path, fi, err)
		}
		s := startServer(t, serverConfig{socket: path})
		s.expectReply(t, "unix", "ping\n", "pong\n")
		out := dir + "/nc.out"
		script := "printf 'ping\\n' | timeout 10 nc -N -U " + shellQuote(path)
		if stderr, err := runShell(20*time.Second, script, out); err != nil {
			t.Fatalf("`%s`: %v, stderr %q", script, err, stderr)
		}
		compareFile(t, script, out, []byte("pong\n"))
	})
	t.Run("regular-file", func(t *testing.T) {
		dir := shortTempDir(t)
		path := dir + "/precious.txt"
		content := []byte("precious data, not a socket\n")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		s := launchServer(t, serverConfig{socket: path})
		if !s.waitExit(10 * time.Second) {
			served := s.waitReady(time.Second) == nil
			t.Fatalf("the server still runs 10 s after start with --managersocket on a regular file (answers ping: %v); want a non-zero exit", served)
		}
		if s.exitCode() == 0 {
			t.Errorf("exit code 0 with --managersocket on a regular file; want non-zero")
		}
		if !strings.Contains(s.logTail(50), path) {
			t.Errorf("the error output does not name the path %s; log tail:\n%s", path, s.logTail(20))
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != string(content) {
			t.Errorf("the regular file at %s was changed: content %q, err %v; want %q", path, got, err, content)
		}
		t.Logf("refused: %s; log tail:\n%s", s.exitStatus(), s.logTail(5))
	})
}

// TestCRRunTooLarge (issue 9, item 2): a request of one byte followed by MBs
// of "\r" and no "\n" counts every byte against --manager-max-request, so it
// is refused as soon as the limit is passed, in every line mode, instead of
// being buffered until the (here very long) read timeout.
func TestCRRunTooLarge(t *testing.T) {
	s := startTestServer(t, serverConfig{flags: []string{"--manager-max-request", "1024", "--manager-read-timeout", "120s"}})
	for _, tc := range []struct{ mode, prefix, want string }{
		{"text", "x", "error: request too large\n"},
		{"json", "{", `"code":"too_large"`},
		{"hardened", "tl1:x", "error: bad frame\n"}, // an oversized frame is a bad frame (no frame to answer in)
	} {
		for _, network := range []string{"tcp", "unix"} {
			t.Run(network+"/"+tc.mode, func(t *testing.T) {
				t.Parallel()
				c, err := net.DialTimeout(network, s.target(network), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				go func() { // the server stops reading once it answers: write errors are expected
					_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
					_, _ = io.WriteString(c, tc.prefix+strings.Repeat("\r", 4<<20))
				}()
				_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil || !strings.Contains(line, tc.want) {
					t.Fatalf("%s + 4 MiB of \\r: got %q, read error %v; want a line with %q long before the 120 s read timeout",
						tc.prefix, clip([]byte(line), 300), err, tc.want)
				}
			})
		}
	}
}
