package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tapline/internal/redistest"
)

// logLines returns the server's JSON log lines at level whose msg contains
// substr.
func (s *server) logLines(t testing.TB, level, substr string) []string {
	t.Helper()
	f, err := os.Open(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Level == level && strings.Contains(l.Msg, substr) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// refusedPlaintext checks that plaintext listcalls over TCP, text and JSON,
// gets the "need aes!" refusal.
func refusedPlaintext(t *testing.T, s *server, when string) {
	t.Helper()
	if got := s.request(t, "tcp", "listcalls\n"); got != "need aes!\n" {
		t.Errorf("%s: plaintext TCP listcalls answered %q, want the refusal", when, clip([]byte(got), 100))
	}
	js := dialSession(t, "tcp", s.addr)
	js.send(`{"id":1,"cmd":"listcalls"}`)
	js.expectLine(`{"id":1,"error":"need aes!","code":"forbidden","status":403}`, 5*time.Second)
}

// servesPlaintext checks that plaintext listcalls over TCP is not refused.
func servesPlaintext(t *testing.T, s *server, when string) {
	t.Helper()
	if got := s.request(t, "tcp", "listcalls\n"); got == "need aes!\n" || got == "" {
		t.Errorf("%s: plaintext TCP listcalls answered %q; want it served", when, got)
	}
}

// TestRedisKeyLoss is issue 9's item 5: a sensor that enforced a key from
// Redis must not fall back to plaintext when Redis loses the key (restart
// without persistence, FLUSHALL, failover to an empty replica), neither
// live nor after its own restart; only `keys delete --allow-plaintext`
// reopens it, and a sensor that never had a key serves plaintext.
func TestRedisKeyLoss(t *testing.T) {
	t.Run("enforced key lost", func(t *testing.T) {
		r := redistest.Start(t)
		rc := r.Client()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		conf := writeConfig(t, shortTempDir(t), "redis.conf", "redis = "+r.URL())
		statedir := filepath.Join(t.TempDir(), "state") // created by the server
		flags := []string{"--redis", r.URL(), "--statedir", statedir}

		// (1) A stored key is enforced and remembered.
		k, _ := storeKeyCLI(t, conf)
		s := startTestServer(t, serverConfig{flags: flags})
		s.waitKeyState(t, 5*time.Second, "the key from Redis is loaded", "ok")
		refusedPlaintext(t, s, "with the key")
		checkStateFile(t, statedir, k)

		// FLUSHALL: the key is gone, but no operator said so.
		if err := rc.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		s.waitKeyState(t, 10*time.Second, "sniffer_stat shows the missing key", "missing")
		st := s.keyState(t)
		if !st.FailClosed || st.Reason == "" || st.Fingerprint != k.key.Fingerprint() {
			t.Errorf("keys status after FLUSHALL: %+v; want fail_closed, a reason and the last key", st)
		}
		stat := s.request(t, "tcp", "sniffer_stat\n")
		if strings.Contains(stat, k.b64) || strings.Contains(stat, k.ivB64) {
			t.Errorf("sniffer_stat shows the secret")
		}
		refusedPlaintext(t, s, "after FLUSHALL")
		if got, err := hardenedDo("tcp", s.addr, k, "ping"); err != nil || string(got) != "pong\n" {
			t.Errorf("hardened ping with the last key after FLUSHALL: %q %v; want it kept in force", got, err)
		}
		if got, _ := pingWith(s.addr, false, k); got != "ok" {
			t.Errorf("legacy ping with the last key after FLUSHALL: %s", got)
		}
		if l := s.logLines(t, "ERROR", "manager key missing"); len(l) == 0 {
			t.Errorf("no ERROR log line for the missing key:\n%s", s.logTail(20))
		}
		s.shutdown()

		// (2) A restart against the empty Redis with the same statedir.
		s2 := startTestServer(t, serverConfig{flags: flags})
		refusedPlaintext(t, s2, "right after the restart")
		s2.waitKeyState(t, 10*time.Second, "restarted: state missing", "missing")
		if st := s2.keyState(t); !st.FailClosed || st.Reason == "" {
			t.Errorf("restarted sensor: %+v; want fail_closed with a reason", st)
		}
		refusedPlaintext(t, s2, "restarted against an empty Redis")
		if got, err := hardenedDo("tcp", s2.addr, k, "ping"); err == nil && string(got) == "pong\n" {
			t.Errorf("hardened frame answered without a key")
		}
		if got, _ := pingWith(s2.addr, false, k); got == "ok" {
			t.Errorf("legacy frame answered without a key")
		}
		if l := s2.logLines(t, "ERROR", "manager key missing"); len(l) == 0 {
			t.Errorf("restarted sensor: no ERROR log line for the missing key:\n%s", s2.logTail(20))
		}

		// (4) A plain delete is no permission. It publishes, so the sensor
		// re-reads at once; give it a few polls as well.
		if out, errOut, code := runCLI(t, "keys", "-c", conf, "delete"); code != 0 || out != "no key stored\n" {
			t.Fatalf("keys delete: exit %d stdout %q stderr %q", code, out, errOut)
		}
		time.Sleep(2500 * time.Millisecond)
		refusedPlaintext(t, s2, "after a plain keys delete")

		// (3) delete --allow-plaintext reopens, logged at WARN, and the
		// state file goes.
		out, errOut, code := runCLI(t, "keys", "-c", conf, "delete", "--allow-plaintext")
		if code != 0 || !strings.HasPrefix(out, "no key stored\n") || !strings.Contains(out, "plaintext allowed") {
			t.Fatalf("keys delete --allow-plaintext: exit %d stdout %q stderr %q", code, out, errOut)
		}
		waitUntil(t, 10*time.Second, "plaintext served after delete --allow-plaintext", func() (bool, string) {
			got := s2.tryRequest("tcp", "listcalls\n")
			return got != "need aes!\n", got
		})
		if st := s2.keyState(t); st.State != "no_key" || st.FailClosed {
			t.Errorf("keys status after --allow-plaintext: %+v", st)
		}
		if l := s2.logLines(t, "WARN", "plaintext TCP requests allowed again"); len(l) != 1 {
			t.Errorf("%d WARN lines for plaintext allowed, want 1:\n%s", len(l), s2.logTail(20))
		}
		if _, err := os.Stat(filepath.Join(statedir, "keys.state")); !os.IsNotExist(err) {
			t.Errorf("state file after --allow-plaintext: %v; want it removed", err)
		}

		// A new key closes again; a plain delete of it leaves it closed,
		// with the last key in force.
		k2, _ := storeKeyCLI(t, conf)
		waitUntil(t, 5*time.Second, "the new key is loaded", func() (bool, string) {
			st := s2.keyState(t)
			return st.State == "ok" && st.Fingerprint == k2.key.Fingerprint(), fmt.Sprintf("%+v", st)
		})
		checkStateFile(t, statedir, k2)
		if out, errOut, code := runCLI(t, "keys", "-c", conf, "delete"); code != 0 || out != "deleted\n" {
			t.Fatalf("keys delete: exit %d stdout %q stderr %q", code, out, errOut)
		}
		s2.waitKeyState(t, 5*time.Second, "missing after a plain delete", "missing")
		refusedPlaintext(t, s2, "after a plain delete of the new key")
		if got, err := hardenedDo("tcp", s2.addr, k2, "ping"); err != nil || string(got) != "pong\n" {
			t.Errorf("hardened ping with the deleted key: %q %v; want it kept in force", got, err)
		}
	})

	t.Run("never keyed", func(t *testing.T) {
		// (5) No key ever: plaintext as VoIPmonitor, also when Redis is
		// flushed, and a stale marker changes nothing.
		r := redistest.Start(t)
		s := startTestServer(t, serverConfig{flags: []string{"--redis", r.URL()}})
		s.waitKeyState(t, 5*time.Second, "the server reads Redis (state no_key)", "no_key")
		servesPlaintext(t, s, "never keyed")
		if err := r.Client().FlushAll(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		servesPlaintext(t, s, "never keyed, after FLUSHALL")
		if st := s.keyState(t); st.State != "no_key" || st.FailClosed {
			t.Errorf("never keyed: %+v", st)
		}
		if l := s.logLines(t, "ERROR", ""); len(l) != 0 {
			t.Errorf("ERROR lines on a sensor that never had a key: %q", l)
		}
	})
}

// checkStateFile: statedir holds the state file (0600, dir 0700) with the
// key's fingerprint and nothing secret.
func checkStateFile(t *testing.T, dir string, k tkey) {
	t.Helper()
	path := filepath.Join(dir, "keys.state")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("state file: %v", err)
	}
	if !bytes.Contains(raw, []byte(k.key.Fingerprint())) || !bytes.Contains(raw, []byte(`"enforced":true`)) {
		t.Errorf("state file %q lacks the enforced fingerprint %s", raw, k.key.Fingerprint())
	}
	if bytes.Contains(raw, []byte(k.b64)) || bytes.Contains(raw, []byte(k.ivB64)) {
		t.Errorf("state file holds the secret: %q", raw)
	}
	for p, want := range map[string]os.FileMode{dir: os.ModeDir | 0o700, path: 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v %v; want %v", p, fi.Mode(), err, want)
		}
	}
}
