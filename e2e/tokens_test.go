package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tapline/internal/redistest"
)

// createToken runs `tapline tokens create` with args and returns the id
// (end of the first line) and the token (end of the last line).
func createToken(t *testing.T, conf string, args ...string) (id, token string) {
	t.Helper()
	out, errOut, code := runCLI(t, append([]string{"tokens", "create", "-c", conf}, args...)...)
	if code != 0 {
		t.Fatalf("tokens create %v: exit %d, stderr %q", args, code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	first, last := strings.Fields(lines[0]), strings.Fields(lines[len(lines)-1])
	id, token = first[len(first)-1], last[len(last)-1]
	if !strings.HasPrefix(token, "tlk_"+id+"_") {
		t.Fatalf("create printed id %q and token %q", id, token)
	}
	return id, token
}

func revokeToken(t *testing.T, conf, id string) time.Time {
	t.Helper()
	if out, errOut, code := runCLI(t, "tokens", "revoke", id, "-c", conf); code != 0 {
		t.Fatalf("tokens revoke: exit %d, %q %q", code, out, errOut)
	}
	return time.Now()
}

// ncText sends text through real nc to s over TCP and returns the reply.
func ncText(t *testing.T, s *server, text string) string {
	t.Helper()
	return ncReply(t, s, "tcp", text)
}

// identityIn parses a clients reply and returns the asking connection's
// row (the one busy answering).
func identityIn(t *testing.T, reply string) map[string]any {
	t.Helper()
	var rows []map[string]any
	reply = strings.TrimSpace(reply)
	if err := json.Unmarshal([]byte(reply), &rows); err != nil || len(rows) == 0 {
		t.Fatalf("not a clients reply: %q (%v)", clip([]byte(reply), 300), err)
	}
	for _, r := range rows {
		if r["state"] == "busy" {
			return r
		}
	}
	return rows[0]
}

// pollUntil calls f until it reports done or limit passes; it returns how
// long that took and fails the test at the limit.
func pollUntil(t *testing.T, limit time.Duration, what string, f func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < limit {
		var ok bool
		if ok, last = f(); ok {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v (last: %q)", what, limit, clip([]byte(last), 200))
	return 0
}

func tokensServer(t *testing.T, extra ...string) (*server, string) {
	t.Helper()
	dir := t.TempDir()
	lines := append([]string{"manager_tokens_file = " + filepath.Join(dir, "tokens.json"), "manager_plain_level = limited_read"}, extra...)
	conf := writeConfig(t, dir, "tokens.conf", lines...)
	return startTestServer(t, serverConfig{flags: []string{"-c", conf, "--managerip", "127.0.0.1"}}), conf
}

// TestTokensCLIAndAuth: create/list/revoke with the file store, JSON and
// text auth through real nc, failures, CIDR binding, revocation within 1 s.
func TestTokensCLIAndAuth(t *testing.T) {
	requireTools(t)
	s, conf := tokensServer(t)
	rwID, rw := createToken(t, conf, "--level", "read_write", "--name", "ops")
	_, far := createToken(t, conf, "--level", "read_write", "--cidr", "192.0.2.0/24")

	out, _, code := runCLI(t, "tokens", "list", "-c", conf)
	if code != 0 || !strings.Contains(out, rwID) || !strings.Contains(out, "ops") || !strings.Contains(out, "192.0.2.0/24") ||
		strings.Contains(out, rw[len("tlk_")+17:]) || strings.Contains(out, "sha256") {
		t.Fatalf("tokens list: exit %d\n%s", code, out)
	}

	// Without a token clients (full_read) is refused at limited_read.
	if got := ncText(t, s, "clients\n"); !strings.Contains(got, "needs full_read") {
		t.Fatalf("plain clients: %q", got)
	}
	// The tokens file is re-read within a second of the CLI's change.
	pollUntil(t, 2*time.Second, "text auth", func() (bool, string) {
		got := ncText(t, s, "auth "+rw+"\nclients\n")
		return strings.HasPrefix(got, "["), got
	})
	row := identityIn(t, ncText(t, s, "auth "+rw+"\nclients\n"))
	if row["identity"] != "token:"+rwID || row["level"] != "read_write" || row["via"] != "token" {
		t.Fatalf("text auth identity %v", row)
	}
	// A failed auth line writes one error line and closes: the request after it never runs.
	cases := []struct{ name, text, want string }{
		{"bad token", "auth tlk_nothing\nclients\n", "error: unauthenticated: unknown token\n"},
		{"wrong secret", "auth " + rw[:len(rw)-3] + "AAA\nclients\n", "error: unauthenticated: unknown token\n"},
		{"cidr", "auth " + far + "\nclients\n", "error: unauthenticated: token not valid from this address\n"},
	}
	for _, c := range cases {
		if got := ncText(t, s, c.text); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	// JSON: auth returns level, expiry and id; the level applies to what follows.
	got := ncText(t, s, `{"id":1,"cmd":"auth","args":{"token":"`+rw+`"}}`+"\n"+`{"id":2,"cmd":"clients"}`+"\n"+
		`{"id":3,"cmd":"auth","args":{"token":"tlk_bad"}}`+"\n")
	lines := strings.Split(strings.TrimSpace(got), "\n")
	want1 := `{"id":1,"error":"","result":{"level":"read_write","expires":null,"token":"` + rwID + `"}}`
	if len(lines) != 3 || lines[0] != want1 || !strings.Contains(lines[1], `"via":"token"`) ||
		!strings.Contains(lines[2], `"code":"unauthenticated","status":401`) {
		t.Fatalf("JSON session:\n%s", got)
	}
	// A read_write command runs with the token (manager_file stop answers).
	if got := ncText(t, s, "auth "+rw+"\nmanager_file stop\n"); strings.Contains(got, "needs") || strings.Contains(got, "error") {
		t.Fatalf("manager_file stop with a read_write token: %q", got)
	}

	// Revoked: refused within a second, also in a session opened before.
	sess := dialSession(t, "tcp", s.addr)
	sess.send(`{"id":1,"cmd":"auth","args":{"token":"` + rw + `"}}`)
	if l, err := sess.readLine(5 * time.Second); err != nil || !strings.Contains(l, `"level":"read_write"`) {
		t.Fatalf("session auth: %q %v", l, err)
	}
	revoked := revokeToken(t, conf, rwID)
	took := pollUntil(t, time.Second, "revoked token refused", func() (bool, string) {
		got := ncText(t, s, "auth "+rw+"\nclients\n")
		return got == "error: unauthenticated: token revoked\n", got
	})
	t.Logf("revocation took effect %v after the CLI returned (%v)", took, time.Since(revoked))
	sess.send(`{"id":2,"cmd":"clients"}`)
	if l, _ := sess.readLine(5 * time.Second); !strings.Contains(l, `"code":"unauthenticated"`) || !strings.Contains(l, "revoked") {
		t.Fatalf("session after revoke: %q", l)
	}
	out, _, _ = runCLI(t, "tokens", "list", "-c", conf)
	if !strings.Contains(out, "revoked") {
		t.Fatalf("list after revoke:\n%s", out)
	}
}

// TestTokensExpiryAndRenew: a --ttl token stops at its expiry, also in
// the middle of a session; a --renew token lives on while it is used and
// stops once it was idle for its TTL.
func TestTokensExpiryAndRenew(t *testing.T) {
	requireTools(t)
	s, conf := tokensServer(t)
	_, short := createToken(t, conf, "--level", "full_read", "--ttl", "2s")
	created := time.Now()
	_, renew := createToken(t, conf, "--level", "full_read", "--ttl", "2s", "--renew")
	pollUntil(t, 2*time.Second, "tokens loaded", func() (bool, string) {
		got := ncText(t, s, "auth "+renew+"\nping\n")
		return got == "pong\n", got
	})
	sess := dialSession(t, "tcp", s.addr)
	sess.send(`{"id":1,"cmd":"auth","args":{"token":"` + short + `"}}`)
	if l, _ := sess.readLine(5 * time.Second); !strings.Contains(l, `"expires":"`) {
		t.Fatalf("auth with a ttl token: %q", l)
	}
	renewSess := dialSession(t, "tcp", s.addr)
	renewSess.send(`{"id":1,"cmd":"auth","args":{"token":"` + renew + `"}}`)
	if l, _ := renewSess.readLine(5 * time.Second); !strings.Contains(l, `"level":"full_read"`) {
		t.Fatalf("auth with a renewed token: %q", l)
	}
	// Used every 300 ms for 3 s, the 2 s renewed token stays valid.
	for i := range 10 {
		time.Sleep(300 * time.Millisecond)
		renewSess.send(fmt.Sprintf(`{"id":%d,"cmd":"clients"}`, i+2))
		if l, _ := renewSess.readLine(5 * time.Second); !strings.Contains(l, `"result":[`) {
			t.Fatalf("renewed token, use %d: %q", i, l)
		}
	}
	// The fixed token stops at its expiry, mid-session: poll until refused.
	pollUntil(t, 3*time.Second, "ttl token expired mid-session", func() (bool, string) {
		sess.send(`{"id":9,"cmd":"clients"}`)
		l, _ := sess.readLine(5 * time.Second)
		return strings.Contains(l, `"code":"unauthenticated"`) && strings.Contains(l, "expired"), l
	})
	if time.Since(created) < 2*time.Second {
		t.Fatal("refused before its expiry")
	}
	if got := ncText(t, s, "auth "+short+"\nping\n"); got != "error: unauthenticated: token expired\n" {
		t.Fatalf("expired token: %q", got)
	}
	// Idle for longer than its TTL, the renewed token expires too.
	time.Sleep(2300 * time.Millisecond)
	renewSess.send(`{"id":99,"cmd":"clients"}`)
	if l, _ := renewSess.readLine(5 * time.Second); !strings.Contains(l, "expired") {
		t.Fatalf("idle renewed token: %q", l)
	}
}

// TestTokensFleet: two sensors share one redis-server; a token created
// with the CLI works on both, and once revoked with the CLI the second
// sensor refuses it within a second.
func TestTokensFleet(t *testing.T) {
	requireTools(t)
	r := redistest.Start(t)
	dir := t.TempDir()
	conf := writeConfig(t, dir, "fleet.conf", "redis = "+r.URL(), "manager_plain_level = limited_read")
	a := startTestServer(t, serverConfig{flags: []string{"-c", conf}})
	b := startTestServer(t, serverConfig{flags: []string{"-c", conf}})
	id, tok := createToken(t, conf, "--level", "full_read", "--name", "fleet")
	for _, s := range []*server{a, b} {
		pollUntil(t, time.Second, "token on "+s.addr, func() (bool, string) {
			got := ncText(t, s, "auth "+tok+"\nclients\n")
			return strings.HasPrefix(got, "["), got
		})
	}
	revokeToken(t, conf, id)
	took := pollUntil(t, time.Second, "second sensor refuses the revoked token", func() (bool, string) {
		got := ncText(t, b, "auth "+tok+"\nclients\n")
		return strings.HasPrefix(got, "error: unauthenticated: token revoked"), got
	})
	t.Logf("second sensor refused the revoked token %v after the CLI returned", took)
	out, _, _ := runCLI(t, "tokens", "list", "-c", conf)
	if !strings.Contains(out, id) || !strings.Contains(out, "revoked") {
		t.Fatalf("list:\n%s", out)
	}
}

// TestTokensPlaintextRemote: a token in plaintext from a non-loopback
// address is refused (it could be sniffed) unless manager_plain_tokens.
func TestTokensPlaintextRemote(t *testing.T) {
	requireTools(t)
	ip := localNonLoopback(t)
	for _, plain := range []bool{false, true} {
		extra := []string{}
		if plain {
			extra = append(extra, "manager_plain_tokens = yes")
		}
		dir := t.TempDir()
		lines := append([]string{"manager_tokens_file = " + filepath.Join(dir, "tokens.json"), "manager_plain_level = limited_read"}, extra...)
		conf := writeConfig(t, dir, "tokens.conf", lines...)
		_, tok := createToken(t, conf, "--level", "full_read")
		s := startTestServer(t, serverConfig{flags: []string{"-c", conf, "--managerip", "0.0.0.0", "--manager-protected-mode", "no"}})
		addr := net.JoinHostPort(ip, fmt.Sprint(s.port))
		got, err := oneShot("tcp", addr, "auth "+tok+"\nclients\n", true, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		refused := strings.HasPrefix(string(got), "error: unauthenticated: a token in plaintext from a non-loopback address")
		if refused == plain {
			t.Fatalf("manager_plain_tokens=%v from %s: %q", plain, ip, got)
		}
	}
}

// localNonLoopback is an address of this host that is not loopback.
func localNonLoopback(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
				return n.IP.String()
			}
		}
	}
	t.Skip("this host has no non-loopback IPv4 address to connect from")
	return ""
}

// sealedDo sends one hardened frame holding msg and opens the reply.
func sealedDo(t *testing.T, s *server, k tkey, msg string) string {
	t.Helper()
	line := sealLine(k, time.Now(), msg)
	raw, err := oneShot("tcp", s.addr, string(line), true, 10*time.Second)
	if err != nil {
		t.Fatalf("hardened %q: %v", msg, err)
	}
	plain, _, err := specReply(k, refOf(line), raw)
	if err != nil {
		t.Fatalf("hardened reply %q: %v", clip(raw, 100), err)
	}
	return string(plain)
}

// TestTokensInsideFrames: the token travels sealed, as "auth T\n<cmd>" in
// a text frame or the auth command in a JSON frame, and its level replaces
// the key's (manager_key_level = limited_read here).
func TestTokensInsideFrames(t *testing.T) {
	requireTools(t)
	k := newKey(t)
	s, conf := tokensServer(t, "manager_key_level = limited_read", "manager_aes_key = "+k.b64, "manager_aes_iv = "+k.ivB64)
	id, tok := createToken(t, conf, "--level", "full_read")
	pollUntil(t, 2*time.Second, "key level applies", func() (bool, string) {
		got := sealedDo(t, s, k, "clients")
		return strings.Contains(got, "needs full_read"), got
	})
	var got string
	pollUntil(t, 2*time.Second, "token loaded", func() (bool, string) {
		got = sealedDo(t, s, k, "auth "+tok+"\nclients")
		return strings.HasPrefix(got, "["), got
	})
	if row := identityIn(t, got); row["identity"] != "token:"+id || row["mode"] != "hardened" {
		t.Fatalf("text frame with auth: %v", row)
	}
	got = sealedDo(t, s, k, `{"id":1,"cmd":"auth","args":{"token":"`+tok+`"}}`+"\n"+`{"id":2,"cmd":"clients"}`)
	if !strings.Contains(got, `"token":"`+id+`"`) || !strings.Contains(got, `"via":"token"`) {
		t.Fatalf("JSON frame with auth: %q", got)
	}
	if got := sealedDo(t, s, k, "auth tlk_x\nclients"); got != "error: unauthenticated: unknown token\n" {
		t.Fatalf("bad token in a frame: %q", got)
	}
}

// TestKeysStoreLevel: a key stored with --level gives hardened frames that
// level; keys show prints it.
func TestKeysStoreLevel(t *testing.T) {
	requireTools(t)
	r := redistest.Start(t)
	conf := writeConfig(t, t.TempDir(), "redis.conf", "redis = "+r.URL())
	out, errOut, code := runCLI(t, "keys", "-c", conf, "store", "--level", "limited_read")
	if code != 0 {
		t.Fatalf("keys store --level: %d %q", code, errOut)
	}
	kb, ivb := keysLines(t, out)
	k := keyFromB64(t, kb, ivb)
	if out, _, _ := runCLI(t, "keys", "-c", conf, "show"); !strings.Contains(out, "level: limited_read\n") {
		t.Fatalf("keys show:\n%s", out)
	}
	s := startTestServer(t, serverConfig{flags: []string{"-c", conf}})
	pollUntil(t, 5*time.Second, "stored key level", func() (bool, string) {
		line := sealLine(k, time.Now(), "clients")
		raw, _ := oneShot("tcp", s.addr, string(line), true, 10*time.Second)
		plain, _, err := specReply(k, refOf(line), raw)
		return err == nil && strings.Contains(string(plain), "needs full_read; this connection has limited_read (hardened_key)"), string(plain)
	})
	if got := sealedDo(t, s, k, "ping"); got != "pong\n" {
		t.Fatalf("ping at limited_read: %q", got)
	}
	// The same key in VoIPmonitor's framing is held to the key's level too
	// (attack finding F7: it got manager_legacy_level, read_write).
	for cmd, want := range map[string]string{
		"reload":  "error: reload needs read_write; this connection has limited_read (legacy_key)\n",
		"clients": "error: clients needs full_read; this connection has limited_read (legacy_key)\n",
		"ping":    "pong\n",
	} {
		raw, err := legacyCall("tcp", s.addr, k, cmd)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := openLegacyReply(k, raw)
		if err != nil || string(plain) != want {
			t.Errorf("legacy %s with a limited_read key: %q %v, want %q", cmd, plain, err, want)
		}
	}
}

// TestTokensFileReload: a reload that names another manager_tokens_file
// swaps the token store: the old file's tokens stop (also in a session
// authenticated before), the new file's work; a reload that drops the key
// leaves no tokens at all.
func TestTokensFileReload(t *testing.T) {
	requireTools(t)
	dir := t.TempDir()
	fileA, fileB := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	confA := writeConfig(t, dir, "a.conf", "manager_tokens_file = "+fileA, "manager_plain_level = limited_read")
	confB := writeConfig(t, dir, "b.conf", "manager_tokens_file = "+fileB, "manager_plain_level = limited_read")
	_, tokA := createToken(t, confA, "--level", "full_read")
	_, tokB := createToken(t, confB, "--level", "full_read")
	s := startTestServer(t, serverConfig{flags: []string{"-c", confA, "--managerip", "127.0.0.1"}})
	pollUntil(t, 2*time.Second, "token A accepted", func() (bool, string) {
		got := ncText(t, s, "auth "+tokA+"\nclients\n")
		return strings.HasPrefix(got, "["), got
	})
	sess := dialSession(t, "tcp", s.addr)
	sess.send(`{"id":1,"cmd":"auth","args":{"token":"` + tokA + `"}}`)
	if l, err := sess.readLine(5 * time.Second); err != nil || !strings.Contains(l, `"level":"full_read"`) {
		t.Fatalf("session auth: %q %v", l, err)
	}

	writeConfig(t, dir, "a.conf", "manager_tokens_file = "+fileB, "manager_plain_level = limited_read")
	s.signal(syscallHUP)
	pollUntil(t, 3*time.Second, "token B accepted after the reload", func() (bool, string) {
		got := ncText(t, s, "auth "+tokB+"\nclients\n")
		return strings.HasPrefix(got, "["), got
	})
	if got := ncText(t, s, "auth "+tokA+"\nclients\n"); !strings.HasPrefix(got, "error: unauthenticated: ") {
		t.Fatalf("token of the old file after the reload: %q", got)
	}
	sess.send(`{"id":2,"cmd":"clients"}`)
	if l, _ := sess.readLine(5 * time.Second); !strings.Contains(l, `"code":"unauthenticated"`) {
		t.Fatalf("session of the old file's token after the reload: %q", l)
	}

	writeConfig(t, dir, "a.conf", "manager_plain_level = limited_read")
	s.signal(syscallHUP)
	pollUntil(t, 3*time.Second, "no token store after the reload", func() (bool, string) {
		got := ncText(t, s, "auth "+tokB+"\nclients\n")
		return strings.HasPrefix(got, "error: unauthenticated: this sensor has no token store"), got
	})
}

// TestTokensSend: `tapline send --token` (or $TAPLINE_TOKEN) authenticates
// first in text and JSON mode, and a refused token is an error exit.
func TestTokensSend(t *testing.T) {
	requireTools(t)
	s, conf := tokensServer(t)
	_, tok := createToken(t, conf, "--level", "full_read")
	port := fmt.Sprint(s.port)
	pollUntil(t, 2*time.Second, "token loaded", func() (bool, string) {
		got := ncText(t, s, "auth "+tok+"\nclients\n")
		return strings.HasPrefix(got, "["), got
	})
	if out, errOut, code := runCLI(t, "send", "-p", port, "clients"); code != 0 || !strings.Contains(out, "needs full_read") {
		t.Fatalf("send without a token: exit %d, %q %q", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "send", "-p", port, "--token", tok, "clients"); code != 0 || !strings.HasPrefix(out, "[") {
		t.Fatalf("send --token: exit %d, %q %q", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "send", "-p", port, "--json", "--token", tok, "clients"); code != 0 || !strings.HasPrefix(out, "[") {
		t.Fatalf("send --json --token: exit %d, %q %q", code, out, errOut)
	}
	if out := shellOutput(t, "TAPLINE_TOKEN="+shellQuote(tok)+" "+shellQuote(taplineBin)+" send -p "+port+" clients"); !strings.HasPrefix(out, "[") {
		t.Fatalf("send with $TAPLINE_TOKEN: %q", out)
	}
	out, _, code := runCLI(t, "send", "-p", port, "--json", "--token", "tlk_bad", "clients")
	if code != 1 || strings.Contains(out, "[") {
		t.Fatalf("send --json with a bad token: exit %d, %q", code, out)
	}
}
