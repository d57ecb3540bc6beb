package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"tapline/clients"
	"tapline/internal/redistest"
	"tapline/version"
)

// storeKeyCLI runs `tapline keys -c conf store` and returns the new key and
// the moment the command returned (the key is in Redis and announced).
func storeKeyCLI(t *testing.T, conf string) (tkey, time.Time) {
	t.Helper()
	out, errOut, code := runCLI(t, "keys", "-c", conf, "store")
	done := time.Now()
	if code != 0 {
		t.Fatalf("keys store: exit %d, stderr %q", code, errOut)
	}
	kb, ivb := keysLines(t, out)
	return keyFromB64(t, kb, ivb), done
}

// outcome of one request in the rotation loop.
type outcome struct {
	at     time.Duration // start of the request, since the loop started
	mode   string        // "hardened" or "legacy"
	result string        // "ok", "refused" (the expected failure) or a description
	raw    []byte        // a legacy reply that did not open with the request's key
}

// legacyUnopened marks a legacy reply that did not decrypt to the expected
// answer with the request's key; classify decides later, when every key the
// server may have used is known.
const legacyUnopened = "legacy reply not for the request key"

// pingWith sends ping encrypted with k and classifies the reply: "ok",
// "refused" (hardened: exactly "error: bad frame\n"), legacyUnopened (with
// the raw reply), or what went wrong.
func pingWith(addr string, hardened bool, k tkey) (string, []byte) {
	if hardened {
		line := sealLine(k, time.Now(), "ping")
		raw, err := oneShot("tcp", addr, string(line), true, 10*time.Second)
		if err != nil {
			return fmt.Sprintf("transport error %v after %q", err, clip(raw, 60)), nil
		}
		if string(raw) == "error: bad frame\n" {
			return "refused", nil
		}
		plain, _, err := specReply(k, refOf(line), raw)
		if err != nil || string(plain) != "pong\n" {
			return fmt.Sprintf("bad reply %q: %v, plain %q", clip(raw, 60), err, plain), nil
		}
		return "ok", nil
	}
	raw, err := legacyCall("tcp", addr, k, "ping")
	if err != nil {
		return fmt.Sprintf("transport error %v after %q", err, clip(raw, 60)), nil
	}
	if plain, err := openLegacyReply(k, raw); err == nil && string(plain) == "pong\n" {
		return "ok", nil
	}
	return legacyUnopened, raw
}

// classify resolves legacyUnopened outcomes: "refused" when the reply
// decrypts with one of keys to "command not found\n" (the server's answer
// to every legacy request that does not decrypt to a known command,
// encrypted with its current key).
func classify(o outcome, keys ...tkey) string {
	if o.result != legacyUnopened {
		return o.result
	}
	for _, k := range keys {
		if plain, err := openLegacyReply(k, o.raw); err == nil && string(plain) == "command not found\n" {
			return "refused"
		}
	}
	return fmt.Sprintf("legacy reply %q opens with no known key", clip(o.raw, 40))
}

// TestRedisRotation: the key comes from Redis only. `tapline keys store`
// takes effect within a second; GUIs that re-read the key before every
// request never fail across two rotations; a GUI that keeps the first key
// works during manager_key_grace and is refused after it; `keys delete
// --allow-plaintext` turns encryption off again.
func TestRedisRotation(t *testing.T) {
	r := redistest.Start(t)
	rc := r.Client()
	dir := shortTempDir(t)
	conf := writeConfig(t, dir, "redis.conf", "redis = "+r.URL())
	const grace = 2 * time.Second
	s := startTestServer(t, serverConfig{flags: []string{"--redis", r.URL(), "--manager-key-grace", grace.String()}})
	help := s.request(t, "unix", "help\n")
	s.waitKeyState(t, 3*time.Second, "the server reads Redis (state no_key)", "no_key")
	s.expectReply(t, "tcp", "exists_aes_key\n", "no")
	s.expectReply(t, "tcp", "help\n", help)

	k1, stored1 := storeKeyCLI(t, conf)
	took := waitUntil(t, time.Second, "exists_aes_key says yes after keys store", func() (bool, string) {
		got := s.tryRequest("tcp", "exists_aes_key\n")
		return got == "yes", got
	})
	t.Logf("key 1 (%s) active %v after keys store returned (%v since)", k1.key.Fingerprint(), took.Round(time.Millisecond), time.Since(stored1).Round(time.Millisecond))
	s.expectReply(t, "tcp", "help\n", "need aes!\n")

	// The loops.
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	var (
		mu    sync.Mutex
		fresh []outcome
		stale []outcome
		wg    sync.WaitGroup
	)
	defer func() { cancel(); wg.Wait() }() // also when a store fails the test
	wg.Add(2)
	go func() { // a GUI that re-reads the key from Redis before each request
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			at := time.Since(start)
			mode := []string{"hardened", "legacy"}[i%2]
			res, raw := "", []byte(nil)
			v, err := rc.Get(ctx, redisKeyName).Result()
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				res = "redis GET: " + err.Error()
			} else if k, err := parseStored(v); err != nil {
				res = err.Error()
			} else {
				res, raw = pingWith(s.addr, mode == "hardened", k)
			}
			mu.Lock()
			fresh = append(fresh, outcome{at, mode, res, raw})
			mu.Unlock()
		}
	}()
	go func() { // a stale GUI that keeps the first key
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			at := time.Since(start)
			mode := []string{"hardened", "legacy"}[i%2]
			res, raw := pingWith(s.addr, mode == "hardened", k1)
			mu.Lock()
			stale = append(stale, outcome{at, mode, res, raw})
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(700 * time.Millisecond)
	rot1Start := time.Since(start)
	k2, d := storeKeyCLI(t, conf)
	rot1 := d.Sub(start)
	time.Sleep(time.Second)
	rot2Start := time.Since(start)
	k3, d := storeKeyCLI(t, conf)
	rot2 := d.Sub(start)
	mustFailFrom := rot2 + grace + 300*time.Millisecond
	time.Sleep(time.Until(start.Add(mustFailFrom + 1200*time.Millisecond)))
	cancel()
	wg.Wait()
	t.Logf("rotations: key 2 stored at %v–%v, key 3 at %v–%v; loop ran %v; stale must fail from %v",
		rot1Start.Round(time.Millisecond), rot1.Round(time.Millisecond), rot2Start.Round(time.Millisecond),
		rot2.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), mustFailFrom.Round(time.Millisecond))

	// Fresh GUI: zero failures. A failure that starts while `keys store`
	// runs is a GUI that read the new key from Redis before the server
	// reloaded it; say so.
	nFail := 0
	perMode := map[string]int{}
	for i := range fresh {
		o := &fresh[i]
		o.result = classify(*o, k1, k2, k3)
		perMode[o.mode]++
		if o.result == "ok" {
			continue
		}
		nFail++
		where := "not during a store"
		for i, w := range [][2]time.Duration{{rot1Start, rot1}, {rot2Start, rot2}} {
			if o.at >= w[0] && o.at <= w[1]+50*time.Millisecond {
				where = fmt.Sprintf("during keys store #%d (%v–%v): the GUI had the new key before the server", i+2,
					w[0].Round(time.Millisecond), w[1].Round(time.Millisecond))
			}
		}
		if nFail <= 10 {
			t.Errorf("fresh GUI %s request at %v failed: %s; %s", o.mode, o.at.Round(time.Millisecond), o.result, where)
		}
	}
	t.Logf("fresh GUI: %d requests (%v), %d failures", len(fresh), perMode, nFail)
	if perMode["hardened"] < 20 || perMode["legacy"] < 20 {
		t.Errorf("too few fresh requests to mean anything: %v", perMode)
	}

	// Stale GUI: ok before the first rotation; after mustFailFrom refused
	// in the documented way; in between either.
	var lastOK time.Duration = -1
	counts := map[string]int{}
	for i := range stale {
		o := &stale[i]
		o.result = classify(*o, k1, k2, k3)
		counts[o.result]++
		switch {
		case o.result != "ok" && o.result != "refused":
			t.Errorf("stale GUI %s at %v: %s", o.mode, o.at.Round(time.Millisecond), o.result)
		case o.at < rot1Start && o.result != "ok":
			t.Errorf("stale GUI %s at %v, before any rotation: %s", o.mode, o.at.Round(time.Millisecond), o.result)
		case o.at >= mustFailFrom && o.result != "refused":
			t.Errorf("stale GUI %s at %v, %v after the second rotation (grace %v): %s, want refused",
				o.mode, o.at.Round(time.Millisecond), (o.at - rot2).Round(time.Millisecond), grace, o.result)
		}
		if o.result == "ok" {
			lastOK = max(lastOK, o.at)
		}
	}
	nAfter := 0
	for _, o := range stale {
		if o.at >= mustFailFrom {
			nAfter++
		}
	}
	t.Logf("stale GUI: %d requests %v; last success %v after keys store #2 began, %v after it returned (grace %v); %d requests in the must-fail window",
		len(stale), counts, (lastOK - rot1Start).Round(time.Millisecond), (lastOK - rot1).Round(time.Millisecond), grace, nAfter)
	if nAfter < 10 {
		t.Errorf("only %d stale requests after %v", nAfter, mustFailFrom)
	}
	if st := s.keyState(t); st.Fingerprint != k3.key.Fingerprint() || st.State != "ok" || st.Source != "redis" {
		t.Errorf("keys status %+v; want source redis, state ok, fingerprint %s (key 3)", st, k3.key.Fingerprint())
	}

	// Delete --allow-plaintext: encryption is off again within about a
	// second (a plain delete leaves it on: TestRedisKeyLoss).
	out, errOut, code := runCLI(t, "keys", "-c", conf, "delete", "--allow-plaintext")
	if code != 0 || !strings.HasPrefix(out, "deleted\n") {
		t.Fatalf("keys delete: exit %d stdout %q stderr %q", code, out, errOut)
	}
	took = waitUntil(t, 1500*time.Millisecond, "exists_aes_key says no after keys delete", func() (bool, string) {
		got := s.tryRequest("tcp", "exists_aes_key\n")
		return got == "no", got
	})
	t.Logf("key deleted: exists_aes_key no after %v", took.Round(time.Millisecond))
	s.expectReply(t, "tcp", "help\n", help)
	js := dialSession(t, "tcp", s.addr)
	js.send(`{"id":1,"cmd":"clients"}`)
	if line, err := js.readLine(5 * time.Second); err != nil || !strings.HasPrefix(line, `{"id":1,"error":"","result":[`) {
		t.Errorf("JSON clients after delete: %q %v", clip([]byte(line), 100), err)
	}
}

// TestRedisDown: Redis unavailable at start (fail closed), Redis dying under
// traffic (last key keeps serving), and the sensor registry.
func TestRedisDown(t *testing.T) {
	t.Run("down at start", func(t *testing.T) {
		r := redistest.Start(t)
		r.Stop()
		s := startTestServer(t, serverConfig{flags: []string{"--redis", r.URL()}}) // it answered ping
		help := s.request(t, "unix", "help\n")
		if !strings.HasPrefix(help, "List of commands:") {
			t.Fatalf("unix help with Redis down: %q", clip([]byte(help), 100))
		}
		s.expectReply(t, "tcp", "help\n", "need aes!\n")
		s.expectReply(t, "tcp", "ping\n", "pong\n")
		s.expectReply(t, "tcp", "exists_aes_key\n", "no")
		js := dialSession(t, "tcp", s.addr)
		js.send(`{"id":1,"cmd":"help"}`)
		js.expectLine(`{"id":1,"error":"need aes!","code":"forbidden","status":403}`, 5*time.Second)
		st := s.keyState(t)
		if !st.FailClosed || st.Source != "redis" || (st.State != "redis_down" && st.State != "loading") {
			t.Errorf("keys status with Redis down at start: %+v; want source redis, fail_closed, state redis_down (or loading)", st)
		}
		stat := s.request(t, "tcp", "sniffer_stat\n")
		if !strings.Contains(stat, `"fail_closed":true`) {
			t.Errorf("TCP sniffer_stat lacks \"fail_closed\":true: %q", clip([]byte(stat), 600))
		}
		t.Logf("keys status: %+v", st)

		k := newKey(t)
		restarted := time.Now()
		r.Restart()
		if err := r.Client().Set(context.Background(), redisKeyName, k.storedJSON(), 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		took := waitUntil(t, 4*time.Second, "encrypted requests work after Redis came back with a key", func() (bool, string) {
			got, err := hardenedDo("tcp", s.addr, k, "help")
			return err == nil && string(got) == help, fmt.Sprintf("%q %v", clip(got, 60), err)
		})
		t.Logf("Redis back with a key: hardened works %v after the restart began (%v after SET)",
			time.Since(restarted).Round(time.Millisecond), took.Round(time.Millisecond))
		if got, _ := pingWith(s.addr, false, k); got != "ok" {
			t.Errorf("legacy ping: %s", got)
		}
		s.expectReply(t, "tcp", "help\n", "need aes!\n")
		if st := s.keyState(t); st.State != "ok" || st.FailClosed || st.Fingerprint != k.key.Fingerprint() {
			t.Errorf("keys status after recovery: %+v", st)
		}
	})

	t.Run("dies under traffic", func(t *testing.T) {
		// Append-only file: a restarted Redis has its data back, as in
		// production (redistest starts without persistence by default).
		r := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
		k := newKey(t)
		if err := r.Client().Set(context.Background(), redisKeyName, k.storedJSON(), 0).Err(); err != nil {
			t.Fatal(err)
		}
		s := startTestServer(t, serverConfig{flags: []string{"--redis", r.URL()}})
		s.waitKeyState(t, 3*time.Second, "the key from Redis is loaded", "ok")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var (
			mu      sync.Mutex
			results []outcome
			wg      sync.WaitGroup
		)
		start := time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				at := time.Since(start)
				var res string
				if i%4 == 3 {
					res, _ = pingWith(s.addr, false, k)
				} else {
					got, err := hardenedDo("tcp", s.addr, k, "getversion")
					res = "ok"
					if err != nil || string(got) != version.Version {
						res = fmt.Sprintf("%q %v", clip(got, 60), err)
					}
				}
				mu.Lock()
				results = append(results, outcome{at: at, mode: map[bool]string{true: "legacy", false: "hardened"}[i%4 == 3], result: res})
				mu.Unlock()
			}
		}()
		time.Sleep(300 * time.Millisecond)
		r.Stop()
		stopped := time.Now()
		took := s.waitKeyState(t, 4*time.Second, "sniffer_stat shows redis_down", "redis_down")
		t.Logf("state redis_down %v after Redis was killed", took.Round(time.Millisecond))
		if st := s.keyState(t); st.FailClosed || st.Fingerprint != k.key.Fingerprint() {
			t.Errorf("keys status with Redis down after a key was loaded: %+v; want the last key, not fail_closed", st)
		}
		time.Sleep(time.Until(stopped.Add(2500 * time.Millisecond)))
		restarted := time.Now()
		r.Restart()
		if v, err := r.Client().Get(context.Background(), redisKeyName).Result(); err != nil || v != k.storedJSON() {
			t.Fatalf("restarted Redis did not keep the key (%q, %v)", v, err)
		}
		took = s.waitKeyState(t, 12*time.Second, "state back to ok after Redis restart", "ok")
		t.Logf("state ok %v after Redis restarted", took.Round(time.Millisecond))
		time.Sleep(200 * time.Millisecond)
		cancel()
		wg.Wait()
		nFail := 0
		for _, o := range results {
			if o.result != "ok" {
				nFail++
				if nFail <= 10 {
					t.Errorf("%s request at %v (Redis killed at %v, restarted at %v): %s", o.mode, o.at.Round(time.Millisecond),
						stopped.Sub(start).Round(time.Millisecond), restarted.Sub(start).Round(time.Millisecond), o.result)
				}
			}
		}
		t.Logf("%d requests over %v with Redis down for %v, %d failures", len(results),
			time.Since(start).Round(time.Millisecond), restarted.Sub(stopped).Round(time.Millisecond), nFail)
		if len(results) < 50 {
			t.Errorf("only %d requests", len(results))
		}
	})

	t.Run("sensor registry", func(t *testing.T) {
		r := redistest.Start(t)
		rc := r.Client()
		k := newKey(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rc.Set(ctx, redisKeyName, k.storedJSON(), 0).Err(); err != nil {
			t.Fatal(err)
		}
		s := startTestServer(t, serverConfig{flags: []string{"--redis", r.URL(), "--id-sensor", "7"}})
		help := s.request(t, "unix", "help\n")
		var reg struct {
			ID   int    `json:"id_sensor"`
			Addr string `json:"addr"`
		}
		waitUntil(t, 3*time.Second, "tapline:sensor:7 appears in Redis", func() (bool, string) {
			v, err := rc.Get(ctx, "tapline:sensor:7").Result()
			if err != nil {
				return false, err.Error()
			}
			if err := json.Unmarshal([]byte(v), &reg); err != nil {
				return false, v + ": " + err.Error()
			}
			return true, v
		})
		if reg.ID != 7 || reg.Addr != s.addr {
			t.Errorf("registry entry: %+v; want id 7, addr %s", reg, s.addr)
		}
		if ttl, err := rc.TTL(ctx, "tapline:sensor:7").Result(); err != nil || ttl <= 0 || ttl > 30*time.Second {
			t.Errorf("registry TTL %v (%v); want within (0, 30s]", ttl, err)
		}
		conf := writeConfig(t, t.TempDir(), "send.conf", "redis = "+r.URL())
		out, errOut, code := runCLI(t, "send", "-s", "7", "--config", conf, "-c", "ping")
		if code != 0 || out != "pong\n" {
			t.Errorf("send -s 7 ping: exit %d stdout %q stderr %q", code, out, errOut)
		}
		out, errOut, code = runCLI(t, "send", "-s", "7", "-a", "--config", conf, "-c", "help")
		if code != 0 || out != help {
			t.Errorf("send -s 7 -a help: exit %d stdout %d bytes %q stderr %q", code, len(out), clip([]byte(out), 60), errOut)
		}
		out, errOut, code = runCLI(t, "send", "-s", "7", "-a", "--legacy", "--config", conf, "-c", "help")
		if code != 0 || out != help {
			t.Errorf("send -s 7 -a --legacy help: exit %d stdout %d bytes %q stderr %q", code, len(out), clip([]byte(out), 60), errOut)
		}
		out, errOut, code = runCLI(t, "send", "-s", "8", "--config", conf, "-c", "ping")
		if code != 1 || out != "" || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "8") {
			t.Errorf("send -s 8 (not registered): exit %d stdout %q stderr %q; want exit 1, one line naming 8", code, out, errOut)
		}
		// A Go client can do the same lookup and a hardened session.
		sess, err := clients.OpenHardened(ctx, "tcp", reg.Addr, k.key)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		if rep, err := sess.Call(ctx, "ping", nil); err != nil || string(rep.Result) != `"pong"` {
			t.Errorf("hardened session to the registered address: %v %v", rep, err)
		}
	})
}
