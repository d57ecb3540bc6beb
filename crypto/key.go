package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Key is one manager key as stored by VoIPmonitor's GUI:
// {"key":"<base64>","iv":"<base64>"}. AES is 16, 24 or 32 bytes (the legacy
// cipher is picked by its length), IV is 16 bytes.
//
// Build keys with ParseKey, newKey or GenerateKey: they check the lengths and
// compute the AES key schedule and the hardened keys once. A Key is
// immutable; do not modify AES or IV after construction. A Key built as a
// struct literal works too, but derives its keys again on every use.
type Key struct {
	AES []byte
	IV  []byte

	c *keyCache // nil for struct literals
}

// keyCache holds what is derived from a Key. It is shared by all copies of
// the Key and never changes after construction.
type keyCache struct {
	block cipher.Block
	hard  *HardenedKey
}

// ParseKey decodes a stored key: the "key" and "iv" fields, standard base64
// (padding optional, surrounding white space ignored).
func ParseKey(keyB64, ivB64 string) (Key, error) {
	key, err := decodeB64(keyB64)
	if err != nil {
		return Key{}, fmt.Errorf("crypto: manager key: bad base64: %w", err)
	}
	iv, err := decodeB64(ivB64)
	if err != nil {
		return Key{}, fmt.Errorf("crypto: manager key iv: bad base64: %w", err)
	}
	return newKey(key, iv)
}

// decodeB64 accepts padded and unpadded standard base64. PHP's
// base64_encode pads, but hand-written configs sometimes do not.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b2, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
			return b2, nil
		}
	}
	return b, err
}

// newKey checks the lengths, copies aesKey and iv, and derives everything
// the framings need.
func newKey(aesKey, iv []byte) (Key, error) {
	if err := checkLengths(aesKey, iv); err != nil {
		return Key{}, err
	}
	k := Key{AES: clone(aesKey), IV: clone(iv)}
	block, err := aes.NewCipher(k.AES)
	if err != nil {
		return Key{}, fmt.Errorf("crypto: manager key: %w", err)
	}
	k.c = &keyCache{block: block, hard: deriveHardened(k.secret())}
	return k, nil
}

func checkLengths(aesKey, iv []byte) error {
	switch len(aesKey) {
	case 16, 24, 32:
	default:
		return fmt.Errorf("crypto: manager key is %d bytes, want 16, 24 or 32 (aes-128/192/256-cbc)", len(aesKey))
	}
	if len(iv) != aes.BlockSize {
		return fmt.Errorf("crypto: manager key iv is %d bytes, want %d", len(iv), aes.BlockSize)
	}
	return nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// GenerateKey makes a new key the way the GUI's default does: a 16-byte AES
// key (aes-128-cbc) and a 16-byte IV, both from crypto/rand.
func GenerateKey() (Key, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Key{}, fmt.Errorf("crypto: generate key: %w", err)
	}
	return newKey(b[:16], b[16:])
}

// Base64 returns the key and IV as stored: standard base64 with padding.
func (k Key) Base64() (key, iv string) {
	return base64.StdEncoding.EncodeToString(k.AES), base64.StdEncoding.EncodeToString(k.IV)
}

// Fingerprint is a short public id for logs and `keys show`: the hex of the
// hardened key id. It reveals nothing about the key (HKDF output).
func (k Key) Fingerprint() string {
	kid := k.Hardened().KID
	return hex.EncodeToString(kid[:])
}

// CipherName is the legacy cipher name for the key's length:
// "aes-128-cbc", "aes-192-cbc" or "aes-256-cbc"; "" if the length is invalid.
func (k Key) CipherName() string {
	switch len(k.AES) {
	case 16:
		return "aes-128-cbc"
	case 24:
		return "aes-192-cbc"
	case 32:
		return "aes-256-cbc"
	}
	return ""
}

// Hardened returns the keys of the hardened framing derived from k. Keys from
// the constructors return a cached value.
func (k Key) Hardened() *HardenedKey {
	if k.c != nil {
		return k.c.hard
	}
	return deriveHardened(k.secret())
}

// String never prints key material, so a Key in a log line is safe.
func (k Key) String() string {
	return "crypto.Key(" + k.CipherName() + " " + k.Fingerprint() + ")"
}

// GoString keeps %#v from printing key material as well.
func (k Key) GoString() string { return k.String() }

// secret is the input keying material of the hardened framing: the stored
// key and IV together.
func (k Key) secret() []byte {
	s := make([]byte, 0, len(k.AES)+len(k.IV))
	return append(append(s, k.AES...), k.IV...)
}

// block returns the AES block cipher for the legacy framing.
func (k Key) block() (cipher.Block, error) {
	if k.c != nil {
		return k.c.block, nil
	}
	if err := checkLengths(k.AES, k.IV); err != nil {
		return nil, err
	}
	return aes.NewCipher(k.AES)
}

// mustBlock is block for callers whose API has no error: an invalid key there
// is a programming error.
func (k Key) mustBlock() cipher.Block {
	b, err := k.block()
	if err != nil {
		panic(err)
	}
	return b
}
