package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"tapline/clients"
	"tapline/commands"
	"tapline/config"
	"tapline/crypto"
	"tapline/keyring"
)

// startKeyedServer runs a real server with a static key.
func startKeyedServer(t *testing.T) (*Server, string, crypto.Key) {
	t.Helper()
	return startKeyedServerWith(t, nil)
}

// startKeyedServerWith is startKeyedServer with setup run on the server
// before it starts (e.g. to give it a smaller replay cache).
func startKeyedServerWith(t *testing.T, setup func(*Server, *keyring.Ring)) (*Server, string, crypto.Key) {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring := keyring.New(config.Default().KeyGrace)
	ring.Static(key)
	var run func(*Server)
	if setup != nil {
		run = func(s *Server) { setup(s, ring) }
	}
	s, addr, _ := startServerWith(t, commands.Default(), ring, nil, run)
	return s, addr, key
}

// rawExchange sends req, half-closes and returns everything until EOF.
func rawExchange(t *testing.T, addr string, req []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v after %q", err, b)
	}
	return b
}

// randomLegacyFrame returns an "aes-128-cbc:<2 random blocks>:sea" frame
// whose padding under key is valid (validPad) or not. The test holds the
// key only to pick the frames; an attacker sends such frames blindly.
func randomLegacyFrame(t *testing.T, rng *rand.Rand, key crypto.Key, validPad bool) []byte {
	t.Helper()
	for range 1 << 20 {
		frame := []byte("aes-128-cbc:")
		for range 32 {
			frame = append(frame, byte(rng.Uint32()))
		}
		frame = append(frame, ":sea"...)
		if bytes.Index(frame, []byte(":sea")) != len(frame)-4 {
			continue
		}
		if _, _, err := crypto.LegacyDecrypt([]crypto.Key{key}, frame, nil); (err == nil) == validPad {
			return frame
		}
	}
	t.Fatal("no such frame")
	return nil
}

// Issue 9 item 6: legacy frames with bad padding, with valid padding, with
// an unknown command, with another key or malformed all get the same reply
// bytes, the encrypted "command not found", and all go the same way: to a
// worker (counted in legacyWorker), never decided on the loop by padding.
func TestLegacyNoPaddingOracle(t *testing.T) {
	s, addr, key := startKeyedServer(t)
	other, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(other.AES) != len(key.AES) {
		t.Fatalf("keys of different lengths")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	want := crypto.AppendLegacyReply(nil, key, []byte("command not found\n"))
	cases := []struct {
		name  string
		frame []byte
	}{
		{"bad padding", randomLegacyFrame(t, rng, key, false)},
		{"valid padding", randomLegacyFrame(t, rng, key, true)},
		{"unknown command", crypto.LegacyRequest(key, []byte("nosuchcommand"))},
		{"other key", crypto.LegacyRequest(other, []byte("ping"))},
		{"partial block", []byte("aes-128-cbc:0123456789abcde:sea")},
		{"other cipher name", append([]byte("aes-192-cbc:"), crypto.LegacyRequest(key, []byte("ping"))[len("aes-128-cbc:"):]...)},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			before := s.legacyWorker.Load()
			if got := rawExchange(t, addr, tt.frame); !bytes.Equal(got, want) {
				t.Fatalf("reply %q, want %q (the encrypted command not found)", got, want)
			}
			if n := s.legacyWorker.Load() - before; n != 1 {
				t.Fatalf("%d legacy requests went to a worker, want 1 (same path for every failure)", n)
			}
		})
	}
	// A known inline command still runs on the loop, a known worker
	// command on a worker; both decrypt as VoIPmonitor's do.
	before := s.legacyWorker.Load()
	got, err := crypto.LegacyReplyDecrypt(key, rawExchange(t, addr, crypto.LegacyRequest(key, []byte("ping"))))
	if err != nil || string(got) != "pong\n" || s.legacyWorker.Load() != before {
		t.Fatalf("ping: %q %v, worker count +%d", got, err, s.legacyWorker.Load()-before)
	}
}

// Without any key, every legacy frame gets the same plain refusal.
func TestLegacyNoKeyUniform(t *testing.T) {
	_, tcp, _ := startServer(t, nil)
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, frame := range [][]byte{
		randomLegacyFrame(t, rng, key, false),
		randomLegacyFrame(t, rng, key, true),
		crypto.LegacyRequest(key, []byte("ping")),
	} {
		if got := rawExchange(t, tcp, frame); string(got) != "failed aes decrypt!\n" {
			t.Fatalf("reply %q, want the plain \"failed aes decrypt!\\n\"", got)
		}
	}
}

// Issue 9 item 7 (spec): a request frame must be a single final frame with
// seq 0, and the frames of a session must come in order. Each violation is
// a bad frame.
func TestHardenedRequestRules(t *testing.T) {
	_, addr, key := startKeyedServer(t)
	hk := key.Hardened()
	now := time.Now()
	frame := func(flags byte, seq uint32, ts time.Time, msg string) []byte {
		return crypto.Seal(nil, hk, flags, ts, seq, crypto.NewRef(), []byte(msg))
	}
	for _, tt := range []struct {
		name string
		req  []byte
	}{
		{"flags 0", frame(0, 0, now, "ping")},
		{"seq 1", frame(crypto.FlagFinal, 1, now, "ping")},
		{"two-frame request", crypto.SealMessage(nil, hk, false, now, crypto.NewRef(), []byte("ping"+strings.Repeat(" ", crypto.MaxFramePlain)))},
	} {
		if got := rawExchange(t, addr, tt.req); string(got) != "error: bad frame\n" {
			t.Errorf("%s: reply %q, want \"error: bad frame\\n\"", tt.name, got)
		}
	}

	// A JSON session whose second frame is older than its first.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	o := crypto.NewOpener(crypto.LookupKeys(key), time.Minute, nil)
	send := func(ts time.Time, id int) {
		t.Helper()
		if _, err := c.Write(frame(crypto.FlagFinal, 0, ts, fmt.Sprintf(`{"id":%d,"cmd":"ping"}`, id))); err != nil {
			t.Fatal(err)
		}
	}
	send(now, 1)
	send(now, 2) // same millisecond: in order
	for id := 1; id <= 2; id++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			t.Fatal(err)
		}
		pt, _, err := o.Open(nil, line, time.Now(), true)
		if err != nil || !strings.Contains(string(pt), fmt.Sprintf(`"id":%d`, id)) {
			t.Fatalf("reply %d: %q %v", id, pt, err)
		}
	}
	send(now.Add(-time.Second), 3) // reordered
	rest, _ := io.ReadAll(br)
	if string(rest) != "error: bad frame\n" {
		t.Fatalf("frame older than the previous one: %q, want \"error: bad frame\\n\" and EOF", rest)
	}
}

// A hardened JSON session pipelining more than one frame's worth of
// requests: the client's buffered writer fills 64 KiB at a time, and every
// request must still arrive whole, one single-frame message per write.
func TestHardenedSessionPipelineOverFrame(t *testing.T) {
	_, addr, key := startKeyedServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := clients.OpenHardened(ctx, "tcp", addr, key)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	const n = 3000 // about 150 KiB of requests
	go func() {
		for range n {
			if _, err := sess.Send("ping", strings.Repeat("x", 20)); err != nil {
				return
			}
		}
		_ = sess.Flush()
	}()
	for i := range n {
		r, err := sess.Recv()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if r.Err() != nil || string(r.ID) != fmt.Sprint(i+1) {
			t.Fatalf("reply %d: id %s, %v", i, r.ID, r.Err())
		}
	}
}

// A frame refused because of a replay-cache bound is counted in
// sniffer_stat (manager.replay_full). Small bounds: 4 frames per key; frames
// dated far in the future (which cannot be made room for) may take half of
// it, so the third hits it.
func TestReplayFullCounted(t *testing.T) {
	s, addr, key := startKeyedServerWith(t, func(s *Server, ring *keyring.Ring) {
		s.replay = crypto.NewReplayCache(s.cfg.FrameWindow, 4, 2)
		s.opener = crypto.NewOpener(ring.Lookup, s.cfg.FrameWindow, s.replay)
	})
	future := time.Now().Add(s.cfg.FrameWindow / 2)
	for i := range 3 {
		got := rawExchange(t, addr, crypto.Seal(nil, key.Hardened(), crypto.FlagFinal, future, 0, crypto.NewRef(), []byte("ping")))
		if refused := string(got) == "error: bad frame\n"; refused != (i == 2) {
			t.Fatalf("frame %d: reply %q", i, got)
		}
	}
	// Counted per refusal: the loop's try and the worker's retry of the
	// same frame may both count.
	var st struct {
		Manager struct {
			ReplayFull *int64 `json:"replay_full"`
		} `json:"manager"`
	}
	out := do(t, "unix", s.cfg.ManagerSocket, "sniffer_stat")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Manager.ReplayFull == nil || *st.Manager.ReplayFull < 1 {
		t.Fatalf("sniffer_stat manager.replay_full missing or 0 (%v): %s", err, out)
	}
}

// Issue 9 item 6: a legacy request refused for its arguments gets one
// fixed line that quotes nothing it sent. The text-mode errors name the
// offending keys and values, and with no MAC an attacker splicing captured
// blocks behind a captured prefix would read their decryption there.
func TestLegacyErrorsQuoteNothing(t *testing.T) {
	_, addr, key := startKeyedServer(t)
	for _, tt := range []struct{ req, want string }{
		{`listcalls {"sort_field":"SECRET1"}`, "error: listcalls: invalid arguments\n"},
		{`listcalls {"SECRET2":"x"}`, "error: listcalls: invalid arguments\n"},
		{`listregisters {"states":"SECRET3"}`, "error: listregisters: invalid arguments\n"},
		{`listcalls {"limit":"SECRET4"}`, "error: listcalls: invalid arguments\n"},
		{"ping", "pong\n"},
	} {
		got, err := crypto.LegacyReplyDecrypt(key, rawExchange(t, addr, crypto.LegacyRequest(key, []byte(tt.req))))
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: reply %q (%v), want %q", tt.req, got, err, tt.want)
		}
	}
}
