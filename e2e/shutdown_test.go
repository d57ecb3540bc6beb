package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// TestSIGTERMFinishesInFlight: SIGTERM arrives while 16 MiB replies (nc -N,
// produced 400 ms after the request), a slow 16 MiB reader and 500 ms
// test_sleep JSON requests are in flight. Every reply must arrive complete,
// the server must exit 0 and remove its socket file.
func TestSIGTERMFinishesInFlight(t *testing.T) {
	requireTools(t)
	// A generous shutdown timeout: under -race the server needs several
	// seconds of CPU just to produce 80 MiB of test_blob.
	s := startServer(t, serverConfig{flags: []string{"--manager-shutdown-timeout", "30s"}})
	const size = 16 << 20
	want := blobExpect(size)
	var wg sync.WaitGroup

	// 4 nc -N clients, 2 over TCP and 2 over the Unix socket.
	dir := t.TempDir()
	ncScripts := []string{
		fmt.Sprintf("echo 'test_blob %d 400' | timeout %d nc -N 127.0.0.1 %d", size, clientTimeout, s.port),
		fmt.Sprintf("echo 'test_blob %d 400' | timeout %d nc -N 127.0.0.1 %d", size, clientTimeout, s.port),
		fmt.Sprintf("echo 'test_blob %d 400' | timeout %d nc -N -U %s", size, clientTimeout, shellQuote(s.sock)),
		fmt.Sprintf("echo 'test_blob %d 400' | timeout %d nc -N -U %s", size, clientTimeout, shellQuote(s.sock)),
	}
	for i, script := range ncScripts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := filepath.Join(dir, fmt.Sprintf("nc%d.out", i))
			stderr, err := runShell(shellLimit, script, out)
			if err != nil {
				t.Errorf("`%s`: %v, stderr %q", script, err, clip([]byte(stderr), 300))
			}
			compareFile(t, "`"+script+"`", out, want)
		}()
	}

	// A slow Go reader: 64 KiB every 8 ms, about 2 s for 16 MiB.
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Errorf("slow reader: %v", err)
			return
		}
		defer c.Close()
		if _, err := fmt.Fprintf(c, "test_blob %d\n", size); err != nil {
			t.Errorf("slow reader: write: %v", err)
			return
		}
		_ = c.(*net.TCPConn).CloseWrite()
		got := make([]byte, 0, size)
		buf := make([]byte, 64<<10)
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		var err2 error
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					err2 = err
				}
				break
			}
			time.Sleep(8 * time.Millisecond)
		}
		if d := diffBytes(got, want); d != "" || err2 != nil {
			t.Errorf("slow TCP reader of test_blob %d: read error %v; %s", size, err2, d)
		}
	}()

	// 4 JSON sessions with test_sleep 500 in flight.
	sessions := make([]*session, 4)
	for i := range sessions {
		network := []string{"tcp", "unix"}[i%2]
		sessions[i] = dialSession(t, network, s.target(network))
		sessions[i].send(fmt.Sprintf(`{"id":%d,"cmd":"test_sleep","args":["500"]}`, i+1))
	}

	// Wait until the server lists all 9 connections, then 100 ms more.
	deadline := time.Now().Add(3 * time.Second)
	for {
		var arr []json.RawMessage
		list := s.request(t, "tcp", "clients\n")
		if err := json.Unmarshal([]byte(list), &arr); err == nil && len(arr) >= 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Logf("clients listed only %d connections 3 s after the start; sending SIGTERM anyway: %s", len(arr), clip([]byte(list), 500))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	sigAt := time.Now()
	s.signal(syscall.SIGTERM)

	// New connections are no longer served.
	time.Sleep(200 * time.Millisecond)
	if got, err := oneShot("tcp", s.addr, "ping\n", true, 3*time.Second); err == nil && string(got) == "pong\n" {
		t.Errorf("a new TCP connection 200 ms after SIGTERM was served (pong); want the server to stop accepting")
	}

	for i, j := range sessions {
		j.expectLine(fmt.Sprintf(`{"id":%d,"error":"","result":"slept"}`, i+1), 10*time.Second)
		rest, _, err := readUntilEOF(j.conn, 10*time.Second)
		t.Logf("JSON session %d after its reply: %d more bytes %q, then %v", i+1, len(rest), clip(rest, 200), err)
	}
	wg.Wait()
	if !s.waitExit(20 * time.Second) {
		t.Fatalf("the server still runs 20 s after SIGTERM with every reply delivered")
	}
	t.Logf("server exited %v after SIGTERM: %s", time.Since(sigAt).Round(time.Millisecond), s.exitStatus())
	if s.exitCode() != 0 {
		t.Errorf("exit after SIGTERM: %s, want exit code 0", s.exitStatus())
	}
	if fi, err := os.Lstat(s.sock); err == nil {
		t.Errorf("socket file %s still exists (mode %v) after the server exited", s.sock, fi.Mode())
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lstat %s: %v", s.sock, err)
	}
}

// TestCutReplyResets: a reply that cannot be completed must not end like a
// complete one. A client that does not read its 64 MiB test_blob loses it at
// the shutdown timeout (SIGTERM) or the write timeout; either way it must get
// a connection reset, not a clean EOF after part of the data, and the server
// logs the cut with the connection id, bytes written and the reason.
func TestCutReplyResets(t *testing.T) {
	const size = 64 << 20
	tests := []struct {
		name    string
		flags   []string
		sigterm bool
		reason  string
	}{
		{"shutdown-timeout", []string{"--manager-shutdown-timeout", "1s"}, true, "shutdown timeout"},
		{"write-timeout", []string{"--manager-write-timeout", "1s"}, false, "write timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startTestServer(t, serverConfig{flags: tc.flags})
			c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := fmt.Fprintf(c, "test_blob %d\n", size); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond) // the reply fills the socket buffers
			if tc.sigterm {
				s.signal(syscall.SIGTERM)
				if !s.waitExit(10 * time.Second) {
					t.Fatalf("the server still runs 10 s after SIGTERM with a 1 s shutdown timeout")
				}
			} else {
				time.Sleep(3 * time.Second) // past the write timeout
			}
			got, _, err := readUntilEOF(c, 20*time.Second)
			n := len(got)
			if !errors.Is(err, syscall.ECONNRESET) || n >= size {
				t.Fatalf("client that stopped reading its %d-byte reply (%s): read %d bytes, then %v; want fewer bytes and a connection reset",
					size, tc.name, n, err)
			}
			var logged bool
			for _, line := range strings.Split(s.logTail(100), "\n") {
				if strings.Contains(line, "reply cut short, connection reset") && strings.Contains(line, tc.reason) &&
					strings.Contains(line, `"conn":`) && strings.Contains(line, `"bytes_out":`) {
					logged = true
				}
			}
			if !logged {
				t.Fatalf("no WARN line about the cut reply (%q) in the log; tail:\n%s", tc.reason, s.logTail(20))
			}
			t.Logf("%s: %d of %d bytes, then %v", tc.name, n, size, err)
		})
	}
}

// TestSIGHUPNotFatal: SIGHUP neither kills the server nor stops it
// serving; it reloads the access settings (guard_test.go tests what).
func TestSIGHUPNotFatal(t *testing.T) {
	s := startTestServer(t, serverConfig{})
	s.signal(syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond)
	if s.exited() {
		t.Fatalf("SIGHUP killed the server: %s", s.exitStatus())
	}
	s.expectReply(t, "tcp", "ping\n", "pong\n")
	s.expectReply(t, "unix", "ping\n", "pong\n")
	if !strings.Contains(s.logTail(50), "SIGHUP: access settings reloaded") {
		t.Fatalf("no log line for SIGHUP; tail:\n%s", s.logTail(20))
	}
}
