package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runCLI runs the tapline binary with args and returns stdout, stderr and
// the exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, taplineBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func TestCLISend(t *testing.T) {
	s := startServer(t, serverConfig{})
	port := strconv.Itoa(s.port)
	tests := []struct {
		name string
		args []string
		out  string
		code int
	}{
		{"tcp -c", []string{"send", "-h", "127.0.0.1", "-p", port, "-c", "ping"}, "pong\n", 0},
		{"tcp words", []string{"send", "-p", port, "getversion"}, "2026.11.0", 0},
		{"unix", []string{"send", "-U", s.sock, "ping"}, "pong\n", 0},
		{"unknown is a reply", []string{"send", "-p", port, "nosuch"}, "command not found\n", 0},
		{"json", []string{"send", "--json", "-p", port, "ping"}, "\"pong\"\n", 0},
		{"json error", []string{"send", "--json", "-p", port, "nosuch"}, "", 1},
		{"no command", []string{"send", "-p", port}, "", 2},
	}
	for _, tt := range tests {
		out, errOut, code := runCLI(t, tt.args...)
		if out != tt.out || code != tt.code {
			t.Errorf("%s: out %q code %d (stderr %q); want %q code %d", tt.name, out, code, errOut, tt.out, tt.code)
		}
	}
	// A transport failure: exit 1, one line on stderr naming the address.
	_, errOut, code := runCLI(t, "send", "-U", filepath.Join(s.dir, "nope.sock"), "ping")
	if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "nope.sock") {
		t.Errorf("send to a missing socket: code %d stderr %q", code, errOut)
	}
	// A 1 MiB reply through the CLI arrives whole.
	out, _, code := runCLI(t, "send", "-p", port, "test_blob 1048576")
	if code != 0 || !bytes.Equal([]byte(out), blobExpect(1<<20)) {
		t.Errorf("send test_blob: code %d, %d bytes", code, len(out))
	}
}

func TestCLIServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("[general]\nmanagerport = 5029\nmanager_read_timeout = soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "serve", "-c", bad)
	if code != 2 || !strings.Contains(errOut, bad+":3") || !strings.Contains(errOut, "manager_read_timeout") {
		t.Errorf("invalid value: code %d stderr %q; want exit 2 naming %s:3 and the key", code, errOut, bad)
	}
	_, errOut, code = runCLI(t, "serve", "--managerport", "99999")
	if code != 2 || !strings.Contains(errOut, "managerport") {
		t.Errorf("invalid flag: code %d stderr %q", code, errOut)
	}
	// A port already in use: exit 1 with the reason.
	s := startServer(t, serverConfig{noSocket: true})
	_, errOut, code = runCLI(t, "serve", "--managerport", strconv.Itoa(s.port))
	if code != 1 || !strings.Contains(errOut, "address already in use") {
		t.Errorf("port in use: code %d stderr %q", code, errOut)
	}
}

// TestCLIServeConfigFile: a voipmonitor.conf-style file configures the
// server, unknown keys are warnings with their line, and flags win.
func TestCLIServeConfigFile(t *testing.T) {
	dir := shortTempDir(t)
	conf := filepath.Join(dir, "tapline.conf")
	text := "# sensor\n[general]\nmanagerport = 1\nspooldir = /var/spool/voipmonitor\n; comment\nmanagersocket = " +
		filepath.Join(dir, "c.sock") + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// startServer passes --managerport itself: it must beat the file's port 1.
	s := startServer(t, serverConfig{noSocket: true, flags: []string{"-c", conf}})
	if got := s.request(t, "tcp", "ping\n"); got != "pong\n" {
		t.Fatalf("flag did not override the file's port: %q", got)
	}
	out, err := oneShot("unix", filepath.Join(dir, "c.sock"), "ping\n", true, 5*time.Second)
	if err != nil || string(out) != "pong\n" {
		t.Fatalf("socket from the file: %q %v", out, err)
	}
	if log := s.logTail(50); !strings.Contains(log, `"keys":"spooldir:4"`) {
		t.Errorf("no warning for the unknown key with its line:\n%s", log)
	}
}

// TestCLIServeConfigUnknownKeys: the unknown keys of a config file are
// listed once on one line, a near miss of a key gets "did you mean", and
// every JSON log line has each key once (the unknown key warning used to
// carry "msg" twice). A near miss of a security key stops the start (attack
// round 2, R2-2: a sensor started with manager_alow ran without its
// allowlist, while a reload of the same file was refused).
func TestCLIServeConfigUnknownKeys(t *testing.T) {
	dir := shortTempDir(t)
	conf := filepath.Join(dir, "tapline.conf")
	for _, typo := range []string{"reids = redis://127.0.0.1:1/0", "manager_alow = 10.0.0.0/8", "manager_plain_levle = limited_read"} {
		bad := filepath.Join(dir, "typo.conf")
		if err := os.WriteFile(bad, []byte("[general]\n"+typo+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := runCLI(t, "serve", "-c", bad, "--managerport", "0", "--managersocket", filepath.Join(dir, "typo.sock"))
		if code != 2 || !strings.Contains(errOut, "typo.conf:2: unknown key "+strings.Fields(typo)[0]+", did you mean") {
			t.Errorf("serve with %q: exit %d, stderr %q", typo, code, clip([]byte(errOut), 300))
		}
	}
	text := "[general]\nspooldir = /var/spool/voipmonitor\nmysqlhost = db\n" +
		"managerprot = 5029\nsqldriver = mysql\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverConfig{flags: []string{"-c", conf}})
	if got := s.request(t, "tcp", "ping\n"); got != "pong\n" {
		t.Fatalf("ping: %q", got)
	}
	type line struct {
		Level, Msg, Key, DidYouMean, Keys string
	}
	var lines []line
	for _, raw := range strings.Split(strings.TrimSpace(s.logTail(200)), "\n") {
		keys, err := jsonKeys([]byte(raw))
		if err != nil {
			t.Fatalf("log line is not a JSON object: %v: %q", err, raw)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Errorf("log line has %q twice: %s", k, raw)
			}
			seen[k] = true
		}
		var l struct {
			Level      string `json:"level"`
			Msg        string `json:"msg"`
			Key        string `json:"key"`
			DidYouMean string `json:"did_you_mean"`
			Keys       string `json:"keys"`
		}
		_ = json.Unmarshal([]byte(raw), &l)
		if strings.HasPrefix(l.Msg, "config:") {
			lines = append(lines, line{l.Level, l.Msg, l.Key, l.DidYouMean, l.Keys})
		}
	}
	want := []line{
		{"WARN", "config: unknown key, did you mean managerport?", "managerprot", "managerport", ""},
		{"WARN", "config: unknown keys ignored", "", "", "spooldir:2 mysqlhost:3 managerprot:4 sqldriver:5"},
	}
	if !slices.Equal(lines, want) {
		t.Errorf("config log lines:\n got %+v\nwant %+v", lines, want)
	}
}

// jsonKeys lists the top-level member names of a JSON object in order,
// duplicates included (encoding/json would keep only the last).
func jsonKeys(b []byte) ([]string, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object: %v", err)
	}
	var keys []string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func TestCLIVersion(t *testing.T) {
	out, _, code := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "tapline 2026.11.0 (") {
		t.Errorf("version: %q code %d", out, code)
	}
}
