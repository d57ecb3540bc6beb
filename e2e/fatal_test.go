package e2e

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEngineDeathIsNotFatal: gnet shuts a whole engine down when accept
// fails with EMFILE, and a main reactor (manager_reuseport = no) accepts a
// whole burst before any OnOpen can refuse. tapline must neither exit nor
// run on without a listener: it reopens the listener, and the Unix socket
// serves throughout.
func TestEngineDeathIsNotFatal(t *testing.T) {
	s := startTestServer(t, serverConfig{wrap: prlimitNofile(t, 64),
		flags: []string{"--manager-reuseport=no", "--manager-read-timeout", "30s"}})
	died := func() bool { return strings.Contains(s.logTail(400), "too many open files") }
	for round := 0; round < 5 && !died(); round++ {
		burst("tcp", s.addr, 200)
	}
	if !died() {
		t.Skip("5 bursts of 200 connections did not exhaust 64 descriptors; nothing to check")
	}
	if s.exited() {
		t.Fatalf("the server exited after accept failed with EMFILE: %s", s.exitStatus())
	}
	s.waitPong(t, "tcp", 10*time.Second, "TCP served again after EMFILE")
	s.expectReply(t, "unix", "ping\n", "pong\n")
	if !strings.Contains(s.logTail(400), "manager listener restarted") {
		t.Errorf("no log line about the restarted listener; tail:\n%s", s.logTail(20))
	}

	// The Unix listener always has a main reactor: same again.
	unixDied := func() bool {
		return strings.Contains(s.logTail(400), `"msg":"manager listener stopped unexpectedly (accept failed, e.g. too many open files); restarting it","listener":"unix"`)
	}
	for round := 0; round < 5 && !unixDied(); round++ {
		burst("unix", s.sock, 200)
	}
	if !unixDied() {
		t.Logf("5 bursts on the Unix socket did not exhaust the descriptors; the Unix restart is not checked")
		return
	}
	s.waitPong(t, "unix", 10*time.Second, "Unix socket served again after EMFILE")
	s.expectReply(t, "tcp", "ping\n", "pong\n")
	if s.exited() {
		t.Fatalf("server exited: %s", s.exitStatus())
	}
}

// burst opens n connections at once, holds them for 300 ms, closes them.
func burst(network, addr string, n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout(network, addr, 2*time.Second)
			if err == nil {
				time.Sleep(300 * time.Millisecond)
				_ = c.Close()
			}
		}()
	}
	wg.Wait()
}
