package crypto

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	k16 := base64.StdEncoding.EncodeToString(make([]byte, 16))
	k24 := base64.StdEncoding.EncodeToString(make([]byte, 24))
	k32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name, key, iv string
		cipher        string
		errHas        string
	}{
		{"aes128", k16, k16, "aes-128-cbc", ""},
		{"aes192", k24, k16, "aes-192-cbc", ""},
		{"aes256", k32, k16, "aes-256-cbc", ""},
		{"unpadded and spaces", " " + strings.TrimRight(k16, "=") + "\n", k16, "aes-128-cbc", ""},
		{"bad key base64", "!!!!", k16, "", "key: bad base64"},
		{"bad iv base64", k16, "@@@", "", "iv: bad base64"},
		{"short key", base64.StdEncoding.EncodeToString(make([]byte, 15)), k16, "", "key is 15 bytes, want 16, 24 or 32"},
		{"long key", base64.StdEncoding.EncodeToString(make([]byte, 33)), k16, "", "key is 33 bytes, want 16, 24 or 32"},
		{"empty key", "", k16, "", "key is 0 bytes"},
		{"short iv", k16, base64.StdEncoding.EncodeToString(make([]byte, 8)), "", "iv is 8 bytes, want 16"},
		{"long iv", k16, k32, "", "iv is 32 bytes, want 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey(tt.key, tt.iv)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := k.CipherName(); got != tt.cipher {
				t.Errorf("CipherName = %q, want %q", got, tt.cipher)
			}
		})
	}
}

func TestKeyBase64RoundTrip(t *testing.T) {
	k := seqKey(t, 32, 1)
	kb, ivb := k.Base64()
	k2, err := ParseKey(kb, ivb)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.AES, k2.AES) || !bytes.Equal(k.IV, k2.IV) {
		t.Fatal("round trip changed the key")
	}
	if k.Fingerprint() != k2.Fingerprint() {
		t.Fatal("fingerprint changed")
	}
}

func TestNewKeyCopies(t *testing.T) {
	a, iv := make([]byte, 16), make([]byte, 16)
	k, err := newKey(a, iv)
	if err != nil {
		t.Fatal(err)
	}
	a[0], iv[0] = 1, 1
	if k.AES[0] != 0 || k.IV[0] != 0 {
		t.Fatal("newKey kept the caller's slices")
	}
}

func TestGenerateKey(t *testing.T) {
	k1, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := GenerateKey()
	if len(k1.AES) != 16 || len(k1.IV) != 16 || k1.CipherName() != "aes-128-cbc" {
		t.Fatalf("GenerateKey: %d-byte key, %d-byte iv", len(k1.AES), len(k1.IV))
	}
	if bytes.Equal(k1.AES, k2.AES) || bytes.Equal(k1.IV, k2.IV) {
		t.Fatal("two generated keys are equal")
	}
}

func TestFingerprint(t *testing.T) {
	k := seqKey(t, 16, 0)
	fp := k.Fingerprint()
	kid := k.Hardened().KID
	if fp != hex.EncodeToString(kid[:]) || len(fp) != 16 {
		t.Fatalf("Fingerprint = %q, KID = %x", fp, kid)
	}
	if other := seqKey(t, 16, 1).Fingerprint(); other == fp {
		t.Fatal("different keys, same fingerprint")
	}
}

// A struct-literal Key (no cache) must behave exactly like a constructed one.
func TestLiteralKey(t *testing.T) {
	k := seqKey(t, 24, 7)
	lit := Key{AES: k.AES, IV: k.IV}
	if h1, h2 := lit.Hardened(), k.Hardened(); h1.KID != h2.KID || h1.enc != h2.enc || h1.mac != h2.mac {
		t.Fatal("hardened keys differ")
	}
	if !bytes.Equal(LegacyRequest(lit, []byte("x")), LegacyRequest(k, []byte("x"))) {
		t.Fatal("legacy requests differ")
	}
	if _, _, err := LegacyDecrypt([]Key{{AES: k.AES[:5], IV: k.IV}}, LegacyRequest(k, []byte("x")), nil); err != ErrLegacyCipher {
		t.Fatalf("invalid literal key: %v", err)
	}
	if _, _, err := LegacyDecrypt([]Key{{AES: k.AES, IV: k.IV[:3]}}, LegacyRequest(k, []byte("x")), nil); err != ErrLegacyDecrypt {
		t.Fatalf("literal key with short IV: %v", err)
	}
}

// Keys end up in log lines; they must never print their material.
func TestKeyStringRedacted(t *testing.T) {
	k := seqKey(t, 16, 0x41)
	h := k.Hardened()
	kb, ivb := k.Base64()
	for _, s := range []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k),
		fmt.Sprint(h), fmt.Sprintf("%v %+v %#v", h, h, h),
		fmt.Sprintf("%v", []Key{k}),
	} {
		for _, secret := range []string{kb, ivb, hex.EncodeToString(k.AES), string(k.AES), hex.EncodeToString(h.enc[:]), hex.EncodeToString(h.mac[:])} {
			if strings.Contains(s, secret) {
				t.Fatalf("%q leaks %q", s, secret)
			}
		}
		if !strings.Contains(s, k.Fingerprint()) {
			t.Fatalf("%q lacks the fingerprint", s)
		}
	}
}
