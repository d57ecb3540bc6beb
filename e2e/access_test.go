package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listcallsOK is how a granted listcalls reply starts (text mode: the
// header row; JSON: the result object).
const (
	listcallsOK     = `[["callreference",`
	listcallsJSONOK = `{"id":1,"error":"","result":{"total":`
)

// levelLine is the text-mode refusal of a command above the level.
func levelLine(cmd, need, have, via string) string {
	return "error: " + cmd + " needs " + need + "; this connection has " + have + " (" + via + ")\n"
}

// expectPrefix requires got to start with want.
func expectPrefix(t *testing.T, label, got, want string) {
	t.Helper()
	if !strings.HasPrefix(got, want) {
		t.Errorf("%s: got %q, want a reply starting with %q", label, clip([]byte(got), 200), want)
	}
}

// TestAccessUnixPeerCredentials: on the Unix socket the peer's uid and
// groups decide: a user listed with full_read may list calls but not run
// manager_file (one line naming the level), a user whose group has
// limited_read may ping but not list calls, an unlisted user is refused at
// connect with one line, root has read_write; `clients` shows who, at what
// level and how it was decided.
func TestAccessUnixPeerCredentials(t *testing.T) {
	requireRootTools(t, "useradd", "groupadd", "setpriv")
	grp := tempGroup(t)
	alice, bob, carol := newTempUser(t), newTempUser(t, grp), newTempUser(t)
	sock := filepath.Join(sharedSocketDir(t), "m.sock")
	s := startServer(t, serverConfig{socket: sock, flags: []string{
		"--managersocket-mode", "0666", // every user reaches the socket: the peer credentials alone decide
		"--manager-unix-levels", alice.name + ":full_read, @" + grp + ":limited_read"}})

	type step struct {
		who       tempUser
		req, want string
		prefix    bool
	}
	steps := []step{
		{alice, "listcalls\n", listcallsOK, true},
		{alice, "manager_file stop\n", levelLine("manager_file", "read_write", "full_read", "peercred"), false},
		{alice, "manager_file start " + filepath.Join(filepath.Dir(sock), "x.sock") + "\n", levelLine("manager_file", "read_write", "full_read", "peercred"), false},
		{bob, "ping\n", "pong\n", false},
		{bob, "listcalls\n", levelLine("listcalls", "full_read", "limited_read", "peercred"), false},
		{carol, "ping\n", "error: uid:" + carol.uid + " has no access to this socket (not in manager_unix_levels)\n", false},
	}
	for _, st := range steps {
		got, err := ncAs(t, st.who, sock, st.req)
		label := st.who.name + " " + strings.TrimSpace(st.req)
		switch {
		case err != nil:
			t.Errorf("%s: %v (stdout %q)", label, err, got)
		case st.prefix:
			expectPrefix(t, label, got, st.want)
		case got != st.want:
			t.Errorf("%s: got %q, want %q", label, got, st.want)
		}
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(sock), "x.sock")); err == nil {
		t.Errorf("alice's refused manager_file start created a socket")
	}
	s.expectReply(t, "unix", "manager_file stop\n", "manager enabled via the managersocket option cannot be terminated\n")
	if n := statValue(t, s, "unix", "connections_refused_peercred"); n != 1 {
		t.Errorf("connections_refused_peercred = %d, want 1 (carol)", n)
	}

	// clients: bob holds a connection open while alice asks.
	bobNC := exec.Command("setpriv", "--reuid", bob.name, "--regid", bob.name, "--init-groups", "--", "nc", "-U", sock)
	stdin, err := bobNC.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	bobNC.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := bobNC.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = bobNC.Process.Kill(); _ = bobNC.Wait() }()
	want := map[string][3]string{
		"uid:" + alice.uid: {"uid:" + alice.uid + "(" + alice.name + ")", "full_read", "peercred"},
		"uid:" + bob.uid:   {"uid:" + bob.uid + "(@" + grp + ")", "limited_read", "peercred"},
	}
	waitUntil(t, 10*time.Second, "alice's clients lists alice and bob with their levels", func() (bool, string) {
		got, err := ncAs(t, alice, sock, "clients\n")
		if err != nil {
			return false, err.Error()
		}
		var list []struct{ Peer, Identity, Level, Via string }
		if err := json.Unmarshal([]byte(got), &list); err != nil {
			return false, "not JSON: " + got
		}
		seen := 0
		for _, c := range list {
			for uid, w := range want {
				if strings.Contains(c.Peer, uid[len("uid:"):]) && strings.HasPrefix(c.Identity, uid+"(") {
					if [3]string{c.Identity, c.Level, c.Via} != w {
						return false, "entry " + c.Identity + " " + c.Level + " " + c.Via + ", want " + strings.Join(w[:], " ")
					}
					seen++
				}
			}
		}
		return seen == 2, got
	})
}

// TestAccessSocketMode: with managersocket_mode 0600 no other user even
// reaches the socket, listed or not; with 0660 and managersocket_group the
// group's members reach it and their peer credentials decide what they
// may do; others still cannot connect.
func TestAccessSocketMode(t *testing.T) {
	requireRootTools(t, "useradd", "groupadd", "setpriv")
	grp := tempGroup(t)
	erin, gina, frank := newTempUser(t, grp), newTempUser(t, grp), newTempUser(t)
	levels := erin.name + ":full_read, " + frank.name + ":full_read"

	t.Run("0600", func(t *testing.T) {
		sock := filepath.Join(sharedSocketDir(t), "m.sock")
		startServer(t, serverConfig{socket: sock, flags: []string{"--manager-unix-levels", levels}})
		requireSocket0600(t, sock)
		for _, u := range []tempUser{erin, frank} {
			if got, err := ncAs(t, u, sock, "ping\n"); err == nil || got != "" || !strings.Contains(err.Error(), "Permission denied") {
				t.Errorf("%s (listed) with mode 0600: got %q, err %v; want connect refused by the file's permissions", u.name, got, err)
			}
		}
	})
	t.Run("0660 group", func(t *testing.T) {
		sock := filepath.Join(sharedSocketDir(t), "m.sock")
		startServer(t, serverConfig{socket: sock, flags: []string{"--manager-unix-levels", levels,
			"--managersocket-mode", "0660", "--managersocket-group", grp}})
		fi, err := os.Lstat(sock)
		if err != nil {
			t.Fatal(err)
		}
		g, err := user.LookupGroup(grp)
		if err != nil {
			t.Fatal(err)
		}
		if gid := strconv.FormatUint(uint64(fi.Sys().(*syscall.Stat_t).Gid), 10); fi.Mode().Perm() != 0o660 || gid != g.Gid {
			t.Fatalf("%s: mode %v gid %s, want 0660 and group %s (%s)", sock, fi.Mode(), gid, grp, g.Gid)
		}
		if got, err := ncAs(t, erin, sock, "listcalls\n"); err != nil {
			t.Errorf("erin (group member, full_read): %v", err)
		} else {
			expectPrefix(t, "erin listcalls", got, listcallsOK)
		}
		if got, err := ncAs(t, gina, sock, "ping\n"); err != nil || got != "error: uid:"+gina.uid+" has no access to this socket (not in manager_unix_levels)\n" {
			t.Errorf("gina (group member, not listed): got %q, err %v; want the peer-credential refusal", got, err)
		}
		if got, err := ncAs(t, frank, sock, "ping\n"); err == nil || got != "" || !strings.Contains(err.Error(), "Permission denied") {
			t.Errorf("frank (listed, not in the group): got %q, err %v; want connect refused by the file's permissions", got, err)
		}
	})
}

// TestAccessProtectedMode: listening on all addresses with no key, token
// or allowlist, a peer from another network namespace (a non-loopback
// address) gets one line saying why and how to open access, while
// loopback peers, 127.0.0.2 included, are served; the server logs that it
// runs protected. A key, an allowlist or manager_protected_mode = no opens
// the sensor to the far peer.
func TestAccessProtectedMode(t *testing.T) {
	requireRootTools(t, "ip")
	far := newFarPeer(t)
	wide := []string{"--managerip", "0.0.0.0"}
	const refusal = "error: protected mode: this sensor listens on a non-loopback address with no manager key, no live token and no allowlist, " +
		"so only loopback peers are served; open access with manager_allow, a token (tapline tokens create) or a manager key, " +
		"or set manager_protected_mode = no\n"

	s := startServer(t, serverConfig{noSocket: true, flags: wide})
	if got := far.nc(t, s.port, "listcalls\n"); got != refusal {
		t.Errorf("far peer while protected: got %q, want %q", got, refusal)
	}
	for _, from := range []string{"127.0.0.1", "127.0.0.2"} {
		ncExpect(t, "loopback "+from+": ", "printf 'ping\\n' | timeout 10 nc -N -s "+from+" 127.0.0.1 "+strconv.Itoa(s.port),
			filepath.Join(s.dir, "nc.out"), []byte("pong\n"))
	}
	if !strings.Contains(s.logTail(50), "manager runs in protected mode") {
		t.Errorf("no log line saying the server runs protected; log tail:\n%s", s.logTail(20))
	}
	if n := statValue(t, s, "tcp", "connections_protected_mode"); n != 1 {
		t.Errorf("connections_protected_mode = %d, want 1", n)
	}

	k := newKey(t)
	open := []struct {
		name  string
		flags []string
		want  string
	}{
		{"protected mode off", []string{"--manager-protected-mode", "no"}, "pong\n"},
		{"allowlist", []string{"--manager-allow", far.peerIP + ", 127.0.0.0/8"}, "pong\n"},
		{"manager key", k.flags(), "pong\n"}, // ping is plaintext-allowed
	}
	for _, tc := range open {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, serverConfig{noSocket: true, flags: append(append([]string{}, wide...), tc.flags...)})
			if got := far.nc(t, s.port, "ping\n"); got != tc.want {
				t.Errorf("far peer: got %q, want %q", got, tc.want)
			}
			if strings.Contains(s.logTail(50), "manager runs in protected mode") {
				t.Errorf("logged protected mode although %s", tc.name)
			}
		})
	}
	t.Run("loopback listener", func(t *testing.T) {
		s := startServer(t, serverConfig{noSocket: true})
		if strings.Contains(s.logTail(50), "protected mode") {
			t.Errorf("a loopback-only listener logged protected mode")
		}
	})
}

// TestAccessProtectedModeTokens: tokens only count while live, and when
// live tokens are all that lifts protected mode a far plaintext peer gets
// at most limited_read until it authenticates (F2 of the attack report:
// any token record, even revoked or expired, opened the sensor to the
// network at manager_plain_level).
func TestAccessProtectedModeTokens(t *testing.T) {
	requireRootTools(t, "ip")
	far := newFarPeer(t)
	dir := t.TempDir()
	conf := writeConfig(t, dir, "p.conf", "manager_tokens_file = "+filepath.Join(dir, "tokens.json"), "manager_plain_tokens = yes")
	const refusedPrefix = "error: protected mode: "
	limited := levelLine("listcalls", "full_read", "limited_read", "plaintext")

	// Only an expired token at start: protected mode.
	createToken(t, conf, "--level", "read_write", "--ttl", "1s")
	time.Sleep(1100 * time.Millisecond)
	s := startServer(t, serverConfig{noSocket: true, flags: []string{"-c", conf, "--managerip", "0.0.0.0"}})
	if got := far.nc(t, s.port, "listcalls\n"); !strings.HasPrefix(got, refusedPrefix) {
		t.Fatalf("far peer with only an expired token: %q", got)
	}
	// A live token: far plaintext peers come in at limited_read, auth raises them.
	id, tok := createToken(t, conf, "--level", "full_read")
	pollUntil(t, 3*time.Second, "far peer let in once a token is live", func() (bool, string) {
		got := far.nc(t, s.port, "listcalls\n")
		return got == limited, got
	})
	if got := far.nc(t, s.port, "ping\n"); got != "pong\n" {
		t.Errorf("far ping at limited_read: %q", got)
	}
	if got := far.nc(t, s.port, "auth "+tok+"\nlistcalls\n"); !strings.HasPrefix(got, listcallsOK) {
		t.Errorf("far listcalls after auth: %q", clip([]byte(got), 200))
	}
	loop := "printf 'listcalls\\n' | timeout 10 nc -N 127.0.0.1 " + strconv.Itoa(s.port)
	if got := shellOutput(t, loop); !strings.HasPrefix(got, listcallsOK) {
		t.Errorf("loopback plaintext is not capped: %q", clip([]byte(got), 200))
	}
	if !strings.Contains(s.logTail(50), "manager protected mode lifted by tokens only: non-loopback plaintext peers get at most limited_read") {
		t.Errorf("no log line for the tokens-only state; log tail:\n%s", s.logTail(20))
	}
	// Revoked: protected mode is back.
	revokeToken(t, conf, id)
	pollUntil(t, 3*time.Second, "protected mode back after the only live token was revoked", func() (bool, string) {
		got := far.nc(t, s.port, "listcalls\n")
		return strings.HasPrefix(got, refusedPrefix), got
	})
	if n := strings.Count(s.logTail(100), "manager runs in protected mode"); n != 2 {
		t.Errorf("%d protected-mode log lines, want 2 (start, after the revocation)", n)
	}
}

// transport sends one request and returns the reply as the client sees it
// (decrypted for the encrypted transports).
type transport func(t *testing.T, s *server, k tkey, req string) string

// The transports of the matrix: the real nc for plaintext text and JSON
// and the Unix socket (root); the e2e's VoIPmonitor-compatible client
// for legacy AES and the hardened frames, which nc cannot seal.
var (
	viaText transport = func(t *testing.T, s *server, _ tkey, req string) string {
		return ncReply(t, s, "tcp", req+"\n")
	}
	viaJSON           = viaText // the server tells the modes apart by the first byte
	viaUnix transport = func(t *testing.T, s *server, _ tkey, req string) string {
		return ncReply(t, s, "unix", req+"\n")
	}
	viaLegacy transport = func(t *testing.T, s *server, k tkey, req string) string {
		raw, err := legacyCall("tcp", s.addr, k, req)
		plain, perr := openLegacyReply(k, raw)
		if err != nil || perr != nil {
			t.Fatalf("legacy %q: %v %v (raw %q)", req, err, perr, clip(raw, 200))
		}
		return string(plain)
	}
	viaHardened transport = func(t *testing.T, s *server, k tkey, req string) string {
		got, err := hardenedDo("tcp", s.addr, k, req)
		if err != nil {
			t.Fatalf("hardened %q: %v", req, err)
		}
		return string(got)
	}
)

// ncReply runs `printf req | nc -N` against s and returns what nc printed.
func ncReply(t *testing.T, s *server, network, req string) string {
	t.Helper()
	return shellOutput(t, "printf %s "+shellQuote(req)+" | timeout 10 "+s.ncCmd(network))
}

// TestAccessMatrix: every level × every transport that exists × allowed
// and refused. Text mode refuses with one line naming the level, JSON with
// unauthenticated (401) where no credential was given and forbidden (403)
// otherwise; while a key is in force plaintext still gets need aes! first.
func TestAccessMatrix(t *testing.T) {
	requireTools(t)
	k := newKey(t)
	const (
		mfStop     = "manager_file stop"
		notRunning = "manager enabled via the managersocket option cannot be terminated\n"
		jsonList   = `{"id":1,"cmd":"listcalls"}`
		jsonMF     = `{"id":1,"cmd":"manager_file","args":"stop"}`
	)
	jsonErr := func(msg, code, status string) string {
		return `{"id":1,"error":"` + msg + `","code":"` + code + `","status":` + status + "}\n"
	}
	type row struct {
		name   string
		via    transport
		req    string
		want   string
		prefix bool
	}
	cases := []struct {
		name  string
		flags []string
		key   bool
		rows  []row
	}{
		{"plain default full_read", nil, false, []row{
			{"text listcalls", viaText, "listcalls", listcallsOK, true},
			{"text manager_file", viaText, mfStop, levelLine("manager_file", "read_write", "full_read", "plaintext"), false},
			{"json listcalls", viaJSON, jsonList, listcallsJSONOK, true},
			{"json manager_file", viaJSON, jsonMF, jsonErr("manager_file needs read_write; this connection has full_read (plaintext)", "unauthenticated", "401"), false},
			{"unix root manager_file", viaUnix, mfStop, notRunning, false},
		}},
		{"plain limited_read", []string{"--manager-plain-level", "limited_read"}, false, []row{
			{"text ping", viaText, "ping", "pong\n", false},
			{"text listcalls", viaText, "listcalls", levelLine("listcalls", "full_read", "limited_read", "plaintext"), false},
			{"json listcalls", viaJSON, jsonList, jsonErr("listcalls needs full_read; this connection has limited_read (plaintext)", "unauthenticated", "401"), false},
			{"unix root listcalls", viaUnix, "listcalls", listcallsOK, true},
		}},
		{"plain read_write", []string{"--manager-plain-level", "read_write"}, false, []row{
			{"text manager_file", viaText, mfStop, notRunning, false},
			{"json manager_file", viaJSON, jsonMF, `{"id":1,"error":"","result":"` + strings.TrimSuffix(notRunning, "\n") + `"}` + "\n", false},
		}},
		{"key, defaults", nil, true, []row{
			{"text ping (plaintext-allowed)", viaText, "ping", "pong\n", false},
			{"text listcalls", viaText, "listcalls", "need aes!\n", false},
			{"json listcalls", viaJSON, jsonList, jsonErr("need aes!", "forbidden", "403"), false},
			{"legacy manager_file", viaLegacy, mfStop, notRunning, false},
			{"hardened manager_file", viaHardened, mfStop, notRunning, false},
			{"unix root manager_file", viaUnix, mfStop, notRunning, false},
		}},
		{"key, plain read_write", []string{"--manager-plain-level", "read_write"}, true, []row{
			{"text manager_file: need aes! first", viaText, mfStop, "need aes!\n", false},
		}},
		{"key, legacy full_read", []string{"--manager-legacy-level", "full_read"}, true, []row{
			{"legacy listcalls", viaLegacy, "listcalls", listcallsOK, true},
			{"legacy manager_file", viaLegacy, mfStop, levelLine("manager_file", "read_write", "full_read", "legacy_key"), false},
			{"hardened manager_file", viaHardened, mfStop, notRunning, false},
		}},
		{"key limited_read: both framings held to it", []string{"--manager-key-level", "limited_read"}, true, []row{
			{"hardened ping", viaHardened, "ping", "pong\n", false},
			{"hardened listcalls", viaHardened, "listcalls", levelLine("listcalls", "full_read", "limited_read", "hardened_key"), false},
			{"legacy ping", viaLegacy, "ping", "pong\n", false},
			{"legacy manager_file", viaLegacy, mfStop, levelLine("manager_file", "read_write", "limited_read", "legacy_key"), false},
		}},
		{"key, unencrypted allowed: levels still apply", []string{"--manager-enable-unencrypted", "yes"}, true, []row{
			{"text listcalls", viaText, "listcalls", listcallsOK, true},
			{"text manager_file", viaText, mfStop, levelLine("manager_file", "read_write", "full_read", "plaintext"), false},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flags := tc.flags
			if tc.key {
				flags = append(append([]string{}, k.flags()...), flags...)
			}
			s := startServer(t, serverConfig{flags: flags})
			for _, r := range tc.rows {
				got := r.via(t, s, k, r.req)
				if r.prefix {
					expectPrefix(t, r.name, got, r.want)
				} else if got != r.want {
					t.Errorf("%s: got %q, want %q", r.name, clip([]byte(got), 300), r.want)
				}
			}
		})
	}
}

// TestAccessUnixManyGroups: a peer in more groups than fit the first
// read of SO_PEERGROUPS (64) is judged by all of them: the group that
// grants its level is its 101st. Uids and gids without names: the rules
// take numbers.
func TestAccessUnixManyGroups(t *testing.T) {
	requireRootTools(t, "setpriv")
	sock := filepath.Join(sharedSocketDir(t), "m.sock")
	const uid, granting = "70001", "70100"
	gids := make([]string, 0, 101)
	for g := 70000; g < 70100; g++ {
		gids = append(gids, strconv.Itoa(g))
	}
	startServer(t, serverConfig{socket: sock, flags: []string{
		"--managersocket-mode", "0666", "--manager-unix-levels", "@" + granting + ":limited_read"}})
	run := func(groups []string, req string) string {
		return shellOutput(t, "printf %s "+shellQuote(req)+" | timeout 10 setpriv --reuid "+uid+" --regid "+uid+
			" --groups "+strings.Join(groups, ",")+" -- nc -N -U "+shellQuote(sock))
	}
	with := append(append([]string{}, gids...), granting)
	if got := run(with, "ping\n"); got != "pong\n" {
		t.Errorf("101 groups, the last granting limited_read: ping got %q", got)
	}
	if got, want := run(with, "listcalls\n"), levelLine("listcalls", "full_read", "limited_read", "peercred"); got != want {
		t.Errorf("101 groups: listcalls got %q, want %q", got, want)
	}
	if got, want := run(gids, "ping\n"), "error: uid:"+uid+" has no access to this socket (not in manager_unix_levels)\n"; got != want {
		t.Errorf("100 groups, none granting: got %q, want %q", got, want)
	}
}
