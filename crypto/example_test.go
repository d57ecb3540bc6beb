package crypto

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/worked_example.txt")

const workedExampleFile = "testdata/worked_example.txt"

// TestWorkedExample is the known-answer test the protocol docs quote. Every
// intermediate value is pinned in a golden file, and HKDF, the ciphertext and
// the tag are recomputed with openssl.
func TestWorkedExample(t *testing.T) {
	k := mustKey(t, "000102030405060708090a0b0c0d0e0f", "101112131415161718191a1b1c1d1e1f")
	const ts = 1795449600000
	ref := [16]byte(unhex(t, "202122232425262728292a2b2c2d2e2f"))
	iv := [16]byte(unhex(t, "303132333435363738393a3b3c3d3e3f"))
	plain := []byte(`{"id":1,"cmd":"ping"}`)
	hk := k.Hardened()

	line := seal(nil, hk, FlagFinal, ts, 0, ref, &iv, plain)
	body := decodeBody(t, line)
	ct, tag := body[offCT:len(body)-tagLen], body[len(body)-tagLen:]
	got := []struct{ name, value string }{
		{"key", hex.EncodeToString(k.AES)},
		{"iv", hex.EncodeToString(k.IV)},
		{"secret", hex.EncodeToString(k.secret())},
		{"kid", hex.EncodeToString(hk.KID[:])},
		{"kenc", hex.EncodeToString(hk.enc[:])},
		{"kmac", hex.EncodeToString(hk.mac[:])},
		{"flags", "02"},
		{"ts", strconv.Itoa(ts)},
		{"seq", "0"},
		{"ref", hex.EncodeToString(ref[:])},
		{"frame_iv", hex.EncodeToString(iv[:])},
		{"plaintext", string(plain)},
		{"ct", hex.EncodeToString(ct)},
		{"mac_input", hex.EncodeToString(append([]byte(macDomain), body[:len(body)-tagLen]...))},
		{"tag", hex.EncodeToString(tag)},
		{"body", hex.EncodeToString(body)},
		{"line", strings.TrimSuffix(string(line), "\n")},
	}
	for _, g := range got {
		t.Logf("%-9s = %s", g.name, g.value)
	}
	if *update {
		writeGolden(t, got)
	}
	want := readGolden(t)
	for _, g := range got {
		if want[g.name] != g.value {
			t.Errorf("%s = %s, golden %s", g.name, g.value, want[g.name])
		}
	}

	// Independent checks with openssl.
	for _, d := range []struct {
		info string
		n    int
		want []byte
	}{{"enc", 32, hk.enc[:]}, {"mac", 32, hk.mac[:]}, {"kid", 8, hk.KID[:]}} {
		out := openssl(t, nil, "kdf", "-keylen", strconv.Itoa(d.n), "-kdfopt", "digest:SHA256",
			"-kdfopt", "hexkey:"+hex.EncodeToString(k.secret()), "-kdfopt", "salt:"+hkdfSalt,
			"-kdfopt", "info:"+d.info, "HKDF")
		if got := opensslHex(t, out); !bytes.Equal(got, d.want) {
			t.Errorf("HKDF info %q: openssl %x, ours %x", d.info, got, d.want)
		}
	}
	if want := opensslEnc(t, "aes-256-cbc", hk.enc[:], iv[:], plain); !bytes.Equal(ct, want) {
		t.Errorf("ct: openssl %x, ours %x", want, ct)
	}
	out := openssl(t, append([]byte(macDomain), body[:len(body)-tagLen]...),
		"dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:"+hex.EncodeToString(hk.mac[:]))
	if want := opensslHex(t, out); !bytes.Equal(tag, want) {
		t.Errorf("tag: openssl %x, ours %x", want, tag)
	}

	// And it opens.
	o := NewOpener(LookupKeys(k), testWindow, NewReplayCache(testWindow, 10, 1))
	pt, h, err := o.Open(nil, line, testNow, false)
	if err != nil || !bytes.Equal(pt, plain) || h.Ref != ref || h.Flags != FlagFinal {
		t.Fatalf("Open: %q %+v %v", pt, h, err)
	}
}

func writeGolden(t *testing.T, kv []struct{ name, value string }) {
	var b strings.Builder
	b.WriteString("# Hardened framing worked example, checked by TestWorkedExample (crypto/example_test.go).\n")
	b.WriteString("# Regenerate: go test ./crypto/ -run TestWorkedExample -update\n")
	b.WriteString("# Hex unless noted; line is the frame line without its trailing \"\\n\".\n")
	for _, g := range kv {
		fmt.Fprintf(&b, "%-9s = %s\n", g.name, g.value)
	}
	if err := os.MkdirAll(filepath.Dir(workedExampleFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(workedExampleFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readGolden(t *testing.T) map[string]string {
	f, err := os.Open(workedExampleFile)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), " = "); ok && !strings.HasPrefix(name, "#") {
			m[strings.TrimSpace(name)] = value
		}
	}
	return m
}
