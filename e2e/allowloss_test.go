package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tapline/internal/redistest"
)

const missingWarning = "warning: the runtime entries are missing from Redis"

// allowMissing waits until s reports (in `allowlist list`) that Redis lost
// its runtime entries, and requires sniffer_stat to say so too.
func allowMissing(t *testing.T, s *server, what string) {
	t.Helper()
	waitUntil(t, 5*time.Second, what, func() (bool, string) {
		got := s.tryRequest("unix", "allowlist list\n")
		return strings.Contains(got, missingWarning) && strings.Contains(got, "runtime 192.0.2.0/24"), got
	})
	if n := counter(t, s, "allowlist_missing"); n != 1 {
		t.Errorf("%s: sniffer_stat allowlist_missing = %d, want 1", what, n)
	}
}

// TestAllowlistRedisLoss is attack report F4 with a real redis-server and
// the real binary: a runtime allowlist kept in Redis used to turn off when
// Redis lost the set (FLUSHALL, a restart without persistence, DEL,
// eviction), opening the listener to every address. The entries in force
// now stay, live and across a restart of the sensor (statedir), with one
// ERROR line; only an operator's `allowlist remove` clears them.
func TestAllowlistRedisLoss(t *testing.T) {
	requireTools(t)
	r := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	statedir := filepath.Join(t.TempDir(), "state")
	flags := []string{"--redis", r.URL(), "--statedir", statedir}
	a := startTestServer(t, serverConfig{flags: flags})
	b := startTestServer(t, serverConfig{flags: []string{"--redis", r.URL()}}) // a fleet peer
	a.expectReply(t, "unix", "allowlist add 192.0.2.0/24\n",
		"added 192.0.2.0/24 (redis); allowlist now in force: 1 entries; every other TCP address is now refused at accept\n")
	waitUntil(t, 3*time.Second, "sensor B has A's entry", func() (bool, string) {
		got := b.tryRequest("unix", "allowlist list\n")
		return strings.Contains(got, "runtime 192.0.2.0/24"), got
	})

	// (1) FLUSHALL: nobody cleared the list.
	if err := r.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	allowMissing(t, a, "sensor A after FLUSHALL")
	allowMissing(t, b, "sensor B after FLUSHALL")
	time.Sleep(1500 * time.Millisecond) // more polls of the empty set
	expectClosedSilently(t, a.addr, "sensor A after FLUSHALL")
	expectClosedSilently(t, b.addr, "sensor B after FLUSHALL")
	if l := a.logLines(t, "ERROR", "runtime allowlist missing from Redis; keeping 1 entries"); len(l) != 1 {
		t.Errorf("%d ERROR lines for the missing allowlist, want 1:\n%s", len(l), a.logTail(20))
	}

	// (2) Sensor A restarts with its statedir while Redis is down: only the
	// state file can keep the entries in force. Then Redis comes back
	// empty (no persistence): still missing, still closed.
	a.shutdown()
	r.Stop()
	a2 := launchServer(t, serverConfig{flags: flags})
	noRaceReports(t, a2)
	waitUntil(t, 10*time.Second, "restarted sensor A answers on its Unix socket", func() (bool, string) {
		got := a2.tryRequest("unix", "ping\n")
		return got == "pong\n", got
	})
	expectClosedSilently(t, a2.addr, "sensor A restarted while Redis is down")
	if got := a2.request(t, "unix", "allowlist list\n"); !strings.Contains(got, "runtime 192.0.2.0/24") {
		t.Errorf("restarted sensor A, Redis down: allowlist list %q; want the remembered entry", got)
	}
	r.Restart()
	allowMissing(t, a2, "restarted sensor A against an empty Redis")
	time.Sleep(1500 * time.Millisecond)
	expectClosedSilently(t, a2.addr, "restarted sensor A, Redis empty")
	expectClosedSilently(t, b.addr, "sensor B after Redis restarted empty")

	// (3) `allowlist add` of a kept entry writes it back to Redis.
	if got := a2.request(t, "unix", "allowlist add 192.0.2.0/24\n"); !strings.HasPrefix(got, "added 192.0.2.0/24 (redis)") {
		t.Fatalf("add of a kept entry: %q", got)
	}
	waitUntil(t, 3*time.Second, "the written-back entry ends the missing state", func() (bool, string) {
		na, nb := counter(t, a2, "allowlist_missing"), counter(t, b, "allowlist_missing")
		return na == 0 && nb == 0, "a2/b missing " + string(rune('0'+na)) + "/" + string(rune('0'+nb))
	})
	expectClosedSilently(t, b.addr, "sensor B with the entry written back")

	// (4) Only the operator clears it, for the whole fleet.
	a2.expectReply(t, "unix", "allowlist remove 192.0.2.0/24\n",
		"removed 192.0.2.0/24 (redis); allowlist empty: every address may connect (subject to protected mode)\n")
	waitUntil(t, 3*time.Second, "sensor B serves after the operator's remove", func() (bool, string) {
		got := b.tryRequest("tcp", "ping\n")
		return got == "pong\n", got
	})
	a2.expectReply(t, "tcp", "ping\n", "pong\n")
	a2.shutdown()
	a3 := startTestServer(t, serverConfig{flags: flags}) // its ping at start passes: nothing remembered
	a3.expectReply(t, "tcp", "ping\n", "pong\n")
	if l := a3.logLines(t, "ERROR", ""); len(l) != 0 {
		t.Errorf("ERROR lines after an explicit clear: %q", l)
	}
}
