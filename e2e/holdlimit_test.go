package e2e

import (
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"
)

// TestLingerFloodHoldLimits (issue 9, item 8 residual): under nofile 256 one
// address sends one-shot pings and never closes, so every connection lingers
// after its reply (uncounted from the served limits), and many other
// addresses open connections and send nothing. Lingering and refused
// connections count against the address's cap and against the TCP share of
// the descriptor budget: the flooding address gets every reply (its oldest
// lingering connections are closed early instead of refusing it), and the
// Unix socket and another address are still served.
func TestLingerFloodHoldLimits(t *testing.T) {
	const perIP, flood, silent = 8, 150, 120
	s := startTestServer(t, serverConfig{wrap: prlimitNofile(t, 256),
		flags: []string{"--manager-linger", "60s", "--manager-read-timeout", "60s", "--manager-idle-timeout", "60s",
			"--manager-max-connections-per-ip", strconv.Itoa(perIP)}})
	pongs, other := lingerFlood(t, s, flood)
	if pongs != flood {
		t.Errorf("%d lingering one-shot pings from one address: %d answered, others %v; want every one answered (oldest lingering closed early)", flood, pongs, other)
	}
	for i := range silent {
		c, err := dialFrom(fmt.Sprintf("127.0.4.%d", 1+i%200), s.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("silent connection %d: %v (server: %s)", i, err, s.exitStatus())
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	time.Sleep(300 * time.Millisecond) // let the server open them all
	for i := range 5 {
		if r := s.tryRequest("unix", "ping\n"); r != "pong\n" {
			t.Fatalf("Unix ping %d while TCP clients hold their places: %q, want pong", i, r)
		}
	}
	if n := statValue(t, s, "unix", "connections_rejected_per_ip"); n != 0 {
		t.Errorf("connections_rejected_per_ip = %d, want 0 (the flood's lingering connections make room)", n)
	}
	if n := statValue(t, s, "unix", "connections_linger_closed"); n < flood-2*perIP-16 {
		t.Errorf("connections_linger_closed = %d, want at least %d (the flood's oldest lingering connections closed early)", n, flood-2*perIP-16)
	}
	if s.exited() {
		t.Fatalf("server exited: %s", s.exitStatus())
	}
}

// TestLingerFloodOtherAddress: an address flooding lingering one-shot
// connections cannot take the places of another address.
func TestLingerFloodOtherAddress(t *testing.T) {
	const flood = 150
	s := startTestServer(t, serverConfig{wrap: prlimitNofile(t, 256),
		flags: []string{"--manager-linger", "60s", "--manager-max-connections-per-ip", "16"}})
	lingerFlood(t, s, flood)
	for i := range 5 {
		got, err := pingFrom("127.0.3.2", s.addr)
		if err != nil || string(got) != "pong\n" {
			t.Fatalf("ping %d from another address while 127.0.3.1 lingers %d connections: %q, err %v; want pong", i, flood, got, err)
		}
	}
	s.expectReply(t, "unix", "ping\n", "pong\n")
}

// lingerFlood sends n one-shot text pings from 127.0.3.1, each on its own
// connection that it never closes (they linger until the test ends). It
// counts the pongs and, by their text, the other replies.
func lingerFlood(t *testing.T, s *server, n int) (pongs int, other map[string]int) {
	t.Helper()
	other = map[string]int{}
	for i := range n {
		c, err := dialFrom("127.0.3.1", s.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("flood connection %d: %v (server: %s)", i, err, s.exitStatus())
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "ping\n")
		b := make([]byte, 64)
		m, _ := io.ReadAtLeast(c, b, 5)
		if string(b[:m]) == "pong\n" {
			pongs++
		} else {
			other[string(b[:m])]++
		}
	}
	return pongs, other
}
