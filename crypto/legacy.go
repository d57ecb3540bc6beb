package crypto

import (
	"bytes"
	"errors"
	"fmt"
)

// Legacy framing, byte-compatible with VoIPmonitor's manager port (its
// manager AES class on the server side, its send_manager_cmd client side):
//
//	request: <cipher-name> ":" AES-CBC(key, iv, PKCS#7(command)) ":sea"
//	reply:   "aes:" AES-CBC(key, iv, PKCS#7(whole reply))   (nothing at all if empty)
//
// Key and IV are the same for every message. See the package comment for
// what that means for security.

var (
	// ErrLegacyFrame: the bytes are not a legacy frame or reply at all
	// (no "aes" prefix, no name colon, no ":sea" trailer, no "aes:" prefix,
	// truncated ciphertext).
	ErrLegacyFrame = errors.New("crypto: malformed legacy frame")
	// ErrLegacyCipher: the request names a cipher that no configured key can
	// serve. tapline accepts only what the GUI sends: aes-128/192/256-cbc
	// matching the key length, or "aes" for a 16-byte key.
	ErrLegacyCipher = errors.New("crypto: legacy cipher name not allowed")
	// ErrLegacyDecrypt: no key decrypts the ciphertext to valid PKCS#7
	// padding (or, for a server's LegacyDecrypt with accept, to an accepted
	// command line, whatever the padding: then it is the only error).
	// VoIPmonitor answers this with "failed aes decrypt!\n"; tapline
	// answers like an unknown command so the reply is no padding oracle.
	ErrLegacyDecrypt = errors.New("crypto: legacy decrypt failed")
)

const (
	legacyMaxName     = 19 // VoIPmonitor requires the cipher name to be shorter than 20
	legacySea         = ":sea"
	legacyReplyPrefix = "aes:"
	// seaRetries bounds LegacyRequest's re-encryptions. Each ciphertext
	// block contains ":sea" with probability about 2^-30, so one retry
	// already practically never happens.
	seaRetries = 4
)

// IsLegacy reports whether buf starts like a legacy request: "aes",
// case-insensitively, as VoIPmonitor's isAes checks. It needs 3 bytes.
func IsLegacy(buf []byte) bool {
	return len(buf) >= 3 && hasAESPrefix(buf[:3])
}

// MaybeLegacy reports whether buf is too short to tell but could still become
// a legacy request: shorter than 3 bytes and a case-insensitive prefix of
// "aes". It is true for an empty buf.
func MaybeLegacy(buf []byte) bool {
	return len(buf) < 3 && hasAESPrefix(buf)
}

func hasAESPrefix(b []byte) bool {
	for i, c := range b {
		if c|0x20 != "aes"[i] { // |0x20 lower-cases exactly 'A', 'E', 'S' here
			return false
		}
	}
	return true
}

// LegacyFrameEnd finds the end of a legacy request at the start of buf, for
// servers that read a stream. end is the index just after ":sea";
// complete == false means more bytes are needed (the caller bounds its
// buffer). err is set when buf cannot become a legacy frame.
//
// The frame ends at the first ":sea" that starts a positive whole number of
// 16-byte blocks after the name's colon. VoIPmonitor cuts at the first ":sea"
// anywhere, so ciphertext that happens to contain ":sea" fails there; here it
// only fails when ":sea" falls exactly on a block boundary.
func LegacyFrameEnd(buf []byte) (end int, complete bool, err error) {
	if !IsLegacy(buf) {
		if MaybeLegacy(buf) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("%w: does not start with \"aes\"", ErrLegacyFrame)
	}
	colon := bytes.IndexByte(buf[:min(len(buf), legacyMaxName+1)], ':')
	if colon < 0 {
		if len(buf) > legacyMaxName {
			return 0, false, fmt.Errorf("%w: cipher name longer than %d bytes", ErrLegacyFrame, legacyMaxName)
		}
		return 0, false, nil
	}
	for i := colon + 1 + blockSize; i+len(legacySea) <= len(buf); i += blockSize {
		if string(buf[i:i+len(legacySea)]) == legacySea {
			return i + len(legacySea), true, nil
		}
	}
	return 0, false, nil
}

// LegacyRequest builds an encrypted request as VoIPmonitor's GUI does,
// with k.CipherName(). VoIPmonitor cuts the ciphertext at the first ":sea"
// in the frame, so if the ciphertext contains one, a space is appended to the
// plaintext (commands ignore trailing white space) and it is encrypted again.
// k must be a valid key; LegacyRequest panics otherwise.
func LegacyRequest(k Key, plaintext []byte) []byte {
	block := k.mustBlock()
	name := k.CipherName()
	pt := plaintext
	for try := 0; ; try++ {
		frame := make([]byte, len(name)+1+paddedLen(len(pt))+len(legacySea))
		n := copy(frame, name)
		frame[n] = ':'
		ct := frame[n+1 : len(frame)-len(legacySea)]
		copy(ct, pt)
		cbcEncrypt(block, k.IV, pad(ct, len(pt)))
		copy(frame[len(frame)-len(legacySea):], legacySea)
		if try == seaRetries || bytes.Index(frame, []byte(legacySea)) == len(frame)-len(legacySea) {
			return frame
		}
		pt = append(pt[:len(pt):len(pt)], ' ') // never write into the caller's array
	}
}

// AppendLegacyReply appends the reply framing for a reply already in
// memory: "aes:" + one CBC stream with PKCS#7, exactly what LegacyWriter
// produces, without its streaming buffers. An empty reply appends nothing.
func AppendLegacyReply(dst []byte, k Key, plain []byte) []byte {
	if len(plain) == 0 {
		return dst
	}
	dst = append(dst, legacyReplyPrefix...)
	start := len(dst)
	dst = append(dst, plain...)
	dst = append(dst, make([]byte, paddedLen(len(plain))-len(plain))...)
	ct := dst[start:]
	cbcEncrypt(k.mustBlock(), k.IV, pad(ct, len(plain)))
	return dst
}

// LegacyDecrypt decrypts a whole request frame (name ":" ciphertext ":sea",
// as delimited by LegacyFrameEnd). keys are tried in order, current key
// first, then keys still in their rotation grace period, skipping those the
// cipher name does not allow.
//
// With accept set (servers), the padding is never checked, so nothing can
// observe whether it was valid: the legacy framing has a static IV and no
// MAC, and any difference between valid and invalid padding, even one
// reached only by prefixing a captured block that decrypts to a known
// command, is a padding oracle that decrypts captured traffic without the
// key (issue 9 item 6). Each key decrypts the whole ciphertext (any
// positive whole number of blocks), and the plaintext is the command line
// (LegacyLine): everything before the first control byte. PKCS#7 padding
// bytes are all control bytes, so a valid request yields exactly the line
// it always did. The first key whose line accept takes (one that names a
// known command) wins; a frame that no key decrypts to an accepted line
// fails with ErrLegacyDecrypt, and so does every malformed frame. The
// caller must answer every failure the same way, on the same path (see
// docs/PROTOCOL.md §9.2).
//
// With accept nil (clients, tests, tools that read a captured request) the
// first key with valid PKCS#7 padding wins and the whole unpadded plaintext
// is returned. A wrong key yields valid padding about once in 256 tries, so
// such a plaintext may be garbage: that is inherent in the legacy framing.
// A server must never use this mode.
func LegacyDecrypt(keys []Key, frame []byte, accept func(line []byte) bool) (plaintext []byte, used Key, err error) {
	name, ct, err := splitLegacy(frame)
	if err != nil {
		if accept != nil {
			return nil, Key{}, ErrLegacyDecrypt
		}
		return nil, Key{}, err
	}
	var (
		buf     []byte
		allowed bool
	)
	for _, k := range keys {
		if !legacyNameFits(name, len(k.AES)) {
			continue
		}
		allowed = true
		if len(ct) == 0 || len(ct)%blockSize != 0 {
			break
		}
		if buf == nil {
			buf = make([]byte, len(ct))
		}
		if !legacyOpen(k, ct, buf) {
			continue
		}
		if accept != nil {
			if line := LegacyLine(buf); accept(line) {
				return line, k, nil
			}
			continue
		}
		if n, ok := unpad(buf); ok == 1 {
			return buf[:n], k, nil
		}
	}
	if !allowed && accept == nil {
		return nil, Key{}, ErrLegacyCipher
	}
	return nil, Key{}, ErrLegacyDecrypt
}

// LegacyLine is the command line of a decrypted legacy request: plain up
// to its first byte below 0x20 other than '\t'. That cut covers the line
// end ('\n', "\r\n"), a C string's NUL and every PKCS#7 padding byte
// (0x01..0x10), so the padding needs no check: for every request a
// VoIPmonitor GUI sends (one line, optionally followed by a line end or
// "\r\n\r\n" and more) it is the line VoIPmonitor runs.
func LegacyLine(plain []byte) []byte {
	for i, c := range plain {
		if c < 0x20 && c != '\t' {
			return plain[:i]
		}
	}
	return plain
}

// splitLegacy cuts a request frame into cipher name and ciphertext.
func splitLegacy(frame []byte) (name, ct []byte, err error) {
	if !IsLegacy(frame) {
		return nil, nil, fmt.Errorf("%w: does not start with \"aes\"", ErrLegacyFrame)
	}
	colon := bytes.IndexByte(frame[:min(len(frame), legacyMaxName+1)], ':')
	if colon < 0 {
		return nil, nil, fmt.Errorf("%w: no cipher name of 1..%d bytes", ErrLegacyFrame, legacyMaxName)
	}
	if len(frame) < colon+1+len(legacySea) || !bytes.HasSuffix(frame, []byte(legacySea)) {
		return nil, nil, fmt.Errorf("%w: no %q trailer", ErrLegacyFrame, legacySea)
	}
	return frame[:colon], frame[colon+1 : len(frame)-len(legacySea)], nil
}

// legacyNameFits reports whether a request naming cipher name may be
// decrypted with a key of keyLen bytes. VoIPmonitor maps unknown names to
// aes-128-cbc; of those only "aes" is accepted, because it is what the GUI
// and the docs use.
func legacyNameFits(name []byte, keyLen int) bool {
	switch {
	case bytes.EqualFold(name, []byte("aes-128-cbc")), bytes.EqualFold(name, []byte("aes")):
		return keyLen == 16
	case bytes.EqualFold(name, []byte("aes-192-cbc")):
		return keyLen == 24
	case bytes.EqualFold(name, []byte("aes-256-cbc")):
		return keyLen == 32
	}
	return false
}

// legacyOpen decrypts ct (whole blocks) into pt (same length) with k. It
// reports false only for an invalid key: public, it fails every request
// alike.
func legacyOpen(k Key, ct, pt []byte) bool {
	block, err := k.block()
	if err != nil {
		return false
	}
	copy(pt, ct)
	cbcDecrypt(block, k.IV, pt)
	return true
}

// LegacyReplyDecrypt decrypts a whole legacy reply, for clients: strip
// "aes:", decrypt, unpad. An empty reply is an empty plaintext (VoIPmonitor
// sends nothing at all for an empty reply). Use LegacyReplyReader for big
// replies.
func LegacyReplyDecrypt(k Key, reply []byte) ([]byte, error) {
	if len(reply) == 0 {
		return []byte{}, nil
	}
	ct, ok := bytes.CutPrefix(reply, []byte(legacyReplyPrefix))
	if !ok {
		return nil, fmt.Errorf("%w: reply does not start with %q", ErrLegacyFrame, legacyReplyPrefix)
	}
	if len(ct) == 0 || len(ct)%blockSize != 0 {
		return nil, fmt.Errorf("%w: reply ciphertext is %d bytes, not whole blocks", ErrLegacyFrame, len(ct))
	}
	block, err := k.block()
	if err != nil {
		return nil, err
	}
	pt := clone(ct)
	cbcDecrypt(block, k.IV, pt)
	n, valid := unpad(pt)
	if valid != 1 {
		return nil, ErrLegacyDecrypt
	}
	return pt[:n], nil
}
