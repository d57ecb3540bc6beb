package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tapline/access"
	"tapline/internal/redistest"
)

const syscallHUP = syscall.SIGHUP

// Allowlist, failure backoff, rate limit, audit trail and reload (issue 11),
// against the real binary with real nc and a real redis-server.

// expectClosedSilently dials addr and requires the server to close the
// connection without sending a byte: a raw read gets EOF after 0 bytes.
func expectClosedSilently(t testing.TB, addr, what string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: dial: %v", what, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 64)
	n, err := c.Read(b)
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("%s: want EOF after 0 bytes, got %d bytes %q, err %v", what, n, b[:n], err)
	}
}

// ncTCP runs `printf REQ | nc -N 127.0.0.1 PORT` and returns its stdout.
func ncTCP(t testing.TB, s *server, req string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "nc.out")
	if stderr, err := runShell(20*time.Second, "printf '"+req+"' | "+s.ncCmd("tcp"), out); err != nil {
		t.Fatalf("nc: %v, stderr %q", err, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// managerStats reads sniffer_stat's "manager" counters over the Unix socket.
func managerStats(t testing.TB, s *server) map[string]any {
	t.Helper()
	raw := s.request(t, "unix", "sniffer_stat\n")
	var st struct {
		Manager map[string]any `json:"manager"`
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil || st.Manager == nil {
		t.Fatalf("sniffer_stat: %v %q", err, clip([]byte(raw), 300))
	}
	return st.Manager
}

func counter(t testing.TB, s *server, name string) int {
	t.Helper()
	v, ok := managerStats(t, s)[name].(float64)
	if !ok {
		t.Fatalf("sniffer_stat has no manager.%s", name)
	}
	return int(v)
}

// auditLines are the server log's audit records (JSON log format) that
// have every field in want.
func auditLines(t testing.TB, s *server, want map[string]string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(string(b), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "audit" {
			continue
		}
		match := true
		for k, v := range want {
			if rec[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, rec)
		}
	}
	return out
}

func TestAllowlistRuntime(t *testing.T) {
	requireTools(t)
	s := startTestServer(t, serverConfig{})
	s.expectReply(t, "unix", "allowlist list\n", "allowlist empty: every address may connect (subject to protected mode)\n")
	early := dialSession(t, "tcp", s.addr) // connected before the list is on
	early.send(`{"id":1,"cmd":"ping"}`)
	early.expectLine(`{"id":1,"error":"","result":"pong"}`, 5*time.Second)

	// The first runtime entry turns the list on for everyone else.
	s.expectReply(t, "unix", "allowlist add 192.0.2.0/24\n",
		"added 192.0.2.0/24 (memory); allowlist now in force: 1 entries; every other TCP address is now refused at accept\n")
	expectClosedSilently(t, s.addr, "127.0.0.1 outside the allowlist")
	if got := ncTCP(t, s, `ping\n`); got != "" {
		t.Fatalf("nc from outside the allowlist got %q, want nothing", got)
	}
	if n := counter(t, s, "connections_refused_allowlist"); n != 2 {
		t.Fatalf("connections_refused_allowlist = %d, want 2", n)
	}
	if l := auditLines(t, s, map[string]string{"event": "refused", "outcome": "denied", "listener": "tcp", "addr": "127.0.0.1", "reason": "allowlist"}); len(l) != 2 {
		t.Fatalf("%d audit lines for the refusals, want 2", len(l))
	}
	// The list applies at accept: a session that was already in goes on.
	early.send(`{"id":2,"cmd":"ping"}`)
	early.expectLine(`{"id":2,"error":"","result":"pong"}`, 5*time.Second)

	// A second connection (JSON on the Unix socket) lets 127.0.0.1 in.
	js := dialSession(t, "unix", s.sock)
	js.send(`{"id":1,"cmd":"allowlist","args":{"action":"add","cidr":"127.0.0.1"}}`)
	js.expectLine(`{"id":1,"error":"","result":{"action":"add","cidr":"127.0.0.1","entries":2,"config":[],"runtime":["192.0.2.0/24","127.0.0.1/32"],"store":"memory","note":"added 127.0.0.1 (memory); allowlist now in force: 2 entries"}}`, 5*time.Second)
	s.expectReply(t, "tcp", "ping\n", "pong\n")
	if got := ncTCP(t, s, `ping\n`); got != "pong\n" {
		t.Fatalf("nc after allowlist add got %q", got)
	}
	// Only read_write may change it; plaintext TCP is full_read.
	if got := s.request(t, "tcp", "allowlist list\n"); !strings.Contains(got, "needs read_write") {
		t.Fatalf("plaintext TCP allowlist list: %q", got)
	}
	js.send(`{"id":2,"cmd":"allowlist","args":{"action":"remove","cidr":"10.0.0.0/8"}}`)
	js.expectLine(`{"id":2,"error":"allowlist remove: no such runtime allowlist entry","code":"not_found","status":404}`, 5*time.Second)
	s.expectReply(t, "unix", "allowlist remove 192.0.2.0/24\n", "removed 192.0.2.0/24 (memory); allowlist now in force: 1 entries\n")
	s.expectReply(t, "unix", "allowlist list\n", "allowlist now in force: 1 entries\nruntime 127.0.0.1/32\n")
	s.expectReply(t, "unix", "allowlist remove 127.0.0.1\n", "removed 127.0.0.1 (memory); allowlist empty: every address may connect (subject to protected mode)\n")
	s.expectReply(t, "tcp", "ping\n", "pong\n")
	if l := auditLines(t, s, map[string]string{"event": "command", "cmd": "allowlist", "outcome": "ok", "listener": "unix", "via": "peercred"}); len(l) < 5 {
		t.Fatalf("%d audit lines for allowlist commands, want at least 5", len(l))
	}
}

func TestAllowlistConfigEntries(t *testing.T) {
	requireTools(t)
	s := startTestServer(t, serverConfig{flags: []string{"--manager-allow", "127.0.0.1/32, 10.0.0.0/8"}})
	s.expectReply(t, "unix", "allowlist remove 10.0.0.0/8\n",
		"error: allowlist remove: the entry is from the config (manager_allow); only runtime entries can be removed\n")
	s.expectReply(t, "unix", "allowlist add 192.0.2.1\n", "added 192.0.2.1 (memory); allowlist now in force: 3 entries\n")
	s.expectReply(t, "unix", "allowlist add 192.0.2.1\n", "error: allowlist add: the entry is already listed\n")
	s.expectReply(t, "unix", "allowlist add nonsense\n", "error: allowlist add: not an address or CIDR: \"nonsense\"\n")
	s.expectReply(t, "tcp", "ping\n", "pong\n")
}

// TestAllowlistFleet: two sensors sharing a Redis see each other's changes
// within about a second.
func TestAllowlistFleet(t *testing.T) {
	requireTools(t)
	r := redistest.Start(t)
	a := startTestServer(t, serverConfig{flags: []string{"--redis", r.URL()}})
	b := startTestServer(t, serverConfig{flags: []string{"--redis", r.URL()}})
	a.expectReply(t, "unix", "allowlist add 192.0.2.0/24\n",
		"added 192.0.2.0/24 (redis); allowlist now in force: 1 entries; every other TCP address is now refused at accept\n")
	took := waitUntil(t, 2*time.Second, "sensor B refuses 127.0.0.1 after A's allowlist add", func() (bool, string) {
		got := b.tryRequest("unix", "allowlist list\n")
		return strings.Contains(got, "runtime 192.0.2.0/24"), got
	})
	expectClosedSilently(t, b.addr, "sensor B after A's add")
	t.Logf("sensor B had A's entry after %v", took.Round(time.Millisecond))
	b.expectReply(t, "unix", "allowlist remove 192.0.2.0/24\n",
		"removed 192.0.2.0/24 (redis); allowlist empty: every address may connect (subject to protected mode)\n")
	waitUntil(t, 2*time.Second, "sensor A lets 127.0.0.1 in after B's remove", func() (bool, string) {
		got := a.tryRequest("tcp", "ping\n")
		return got == "pong\n", got
	})
	// A restarted sensor reads the fleet's entries from Redis.
	a.expectReply(t, "unix", "allowlist add 198.51.100.7\n",
		"added 198.51.100.7 (redis); allowlist now in force: 1 entries; every other TCP address is now refused at accept\n")
	c := launchServer(t, serverConfig{flags: []string{"--redis", r.URL()}})
	waitUntil(t, 5*time.Second, "a new sensor reads the entries", func() (bool, string) {
		got := c.tryRequest("unix", "allowlist list\n")
		return strings.Contains(got, "runtime 198.51.100.7/32"), got
	})
	expectClosedSilently(t, c.addr, "new sensor")
}

// TestAuthBackoff: failed credentials from a non-loopback address (this
// host's own, through a 0.0.0.0 listener) put it in a cool-down; requests
// refused for their level do not count, and loopback peers are never put
// in one (F1 of the attack report: ten plaintext `reload` from any local
// user shut every 127.0.0.1 client out for a minute).
func TestAuthBackoff(t *testing.T) {
	requireTools(t)
	ip := localNonLoopback(t)
	dir := t.TempDir()
	conf := writeConfig(t, dir, "b.conf", "manager_tokens_file = "+filepath.Join(dir, "tokens.json"),
		"manager_plain_level = limited_read")
	_, rw := createToken(t, conf, "--level", "read_write")
	s := startTestServer(t, serverConfig{flags: []string{"-c", conf, "--managerip", "0.0.0.0", "--manager-protected-mode", "no",
		"--manager-auth-fail-limit", "3", "--manager-auth-fail-window", "60s", "--manager-auth-fail-cooldown", "2s"}})
	far := net.JoinHostPort(ip, strconv.Itoa(s.port))
	farNC := func(req string) string {
		return shellOutput(t, "printf %s "+shellQuote(req)+" | timeout 10 nc -N "+ip+" "+strconv.Itoa(s.port))
	}

	// Loopback: level refusals and bad tokens, far over the limit, lock nobody out.
	for i := range 11 {
		if got := ncTCP(t, s, `reload\n`); !strings.Contains(got, "reload needs read_write") {
			t.Fatalf("plaintext reload %d: %q", i+1, got)
		}
	}
	for range 4 {
		if got := ncTCP(t, s, `auth tlk_0000000000000000_bad\nping\n`); !strings.Contains(got, "unknown token") {
			t.Fatalf("bad token from loopback: %q", got)
		}
	}
	if got := ncTCP(t, s, `ping\n`); got != "pong\n" {
		t.Fatalf("ping from 127.0.0.1 after 15 failures: %q", got)
	}
	if got := ncText(t, s, "auth "+rw+"\nreload\n"); got != "reload ok\n" {
		t.Fatalf("a read_write token from 127.0.0.1 after 15 failures: %q", got)
	}
	if l := auditLines(t, s, map[string]string{"event": "auth_failure", "outcome": "denied", "addr": "127.0.0.1", "cmd": "reload", "reason": "level", "via": "plaintext"}); len(l) != access.AuditBurst {
		t.Fatalf("%d level auth_failure audit lines from loopback, want %d (the per-address bound)", len(l), access.AuditBurst)
	}
	// From afar, level refusals do not count either; failed credentials do.
	for i := range 5 {
		if got := farNC("clients\n"); !strings.Contains(got, "clients needs full_read") {
			t.Fatalf("far level refusal %d: %q", i+1, got)
		}
	}
	sess := dialSession(t, "tcp", far) // a JSON session, in before the cool-down
	sess.send(`{"id":1,"cmd":"ping"}`)
	sess.expectLine(`{"id":1,"error":"","result":"pong"}`, 5*time.Second)
	for i := range 3 {
		if got := farNC("auth tlk_0000000000000000_bad\nping\n"); !strings.HasPrefix(got, "error: unauthenticated: ") {
			t.Fatalf("far bad token %d: %q", i+1, got)
		}
	}
	start := time.Now()
	expectClosedSilently(t, far, "address in its cool-down")
	if got := farNC("ping\n"); got != "" {
		t.Fatalf("nc during the cool-down got %q", got)
	}
	sess.send(`{"id":2,"cmd":"ping"}`)
	sess.expectLine(`{"id":2,"error":"too many failed authentications from your address; retry later","code":"rate_limited","status":429}`, 5*time.Second)
	if got := ncTCP(t, s, `ping\n`); got != "pong\n" {
		t.Fatalf("127.0.0.1 during the far address's cool-down: %q", got)
	}
	st := managerStats(t, s)
	if st["connections_refused_backoff"].(float64) != 2 || st["auth_backoffs"].(float64) != 1 || st["auth_failures"].(float64) != 23 {
		t.Fatalf("counters: refused_backoff %v backoffs %v failures %v (want 2, 1, 23)", st["connections_refused_backoff"], st["auth_backoffs"], st["auth_failures"])
	}
	if l := auditLines(t, s, map[string]string{"event": "backoff", "reason": "auth_fail_limit"}); len(l) != 1 || l[0]["addr"] != ip {
		t.Fatalf("backoff audit lines %v, want one for %s", l, ip)
	}
	// The Unix socket is not affected; TCP is back after the cool-down.
	s.expectReply(t, "unix", "ping\n", "pong\n")
	took := waitUntil(t, 4*time.Second, "TCP accepted again after the cool-down", func() (bool, string) {
		got := farNC("ping\n")
		return got == "pong\n", got
	})
	if since := time.Since(start); since < 1500*time.Millisecond {
		t.Fatalf("the cool-down of 2s lifted after %v", since)
	}
	t.Logf("cool-down lifted %v after it was seen", took.Round(time.Millisecond))
}

// TestAuditBounded: a flood of failures from one address writes at most
// the per-address burst, then one summary line; the rest is counted.
func TestAuditBounded(t *testing.T) {
	requireTools(t)
	s := startTestServer(t, serverConfig{flags: []string{"--manager-plain-level", "limited_read", "--manager-auth-fail-window", "1s"}})
	start := time.Now()
	for range 40 {
		s.request(t, "tcp", "clients\n")
	}
	windows := int(time.Since(start)/time.Second) + 1 // each window may write its 5
	if l := auditLines(t, s, map[string]string{"event": "auth_failure"}); len(l) < 5 || len(l) > 5*windows || len(l) >= 40 {
		t.Fatalf("%d failure lines for 40 failures in %d window(s) of 1s", len(l), windows)
	}
	time.Sleep(1100 * time.Millisecond) // the next window: the summary comes with its first failure
	s.request(t, "tcp", "clients\n")
	sum := auditLines(t, s, map[string]string{"event": "suppressed", "addr": "127.0.0.1"})
	if len(sum) == 0 {
		t.Fatalf("no summary line; log tail:\n%s", s.logTail(10))
	}
	if counter(t, s, "audit_suppressed") < 40-5*windows {
		t.Fatalf("audit_suppressed = %d", counter(t, s, "audit_suppressed"))
	}
}

func TestRateLimit(t *testing.T) {
	requireTools(t)
	s := startTestServer(t, serverConfig{flags: []string{"--manager-rate-limit", "2"}})
	time.Sleep(1100 * time.Millisecond) // waitReady's pings refill
	j := dialSession(t, "tcp", s.addr)
	var batch []string
	for i := range 5 {
		batch = append(batch, `{"id":`+string(rune('1'+i))+`,"cmd":"ping"}`)
	}
	j.send(strings.Join(batch, "\n"))
	limited := 0
	for range 5 {
		line, err := j.readLine(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, `"code":"rate_limited","status":429`) {
			limited++
		}
	}
	if limited < 2 {
		t.Fatalf("%d of 5 pings at once rate limited with a burst of 2", limited)
	}
	sawText := false
	for range 6 {
		if got := ncTCP(t, s, `ping\n`); got == "error: rate limited\n" {
			sawText = true
		}
	}
	if !sawText {
		t.Fatal("text mode never answered error: rate limited")
	}
	if counter(t, s, "requests_rate_limited") < 3 {
		t.Fatalf("requests_rate_limited = %d", counter(t, s, "requests_rate_limited"))
	}
}

func TestReloadSIGHUP(t *testing.T) {
	requireTools(t)
	dir := shortTempDir(t)
	conf := writeConfig(t, dir, "t.conf", "manager_plain_level = full_read")
	s := startTestServer(t, serverConfig{flags: []string{"-c", conf}})
	sess := dialSession(t, "tcp", s.addr)
	sess.send(`{"id":1,"cmd":"clients"}`)
	if l, err := sess.readLine(5 * time.Second); err != nil || !strings.Contains(l, `"error":""`) {
		t.Fatalf("clients at full_read: %q %v", l, err)
	}
	writeConfig(t, dir, "t.conf", "manager_plain_level = limited_read", "manager_max_connections = 77")
	s.signal(syscallHUP)
	waitUntil(t, 5*time.Second, "a new connection gets limited_read after SIGHUP", func() (bool, string) {
		got := s.tryRequest("tcp", "clients\n")
		return strings.Contains(got, "clients needs full_read; this connection has limited_read"), got
	})
	// The session opened before keeps its level and stays open.
	sess.send(`{"id":2,"cmd":"clients"}`)
	if l, err := sess.readLine(5 * time.Second); err != nil || !strings.Contains(l, `"error":""`) {
		t.Fatalf("existing session after reload: %q %v", l, err)
	}
	if !strings.Contains(tailFile(s.logPath, 20, 400), "manager_max_connections") {
		t.Fatalf("the reload log does not name the key that needs a restart:\n%s", s.logTail(10))
	}
	// A broken config keeps the old settings, and the server runs on.
	writeConfig(t, dir, "t.conf", "manager_plain_level = root")
	s.signal(syscallHUP)
	waitUntil(t, 5*time.Second, "the reload failure is logged", func() (bool, string) {
		tail := s.logTail(5)
		return strings.Contains(tail, "reload failed"), tail
	})
	if s.exited() {
		t.Fatal("SIGHUP with a broken config ended the server")
	}
	if got := s.request(t, "tcp", "clients\n"); !strings.Contains(got, "limited_read") {
		t.Fatalf("after a failed reload: %q", got)
	}
	if got := s.request(t, "unix", "reload\n"); !strings.HasPrefix(got, "error: reload failed, the old settings stay in force: ") || !strings.Contains(got, "root") {
		t.Fatalf("reload command with a broken config: %q", got)
	}
	// The reload command: VoIPmonitor's text answer, JSON lists the changes.
	writeConfig(t, dir, "t.conf", "manager_plain_level = read_write", "manager_max_connections = 77")
	js := dialSession(t, "unix", s.sock)
	js.send(`{"id":1,"cmd":"reload"}`)
	js.expectLine(`{"id":1,"error":"","result":{"reload":"ok","changed":["manager_plain_level"],"needs_restart":["manager_max_connections"],"widened":["manager_plain_level"]}}`, 5*time.Second)
	s.expectReply(t, "unix", "reload\n", "reload ok\n")
	if got := s.request(t, "tcp", "allowlist list\n"); !strings.HasPrefix(got, "allowlist empty") {
		t.Fatalf("plaintext at read_write after reload: %q", got)
	}
	if l := auditLines(t, s, map[string]string{"event": "command", "cmd": "reload", "listener": "unix"}); len(l) != 3 {
		t.Fatalf("%d audit lines for reload, want 3", len(l))
	}
}

// TestReloadSecurityTypo: a reload (command or SIGHUP) of a file where a
// security key is misspelt is refused, naming the key and what it should
// be, and the old settings stay; a reload that widens access (here an
// empty file: every restriction back to the defaults) applies, and the
// reply and a WARN line name what it widened (F6 of the attack report).
func TestReloadSecurityTypo(t *testing.T) {
	requireTools(t)
	dir := shortTempDir(t)
	strict := []string{"manager_plain_level = limited_read", "manager_allow = 127.0.0.1, 127.0.8.1"}
	conf := writeConfig(t, dir, "t.conf", strict...)
	s := startTestServer(t, serverConfig{flags: []string{"-c", conf}})
	from := func(src string) string {
		return shellOutput(t, "printf 'ping\\n' | timeout 10 nc -N -s "+src+" 127.0.0.1 "+strconv.Itoa(s.port))
	}
	if got := from("127.0.8.77"); got != "" {
		t.Fatalf("127.0.8.77 outside the allowlist got %q", got)
	}
	writeConfig(t, dir, "t.conf", "manager_plain_level = limited_read", "manager_alow = 127.0.0.1, 127.0.8.1")
	js := dialSession(t, "unix", s.sock)
	js.send(`{"id":1,"cmd":"reload"}`)
	line, err := js.readLine(5 * time.Second)
	if err != nil || !strings.Contains(line, `"code":"failed"`) || !strings.Contains(line, "reload failed, the old settings stay in force") ||
		!strings.Contains(line, "unknown key manager_alow, did you mean manager_allow?") {
		t.Fatalf("reload with a misspelt manager_allow: %q %v", line, err)
	}
	s.signal(syscallHUP)
	waitUntil(t, 5*time.Second, "the SIGHUP refusal is logged", func() (bool, string) {
		b, _ := os.ReadFile(s.logPath)
		return strings.Count(string(b), "did you mean manager_allow?") >= 2, s.logTail(5)
	})
	for _, l := range strings.Split(s.logTail(20), "\n") {
		if strings.Contains(l, "manager_alow") && !strings.Contains(l, `"level":"ERROR","msg":"reload failed, the old settings stay in force"`) {
			t.Errorf("a log line about the typo that is not the one ERROR line: %s", l)
		}
	}
	if got := from("127.0.8.77"); got != "" {
		t.Fatalf("after the refused reloads 127.0.8.77 got %q: the allowlist was dropped", got)
	}
	if got := from("127.0.8.1"); got != "pong\n" {
		t.Fatalf("127.0.8.1 on the allowlist: %q", got)
	}
	// An empty file applies (a reload applies what the file says) and says what it widened.
	writeConfig(t, dir, "t.conf")
	js.send(`{"id":2,"cmd":"reload"}`)
	js.expectLine(`{"id":2,"error":"","result":{"reload":"ok","changed":["manager_plain_level","manager_allow"],"needs_restart":[],"widened":["manager_plain_level","manager_allow"]}}`, 5*time.Second)
	if !strings.Contains(s.logTail(5), `"level":"WARN","msg":"config reloaded; access widened by manager_plain_level, manager_allow"`) {
		t.Fatalf("no WARN naming the widened keys; log tail:\n%s", s.logTail(5))
	}
	if got := from("127.0.8.77"); got != "pong\n" {
		t.Fatalf("after the empty file's reload: %q", got)
	}
	s.expectReply(t, "unix", "reload\n", "reload ok\n")
}

// TestAuditFail2ban runs the fail2ban filter of docs/AUDIT.md
// (docs/fail2ban/tapline.conf) over the real server's text log: every
// failure line matches with the peer's address, and nothing else does.
func TestAuditFail2ban(t *testing.T) {
	requireTools(t)
	filter, err := filepath.Abs("../docs/fail2ban/tapline.conf")
	if err != nil {
		t.Fatal(err)
	}
	s := startTestServer(t, serverConfig{flags: []string{"--log-format", "text", "--manager-plain-level", "limited_read"}})
	for range 3 {
		s.request(t, "tcp", "clients\n") // level
	}
	s.request(t, "tcp", "aes:Z2FyYmFnZQ==:sea\n") // a legacy frame that does not decrypt
	s.expectReply(t, "unix", "allowlist add 192.0.2.1\n",
		"added 192.0.2.1 (memory); allowlist now in force: 1 entries; every other TCP address is now refused at accept\n")
	expectClosedSilently(t, s.addr, "outside the allowlist")
	const failures = 5
	if _, err := exec.LookPath("fail2ban-regex"); err != nil {
		t.Fatalf("fail2ban-regex is not installed (make deps): %v", err)
	}
	out, err := exec.Command("fail2ban-regex", "-v", s.logPath, filter).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Lines: \d+ lines, 0 ignored, (\d+) matched`).FindSubmatch(out)
	if m == nil || string(m[1]) != "5" {
		t.Fatalf("fail2ban-regex matched %s lines, want %d:\n%s\nlog:\n%s", m, failures, out, s.logTail(30))
	}
	if !strings.Contains(string(out), "127.0.0.1") {
		t.Fatalf("fail2ban-regex found no host 127.0.0.1:\n%s", out)
	}
}
