package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
)

// Token text: Prefix, IDLen hex digits, '_', SecretLen base64url characters.
const (
	Prefix      = "tlk_"
	IDLen       = 16 // 8 random bytes in hex
	secretBytes = 32
	SecretLen   = 43 // base64url of 32 bytes, unpadded
	// TextLen is the length of every valid token text.
	TextLen = len(Prefix) + IDLen + 1 + SecretLen
)

// Hash is what is stored of a secret: SHA-256 of its text.
type Hash [sha256.Size]byte

// HashSecret hashes a token's secret part (as text).
func HashSecret(secret []byte) Hash { return sha256.Sum256(secret) }

// Generate makes a new token from r (crypto/rand when nil): its id, its
// full text (to show the user once) and the hash to store.
func Generate(r io.Reader) (id, text string, h Hash, err error) {
	if r == nil {
		r = rand.Reader
	}
	var b [8 + secretBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", "", Hash{}, err
	}
	id = hex.EncodeToString(b[:8])
	secret := base64.RawURLEncoding.EncodeToString(b[8:])
	return id, Prefix + id + "_" + secret, HashSecret([]byte(secret)), nil
}

// ErrMalformed: the text is not a token.
var ErrMalformed = errors.New("malformed token")

// Parse splits a token text into its id and secret (sub-slices of b,
// nothing allocated). Everything is checked: the prefix, the length, lower
// case hex digits for the id, base64url characters for the secret.
func Parse(b []byte) (id, secret []byte, err error) {
	if len(b) != TextLen || string(b[:len(Prefix)]) != Prefix || b[len(Prefix)+IDLen] != '_' {
		return nil, nil, ErrMalformed
	}
	id = b[len(Prefix) : len(Prefix)+IDLen]
	secret = b[len(Prefix)+IDLen+1:]
	if !ValidID(id) {
		return nil, nil, ErrMalformed
	}
	for _, c := range secret {
		if !isB64URL(c) {
			return nil, nil, ErrMalformed
		}
	}
	return id, secret, nil
}

// ValidID reports whether id is a token id: IDLen lower case hex digits.
func ValidID[T ~string | ~[]byte](id T) bool {
	if len(id) != IDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isB64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
