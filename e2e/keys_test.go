package e2e

import (
	"context"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"time"

	"tapline/internal/redistest"
)

const redisKeyName = "tapline:manager_key"

// TestKeysCLI: tapline keys generate | store | delete | show [--reveal]
// against a real redis-server, configured by `redis = <url>` in a file.
func TestKeysCLI(t *testing.T) {
	r := redistest.Start(t)
	rc := r.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := shortTempDir(t)
	conf := writeConfig(t, dir, "keys.conf", "redis = "+r.URL())
	fpRE := regexp.MustCompile(`^[0-9a-f]{16}$`)

	checkKeyLines := func(what, out string) tkey {
		t.Helper()
		kb, ivb := keysLines(t, out)
		k := keyFromB64(t, kb, ivb)
		if len(k.aesKey) != 16 || len(k.ivRaw) != 16 {
			t.Errorf("%s: key %d bytes, iv %d bytes; want 16 and 16", what, len(k.aesKey), len(k.ivRaw))
		}
		if _, err := base64.StdEncoding.Strict().DecodeString(kb); err != nil {
			t.Errorf("%s: key %q is not padded standard base64", what, kb)
		}
		comment := false
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			switch {
			case strings.HasPrefix(line, "manager_aes_key = "), strings.HasPrefix(line, "manager_aes_iv = "):
			case strings.HasPrefix(line, "#"):
				comment = true
			default:
				t.Errorf("%s: unexpected output line %q", what, line)
			}
		}
		if !comment {
			t.Errorf("%s: no comment line in %q", what, out)
		}
		return k
	}
	stored := func() (string, bool) {
		v, err := rc.Get(ctx, redisKeyName).Result()
		if err != nil {
			return err.Error(), false
		}
		return v, true
	}

	// generate: prints a key, stores nothing; two runs differ.
	out1, errOut, code := runCLI(t, "keys", "-c", conf, "generate")
	if code != 0 {
		t.Fatalf("keys generate: exit %d, stderr %q", code, errOut)
	}
	g1 := checkKeyLines("generate", out1)
	out2, _, _ := runCLI(t, "keys", "generate")
	if g2 := checkKeyLines("generate without config", out2); g2.b64 == g1.b64 || g2.ivB64 == g1.ivB64 {
		t.Errorf("two generate runs gave the same key or IV")
	}
	if v, ok := stored(); ok {
		t.Errorf("generate stored something in Redis: %q", v)
	}

	// show with nothing stored: an error, exit 1, one line.
	out, errOut, code := runCLI(t, "keys", "-c", conf, "show")
	if code != 1 || out != "" || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || errOut == "" {
		t.Errorf("show with no key: exit %d, stdout %q, stderr %q; want exit 1 and one stderr line", code, out, errOut)
	}

	// store: writes Redis, publishes, prints the same key.
	ps := rc.Subscribe(ctx, "tapline:events")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatalf("subscribe: %v", err)
	}
	events := ps.Channel()
	out, errOut, code = runCLI(t, "keys", "-c", conf, "store")
	if code != 0 {
		t.Fatalf("keys store: exit %d, stderr %q", code, errOut)
	}
	sk := checkKeyLines("store", out)
	v, ok := stored()
	if !ok {
		t.Fatalf("store: nothing in Redis at %s: %s", redisKeyName, v)
	}
	if rk, err := parseStored(v); err != nil || rk.b64 != sk.b64 || rk.ivB64 != sk.ivB64 {
		t.Errorf("Redis holds %q (%v), store printed key %s iv %s", v, err, sk.b64, sk.ivB64)
	}
	if v != sk.storedJSON() {
		t.Logf("note: Redis value %q differs in form from %q", v, sk.storedJSON())
	}
	if ttl, err := rc.TTL(ctx, redisKeyName).Result(); err != nil || ttl >= 0 {
		t.Errorf("the key has a TTL (%v, %v); want none", ttl, err)
	}
	select {
	case m := <-events:
		if m.Payload != "manager_key" {
			t.Errorf("event on tapline:events: %q, want manager_key", m.Payload)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("no manager_key event on tapline:events after store")
	}

	// show: source, cipher, fingerprint, level; --reveal adds the key lines.
	out, errOut, code = runCLI(t, "keys", "-c", conf, "show")
	want := "source: redis\ncipher: aes-128-cbc\nfingerprint: " + sk.key.Fingerprint() + "\nlevel: read_write\n"
	if code != 0 || out != want {
		t.Errorf("show: exit %d stdout %q stderr %q; want %q", code, out, errOut, want)
	}
	if !fpRE.MatchString(sk.key.Fingerprint()) {
		t.Errorf("fingerprint %q is not 16 hex digits", sk.key.Fingerprint())
	}
	if strings.Contains(out, sk.b64) || strings.Contains(out, sk.ivB64) {
		t.Errorf("show without --reveal printed the secret: %q", out)
	}
	out, errOut, code = runCLI(t, "keys", "-c", conf, "show", "--reveal")
	want += "manager_aes_key = " + sk.b64 + "\nmanager_aes_iv = " + sk.ivB64 + "\n"
	if code != 0 || out != want {
		t.Errorf("show --reveal: exit %d stdout %q stderr %q; want %q", code, out, errOut, want)
	}

	// A second store replaces the key.
	out, _, code = runCLI(t, "keys", "-c", conf, "store")
	sk2 := checkKeyLines("second store", out)
	if v, _ := stored(); code != 0 || sk2.b64 == sk.b64 || !strings.Contains(v, sk2.b64) {
		t.Errorf("second store: exit %d, Redis %q, old %s new %s", code, v, sk.b64, sk2.b64)
	}
	select {
	case <-events:
	case <-time.After(2 * time.Second):
		t.Errorf("no event after the second store")
	}

	// The config file's key wins over Redis for show.
	fk := newKey(t)
	both := writeConfig(t, dir, "both.conf", "redis = "+r.URL(), "manager_aes_key = "+fk.b64, "manager_aes_iv = "+fk.ivB64)
	out, errOut, code = runCLI(t, "keys", "-c", both, "show")
	if want := "source: config\ncipher: aes-128-cbc\nfingerprint: " + fk.key.Fingerprint() + "\nlevel: read_write\n"; code != 0 || out != want {
		t.Errorf("show with a config key: exit %d stdout %q stderr %q; want %q", code, out, errOut, want)
	}

	// delete: deleted, then no key stored.
	out, errOut, code = runCLI(t, "keys", "-c", conf, "delete")
	if code != 0 || out != "deleted\n" {
		t.Errorf("delete: exit %d stdout %q stderr %q", code, out, errOut)
	}
	if v, ok := stored(); ok {
		t.Errorf("after delete Redis still holds %q", v)
	}
	select {
	case m := <-events:
		if m.Payload != "manager_key" {
			t.Errorf("event after delete: %q", m.Payload)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("no manager_key event after delete")
	}
	out, errOut, code = runCLI(t, "keys", "-c", conf, "delete")
	if code != 0 || out != "no key stored\n" {
		t.Errorf("second delete: exit %d stdout %q stderr %q", code, out, errOut)
	}

	// store/delete without redis in the config: usage error, exit 2.
	noRedis := writeConfig(t, dir, "noredis.conf", "managerport = 5029")
	for _, sub := range []string{"store", "delete"} {
		out, errOut, code = runCLI(t, "keys", "-c", noRedis, sub)
		if code != 2 || out != "" || !strings.Contains(errOut, "redis") {
			t.Errorf("%s without redis: exit %d stdout %q stderr %q; want exit 2 naming redis", sub, code, out, errOut)
		}
	}
	// Redis down: store fails with exit 1 and one line, promptly.
	r.Stop()
	start := time.Now()
	out, errOut, code = runCLI(t, "keys", "-c", conf, "store")
	if code != 1 || out != "" || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("store with Redis down: exit %d stdout %q stderr %q; want exit 1, one line", code, out, errOut)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("store with Redis down took %v", d)
	}
}
