package crypto

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

// openssl runs the openssl binary: an implementation nobody here wrote, so
// agreeing with it proves compatibility rather than self-consistency.
func openssl(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// opensslEnc encrypts like the GUI's PHP openssl_encrypt / the shell
// examples in the notes: raw CBC, PKCS#7, explicit key and IV, no salt.
func opensslEnc(t testing.TB, cipherName string, key, iv, pt []byte) []byte {
	t.Helper()
	return openssl(t, pt, "enc", "-"+cipherName, "-K", hex.EncodeToString(key), "-iv", hex.EncodeToString(iv))
}

func opensslDec(t testing.TB, cipherName string, key, iv, ct []byte) []byte {
	t.Helper()
	return openssl(t, ct, "enc", "-d", "-"+cipherName, "-K", hex.EncodeToString(key), "-iv", hex.EncodeToString(iv))
}

// opensslHex parses openssl's hex outputs: "AB:CD:..." (kdf) or
// "HMAC-SHA2-256(stdin)= abcd..." (dgst).
func opensslHex(t testing.TB, out []byte) []byte {
	t.Helper()
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndex(s, "= "); i >= 0 {
		s = s[i+2:]
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil {
		t.Fatalf("openssl output %q: %v", out, err)
	}
	return b
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustKey builds a Key from hex.
func mustKey(t testing.TB, keyHex, ivHex string) Key {
	t.Helper()
	k, err := newKey(unhex(t, keyHex), unhex(t, ivHex))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// seqKey is a key whose bytes count up from start: deterministic fixtures.
func seqKey(t testing.TB, n int, start byte) Key {
	t.Helper()
	a := make([]byte, n)
	for i := range a {
		a[i] = start + byte(i)
	}
	iv := make([]byte, 16)
	for i := range iv {
		iv[i] = start + 0x80 + byte(i)
	}
	k, err := newKey(a, iv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pseudo returns n deterministic pseudo-random bytes.
func pseudo(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// chunkWrite writes p to w in pieces of the given sizes, cycling.
func chunkWrite(t testing.TB, w interface{ Write([]byte) (int, error) }, p []byte, sizes ...int) {
	t.Helper()
	for i := 0; len(p) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(p))
		if m, err := w.Write(p[:n]); err != nil || m != n {
			t.Fatalf("Write(%d bytes) = %d, %v", n, m, err)
		}
		p = p[n:]
	}
}
