package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
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
	s := startServer(t, serverConfig{flags: []string{"--manager-max-connections", "5", "--manager-unix-reserved", "0", "--manager-read-timeout", "30s"}})
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
		ncExpect(t, "", "printf 'ping\\n' | timeout 10 "+s.ncCmd("unix"), dir+"/nc.out", []byte("pong\n"))
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

// dialFrom dials the server's TCP port from the local address ip (any
// 127.0.0.0/8 address works on Linux loopback), so a test can play several
// clients.
func dialFrom(ip, addr string, limit time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: limit, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return d.Dial("tcp", addr)
}

// pingFrom sends a one-shot text ping to addr from the local address ip,
// half-closes, and returns the whole reply.
func pingFrom(ip, addr string) ([]byte, error) {
	c, err := dialFrom(ip, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "ping\n")
	_ = c.(*net.TCPConn).CloseWrite()
	return io.ReadAll(c)
}

// openHogs opens n JSON sessions to s, the i-th from the local address
// from(i), each sending one ping and then holding its place until the test
// ends. It counts the served sessions and the refusals by their text.
func openHogs(t *testing.T, s *server, n int, from func(int) string) (served int, refused map[string]int) {
	t.Helper()
	refused = map[string]int{}
	for i := range n {
		c, err := dialFrom(from(i), s.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("hog %d: %v", i, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if r := hogPing(c, 5*time.Second); r == "" {
			served++
		} else {
			refused[r]++
		}
	}
	return served, refused
}

// hogPing sends a JSON ping; it returns what the hog connection saw: "" when it was served (a ping
// answered, or nothing sent and the connection still open), else what the
// server sent before closing.
func hogPing(c net.Conn, limit time.Duration) string {
	_ = c.SetDeadline(time.Now().Add(limit))
	if _, err := io.WriteString(c, `{"id":1,"cmd":"ping"}`+"\n"); err != nil {
		return "write: " + err.Error()
	}
	b := make([]byte, 256)
	n, err := io.ReadAtLeast(c, b, 1)
	got := string(b[:n])
	if got == `{"id":1,"error":"","result":"pong"}`+"\n" {
		return ""
	}
	if err != nil {
		return fmt.Sprintf("%q then %v", got, err)
	}
	return got
}

// statValue reads one counter from `sniffer_stat plain`.
func statValue(t *testing.T, s *server, network, key string) int {
	t.Helper()
	for _, line := range strings.Split(s.request(t, network, "sniffer_stat plain\n"), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("sniffer_stat plain: %s", line)
			}
			return n
		}
	}
	t.Fatalf("sniffer_stat plain has no %s", key)
	return 0
}

// TestPerAddressLimit: 140 JSON sessions from 127.0.0.2 get at most
// --manager-max-connections-per-ip (128) places; the rest are refused with a
// message naming the reason, and counted. A client from 127.0.0.3 and the
// Unix socket are still served.
func TestPerAddressLimit(t *testing.T) {
	const perIP, hogs = 128, 140
	s := startTestServer(t, serverConfig{flags: []string{"--manager-max-connections", "136", "--manager-unix-reserved", "4",
		"--manager-max-connections-per-ip", strconv.Itoa(perIP), "--manager-read-timeout", "60s", "--manager-idle-timeout", "60s"}})
	served, refused := openHogs(t, s, hogs, func(int) string { return "127.0.0.2" })
	const msg = "error: too many connections from your address\n"
	if served != perIP || refused[msg] != hogs-perIP {
		t.Fatalf("%d sessions from 127.0.0.2: %d served, refusals %v; want %d served and %d refused with %q",
			hogs, served, refused, perIP, hogs-perIP, msg)
	}
	got, err := pingFrom("127.0.0.3", s.addr)
	if err != nil || string(got) != "pong\n" {
		t.Fatalf("a client from 127.0.0.3 while 127.0.0.2 holds %d sessions: got %q, err %v; want pong", perIP, got, err)
	}
	s.expectReply(t, "unix", "ping\n", "pong\n")
	if n := statValue(t, s, "unix", "connections_rejected_per_ip"); n != hogs-perIP {
		t.Errorf("connections_rejected_per_ip = %d, want %d", n, hogs-perIP)
	}
}

// TestUnixReserved: TCP clients from many addresses fill every TCP place;
// --manager-unix-reserved (default 16) places stay free for the Unix socket.
func TestUnixReserved(t *testing.T) {
	const maxConns, reserved, hogs = 40, 16, 45
	s := startTestServer(t, serverConfig{flags: []string{"--manager-max-connections", strconv.Itoa(maxConns),
		"--manager-read-timeout", "60s", "--manager-idle-timeout", "60s"}})
	served, refused := openHogs(t, s, hogs, func(i int) string { return fmt.Sprintf("127.0.0.%d", 4+i%5) })
	if served != maxConns-reserved || refused["error: too many connections\n"] != hogs-served {
		t.Fatalf("%d TCP sessions from 5 addresses: %d served, refusals %v; want %d served, the rest refused with %q",
			hogs, served, refused, maxConns-reserved, "error: too many connections\n")
	}
	for range 3 {
		s.expectReply(t, "unix", "ping\n", "pong\n")
	}
}

// TestJSONBlankLinesNotActivity: blank lines hold no request, so they do not
// keep an idle JSON session (and its connection slot) alive.
func TestJSONBlankLinesNotActivity(t *testing.T) {
	const idle = 2 * time.Second
	s := startTestServer(t, serverConfig{flags: []string{"--manager-idle-timeout", "2s"}})
	j := dialSession(t, "tcp", s.addr)
	j.send(`{"id":1,"cmd":"ping"}`)
	j.expectLine(`{"id":1,"error":"","result":"pong"}`, 5*time.Second)
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a blank line every 300 ms, until the server closes
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			_ = j.conn.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := io.WriteString(j.conn, "\n"); err != nil {
				return
			}
		}
	}()
	line, err := j.readLine(idle + 6*time.Second)
	took := time.Since(start)
	var r struct{ Error, Code string }
	if err != nil || json.Unmarshal([]byte(line), &r) != nil || r.Code != "timeout" || r.Error != "idle timeout" {
		t.Fatalf("a session sending only blank lines after its last request: after %v got %q, err %v; want the idle timeout error within %v",
			took.Round(time.Millisecond), clip([]byte(line), 300), err, idle+6*time.Second)
	}
	if took < idle-300*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout of %v", took, idle)
	}
	t.Logf("closed with %s after %v", line, took.Round(time.Millisecond))
}

// TestFDLimitClamp: with a hard nofile of 256 and the default 1024
// connections, the server clamps its limit (and logs it), refuses what does
// not fit with "too many connections" instead of dying on EMFILE, serves the
// Unix socket meanwhile, and serves TCP again once the connections close.
func TestFDLimitClamp(t *testing.T) {
	const hogs = 300
	s := startTestServer(t, serverConfig{wrap: prlimitNofile(t, 256),
		flags: []string{"--manager-read-timeout", "60s"}})
	conns := make([]net.Conn, 0, hogs)
	for i := range hogs {
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v (server: %s)", i, err, s.exitStatus())
		}
		t.Cleanup(func() { _ = c.Close() })
		conns = append(conns, c)
	}
	// Served connections see nothing; refused ones get the error line and EOF.
	results := make([]string, hogs)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			got, err := io.ReadAll(c)
			var ne net.Error
			switch {
			case len(got) == 0 && errors.As(err, &ne) && ne.Timeout():
				results[i] = ""
			case err != nil:
				results[i] = fmt.Sprintf("%q then %v", got, err)
			default:
				results[i] = string(got)
			}
		}()
	}
	wg.Wait()
	served, refused := 0, map[string]int{}
	for _, r := range results {
		if r == "" {
			served++
		} else {
			refused[r]++
		}
	}
	if s.exited() {
		t.Fatalf("the server exited with %d connections open under nofile 256: %s", hogs, s.exitStatus())
	}
	if served == 0 || served+refused["error: too many connections\n"] != hogs {
		t.Fatalf("%d connections under nofile 256: %d served, refusals %v; want some served and the rest refused with %q",
			hogs, served, refused, "error: too many connections\n")
	}
	s.expectReply(t, "unix", "ping\n", "pong\n")
	for _, c := range conns {
		_ = c.Close()
	}
	s.waitPong(t, "tcp", 10*time.Second, "TCP served again after the connections closed")
	var limit struct {
		Msg       string `json:"msg"`
		Effective int    `json:"effective"`
		Nofile    int    `json:"nofile"`
	}
	for _, line := range strings.Split(s.logTail(200), "\n") {
		if strings.Contains(line, "manager connection limit") && json.Unmarshal([]byte(line), &limit) == nil {
			break
		}
	}
	if limit.Nofile != 256 || limit.Effective <= 0 || limit.Effective >= 1024 || served > limit.Effective {
		t.Fatalf("start-up log: %+v; want nofile 256 and an effective limit below 1024 and at least the %d served", limit, served)
	}
	t.Logf("%d served, refusals %v; log: %+v", served, refused, limit)
	if s.exited() {
		t.Fatalf("server exited: %s", s.exitStatus())
	}
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
