package e2e

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tapline/clients"
	"tapline/crypto"
)

// Helpers for the encryption, keys and Redis tests. The legacy framing is
// built and opened here with the standard library (and with openssl in the
// shell tests), independently of tapline/crypto, so a mistake shared by the
// server and its own client package cannot hide.

// tkey is one manager key in every form the tests need.
type tkey struct {
	key           crypto.Key
	b64, ivB64    string // as in the config file and in Redis
	hex, ivHex    string // as openssl -K / -iv take them
	aesKey, ivRaw []byte
}

// newKey returns a random aes-128 key.
func newKey(t testing.TB) tkey {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return keyFromRaw(t, b[:16], b[16:])
}

func keyFromHex(t testing.TB, k, iv string) tkey {
	t.Helper()
	kb, err1 := hex.DecodeString(k)
	ivb, err2 := hex.DecodeString(iv)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad hex key %q / iv %q", k, iv)
	}
	return keyFromRaw(t, kb, ivb)
}

func keyFromB64(t testing.TB, k, iv string) tkey {
	t.Helper()
	kb, err1 := base64.StdEncoding.DecodeString(k)
	ivb, err2 := base64.StdEncoding.DecodeString(iv)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad base64 key %q / iv %q", k, iv)
	}
	return keyFromRaw(t, kb, ivb)
}

func keyFromRaw(t testing.TB, k, iv []byte) tkey {
	t.Helper()
	tk, err := makeKey(k, iv)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func makeKey(k, iv []byte) (tkey, error) {
	tk := tkey{
		aesKey: bytes.Clone(k), ivRaw: bytes.Clone(iv),
		b64: base64.StdEncoding.EncodeToString(k), ivB64: base64.StdEncoding.EncodeToString(iv),
		hex: hex.EncodeToString(k), ivHex: hex.EncodeToString(iv),
	}
	var err error
	if tk.key, err = crypto.ParseKey(tk.b64, tk.ivB64); err != nil {
		return tk, fmt.Errorf("crypto.ParseKey(%q, %q): %w", tk.b64, tk.ivB64, err)
	}
	return tk, nil
}

// parseStored parses the Redis value {"key":"<b64>","iv":"<b64>"}.
func parseStored(v string) (tkey, error) {
	var sk struct{ Key, IV string }
	if err := json.Unmarshal([]byte(v), &sk); err != nil {
		return tkey{}, fmt.Errorf("stored key %q: %w", v, err)
	}
	kb, err1 := base64.StdEncoding.DecodeString(sk.Key)
	ivb, err2 := base64.StdEncoding.DecodeString(sk.IV)
	if err := errors.Join(err1, err2); err != nil {
		return tkey{}, fmt.Errorf("stored key %q: %w", v, err)
	}
	return makeKey(kb, ivb)
}

// flags are the serve flags that configure k statically.
func (k tkey) flags() []string {
	return []string{"--manager-aes-key", k.b64, "--manager-aes-iv", k.ivB64}
}

// cipherName is the legacy cipher name matching the key length.
func (k tkey) cipherName() string { return fmt.Sprintf("aes-%d-cbc", len(k.aesKey)*8) }

// storedJSON is the Redis value of k: {"key":"<b64>","iv":"<b64>"}.
func (k tkey) storedJSON() string {
	return `{"key":"` + k.b64 + `","iv":"` + k.ivB64 + `"}`
}

// cbcEncrypt is AES-CBC with PKCS#7 padding (what openssl enc does).
func cbcEncrypt(k tkey, plain []byte) []byte {
	blk, err := aes.NewCipher(k.aesKey)
	if err != nil {
		panic(err)
	}
	buf := pkcs7Pad(plain)
	cipher.NewCBCEncrypter(blk, k.ivRaw).CryptBlocks(buf, buf)
	return buf
}

// cbcDecrypt reverses cbcEncrypt; it fails on a bad length or padding.
func cbcDecrypt(k tkey, ct []byte) ([]byte, error) {
	if len(ct) == 0 || len(ct)%16 != 0 {
		return nil, fmt.Errorf("ciphertext of %d bytes is not whole blocks", len(ct))
	}
	blk, err := aes.NewCipher(k.aesKey)
	if err != nil {
		return nil, err
	}
	buf := bytes.Clone(ct)
	cipher.NewCBCDecrypter(blk, k.ivRaw).CryptBlocks(buf, buf)
	plain, ok := pkcs7Unpad(buf)
	if !ok {
		return nil, errors.New("bad PKCS#7 padding")
	}
	return plain, nil
}

// pkcs7Pad returns a copy of plain padded to whole AES blocks.
func pkcs7Pad(plain []byte) []byte {
	p := 16 - len(plain)%16
	return append(bytes.Clone(plain), bytes.Repeat([]byte{byte(p)}, p)...)
}

// pkcs7Unpad strips the padding of whole decrypted blocks (at least one);
// ok is false when it is not valid PKCS#7.
func pkcs7Unpad(b []byte) (plain []byte, ok bool) {
	p := int(b[len(b)-1])
	if p < 1 || p > 16 || !bytes.Equal(b[len(b)-p:], bytes.Repeat([]byte{byte(p)}, p)) {
		return nil, false
	}
	return b[:len(b)-p], true
}

// legacyRequest is VoIPmonitor's request: "<cipher>:" + CBC(cmd) + ":sea".
func legacyRequest(k tkey, cipherName, cmd string) string {
	return cipherName + ":" + string(cbcEncrypt(k, []byte(cmd))) + ":sea"
}

// openLegacyReply checks the "aes:" prefix and decrypts the rest with k.
func openLegacyReply(k tkey, reply []byte) ([]byte, error) {
	body, ok := bytes.CutPrefix(reply, []byte("aes:"))
	if !ok {
		return nil, fmt.Errorf("reply does not start with \"aes:\": %q", clip(reply, 80))
	}
	return cbcDecrypt(k, body)
}

// legacyNotFound is the raw reply, encrypted with k, to every legacy request
// that does not decrypt to a known command: "command not found\n".
func legacyNotFound(k tkey) string {
	return "aes:" + string(cbcEncrypt(k, []byte("command not found\n")))
}

// legacyCall sends cmd in the legacy framing (encrypted with k) and returns
// the raw reply.
func legacyCall(network, addr string, k tkey, cmd string) ([]byte, error) {
	return oneShot(network, addr, legacyRequest(k, k.cipherName(), cmd), true, 10*time.Second)
}

// sealLine is one hardened request line for msg, sealed with k at now.
func sealLine(k tkey, now time.Time, msg string) []byte {
	return crypto.SealMessage(nil, k.key.Hardened(), false, now, crypto.NewRef(), []byte(msg))
}

// hardenedDo is a hardened one-shot with the Go client.
func hardenedDo(network, addr string, k tkey, cmd string) ([]byte, error) {
	return secureDo(network, addr, clients.Hardened, k, cmd)
}

func secureDo(network, addr string, mode clients.Crypto, k tkey, cmd string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var buf bytes.Buffer
	_, err := clients.DoSecure(ctx, network, addr, mode, k.key, cmd, &buf)
	return buf.Bytes(), err
}

// writeConfig writes a config file with the given "key = value" lines.
func writeConfig(t testing.TB, dir, name string, lines ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	text := "[general]\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// keysStatus is sniffer_stat's "keys" object.
type keysStatus struct {
	Source      string `json:"source"`
	State       string `json:"state"`
	Fingerprint string `json:"fingerprint"`
	Previous    int    `json:"previous_keys"`
	FailClosed  bool   `json:"fail_closed"`
	LastError   string `json:"last_error"`
	Reason      string `json:"reason"`
	StateError  string `json:"state_error"`
}

// keyState reads sniffer_stat over the Unix socket (always plaintext) and
// returns its "keys" object.
func (s *server) keyState(t testing.TB) keysStatus {
	t.Helper()
	raw := s.request(t, "unix", "sniffer_stat\n")
	var st struct {
		Keys *keysStatus `json:"keys"`
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatalf("sniffer_stat is not JSON (%v): %q", err, clip([]byte(raw), 400))
	}
	if st.Keys == nil {
		t.Fatalf("sniffer_stat has no \"keys\" object: %q", clip([]byte(raw), 400))
	}
	return *st.Keys
}

// waitKeyState waits up to limit for sniffer_stat's keys.state to be state
// and returns the time it took.
func (s *server) waitKeyState(t testing.TB, limit time.Duration, what, state string) time.Duration {
	t.Helper()
	return waitUntil(t, limit, what, func() (bool, string) {
		st := s.keyState(t)
		return st.State == state, fmt.Sprintf("%+v", st)
	})
}

// waitUntil polls cond every 20 ms until it returns true or limit passes;
// then it fails the test with what cond last described. It returns the time
// it took.
func waitUntil(t testing.TB, limit time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for {
		ok, desc := cond()
		if ok {
			return time.Since(start)
		}
		last = desc
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v (last: %s)", what, limit, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tryRequest is oneShot for polling loops: the reply, or the error text.
func (s *server) tryRequest(network, req string) string {
	got, err := oneShot(network, s.target(network), req, true, 5*time.Second)
	if err != nil {
		return fmt.Sprintf("error %v after %q", err, clip(got, 100))
	}
	return string(got)
}

// waitPong waits up to limit for a one-shot ping over network to get
// "pong\n".
func (s *server) waitPong(t testing.TB, network string, limit time.Duration, what string) {
	t.Helper()
	waitUntil(t, limit, what, func() (bool, string) {
		r := s.tryRequest(network, "ping\n")
		return r == "pong\n", r
	})
}

// keysLines parses the "manager_aes_key = …" and "manager_aes_iv = …"
// lines that `tapline keys` prints.
func keysLines(t testing.TB, out string) (key, iv string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "manager_aes_key = "); ok {
			key = v
		}
		if v, ok := strings.CutPrefix(line, "manager_aes_iv = "); ok {
			iv = v
		}
	}
	if key == "" || iv == "" {
		t.Fatalf("no manager_aes_key / manager_aes_iv lines in %q", out)
	}
	return key, iv
}

// An independent implementation of the hardened framing as docs/PROTOCOL.md
// §9.3 specifies it (standard library only), to check the server against the
// document rather than against tapline/crypto.

const (
	specSalt   = "tapline/hardened/1"
	specMACPre = "tapline/frame/1"
	specHdr    = 8 + 1 + 8 + 4 + 16 + 16 // kid flags ts seq ref iv
	specTag    = 32
	flagReply  = 0x01
	flagFinal  = 0x02
)

type specKeys struct {
	enc, mac []byte
	kid      [8]byte
}

func specDerive(k tkey) specKeys {
	secret := append(bytes.Clone(k.aesKey), k.ivRaw...)
	enc, err1 := hkdf.Key(sha256.New, secret, []byte(specSalt), "enc", 32)
	mac, err2 := hkdf.Key(sha256.New, secret, []byte(specSalt), "mac", 32)
	kid, err3 := hkdf.Key(sha256.New, secret, []byte(specSalt), "kid", 8)
	if err := errors.Join(err1, err2, err3); err != nil {
		panic(err)
	}
	var sk specKeys
	sk.enc, sk.mac = enc, mac
	copy(sk.kid[:], kid)
	return sk
}

// specFrame is one decoded frame.
type specFrame struct {
	kid   [8]byte
	flags byte
	ts    time.Time
	seq   uint32
	ref   [16]byte
	plain []byte
}

// specSeal builds one frame line with explicit header fields.
func specSeal(k tkey, flags byte, ts time.Time, seq uint32, ref [16]byte, plain []byte) []byte {
	return specSealBlocks(k, flags, ts, seq, ref, pkcs7Pad(plain))
}

// specSealRaw seals whole blocks without adding padding (seq 0): a frame
// with a valid tag whose padding is whatever blocks holds.
func specSealRaw(k tkey, flags byte, ts time.Time, ref [16]byte, blocks []byte) []byte {
	return specSealBlocks(k, flags, ts, 0, ref, bytes.Clone(blocks))
}

func specSealBlocks(k tkey, flags byte, ts time.Time, seq uint32, ref [16]byte, ct []byte) []byte {
	sk := specDerive(k)
	body := make([]byte, 0, specHdr+len(ct)+specTag)
	body = append(body, sk.kid[:]...)
	body = append(body, flags)
	body = binary.BigEndian.AppendUint64(body, uint64(ts.UnixMilli()))
	body = binary.BigEndian.AppendUint32(body, seq)
	body = append(body, ref[:]...)
	iv := make([]byte, 16)
	_, _ = rand.Read(iv)
	body = append(body, iv...)
	blk, _ := aes.NewCipher(sk.enc)
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(ct, ct)
	body = append(body, ct...)
	m := hmac.New(sha256.New, sk.mac)
	m.Write([]byte(specMACPre))
	m.Write(body)
	return encodeFrame(m.Sum(body))
}

// specOpen checks and decrypts one frame line (with or without its newline).
func specOpen(k tkey, line []byte) (specFrame, error) {
	var f specFrame
	line = bytes.TrimSuffix(line, []byte("\n"))
	b64, ok := bytes.CutPrefix(line, []byte("tl1:"))
	if !ok {
		return f, fmt.Errorf("not a frame: %q", clip(line, 80))
	}
	body, err := base64.StdEncoding.DecodeString(string(b64))
	if err != nil {
		return f, fmt.Errorf("frame base64: %w", err)
	}
	if len(body) < specHdr+16+specTag || (len(body)-specHdr-specTag)%16 != 0 {
		return f, fmt.Errorf("frame body of %d bytes has a bad length", len(body))
	}
	sk := specDerive(k)
	copy(f.kid[:], body[:8])
	if f.kid != sk.kid {
		return f, fmt.Errorf("frame kid %x, want %x", f.kid, sk.kid)
	}
	tagAt := len(body) - specTag
	m := hmac.New(sha256.New, sk.mac)
	m.Write([]byte(specMACPre))
	m.Write(body[:tagAt])
	if !hmac.Equal(m.Sum(nil), body[tagAt:]) {
		return f, errors.New("frame tag does not verify")
	}
	f.flags = body[8]
	f.ts = time.UnixMilli(int64(binary.BigEndian.Uint64(body[9:17])))
	f.seq = binary.BigEndian.Uint32(body[17:21])
	copy(f.ref[:], body[21:37])
	iv := body[37:53]
	ct := bytes.Clone(body[specHdr:tagAt])
	blk, _ := aes.NewCipher(sk.enc)
	cipher.NewCBCDecrypter(blk, iv).CryptBlocks(ct, ct)
	plain, ok := pkcs7Unpad(ct)
	if !ok {
		return f, errors.New("frame padding is invalid")
	}
	f.plain = plain
	return f, nil
}

// specReply opens every frame line of a one-shot reply to the request with
// ref: each must be a reply frame with the right ref, seq 0, 1, …, only the
// last one final, its clock within a minute of ours. It returns the joined
// plaintext.
func specReply(k tkey, ref [16]byte, reply []byte) ([]byte, int, error) {
	if len(reply) == 0 || reply[len(reply)-1] != '\n' {
		return nil, 0, fmt.Errorf("reply does not end in a newline: %q", clip(reply, 80))
	}
	lines := bytes.SplitAfter(reply, []byte("\n"))
	lines = lines[:len(lines)-1] // the empty rest after the last newline
	var out []byte
	for i, line := range lines {
		f, err := specOpen(k, line)
		if err != nil {
			return nil, i, fmt.Errorf("reply frame %d: %w", i, err)
		}
		wantFlags := byte(flagReply)
		if i == len(lines)-1 {
			wantFlags |= flagFinal
		}
		switch {
		case f.flags != wantFlags:
			return nil, i, fmt.Errorf("reply frame %d of %d: flags %#x, want %#x", i, len(lines), f.flags, wantFlags)
		case f.seq != uint32(i):
			return nil, i, fmt.Errorf("reply frame %d: seq %d", i, f.seq)
		case f.ref != ref:
			return nil, i, fmt.Errorf("reply frame %d: ref %x, want the request's %x", i, f.ref, ref)
		case time.Since(f.ts).Abs() > time.Minute:
			return nil, i, fmt.Errorf("reply frame %d: ts %v is far from now", i, f.ts)
		case len(f.plain) > 64<<10:
			return nil, i, fmt.Errorf("reply frame %d: %d plaintext bytes, more than 64 KiB", i, len(f.plain))
		}
		out = append(out, f.plain...)
	}
	return out, len(lines), nil
}

// refOf returns the ref of a request line we built (zero if it is not a
// frame).
func refOf(line []byte) [16]byte {
	var ref [16]byte
	if body, err := frameBody(line); err == nil {
		copy(ref[:], body[21:37])
	}
	return ref
}

// decodeFrame and encodeFrame convert a line to its body and back, for
// tampering.
func decodeFrame(t testing.TB, line []byte) []byte {
	t.Helper()
	body, err := frameBody(line)
	if err != nil {
		t.Fatalf("decode frame: %v", err)
	}
	return body
}

// frameBody decodes a frame line we built ourselves (usable off the test
// goroutine).
func frameBody(line []byte) ([]byte, error) {
	b64 := bytes.TrimSuffix(bytes.TrimPrefix(line, []byte("tl1:")), []byte("\n"))
	body, err := base64.StdEncoding.DecodeString(string(b64))
	if err == nil && len(body) < specHdr {
		err = fmt.Errorf("frame body of %d bytes", len(body))
	}
	return body, err
}

func encodeFrame(body []byte) []byte {
	return []byte("tl1:" + base64.StdEncoding.EncodeToString(body) + "\n")
}

// noRaceReports fails the test if the server's log has a race report
// (servers under test are built with -race when the tests are).
func noRaceReports(t *testing.T, s *server) {
	t.Cleanup(func() {
		if b, err := os.ReadFile(s.logPath); err == nil && bytes.Contains(b, []byte("DATA RACE")) {
			_, report, _ := bytes.Cut(b, []byte("WARNING: DATA RACE"))
			t.Errorf("the server log has a race report:\nWARNING: DATA RACE%s", clip(report, 12000))
		}
	})
}

// startTestServer is startServer with the checks of these tests: a -race
// server's log must stay free of race reports.
func startTestServer(t *testing.T, cfg serverConfig) *server {
	t.Helper()
	s := startServer(t, cfg)
	noRaceReports(t, s)
	return s
}
