package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"time"
)

// Hardened framing, tapline's own. One frame is one line:
//
//	line  = "tl1:" base64std(body) "\n"
//	body  = kid[8] | flags[1] | ts[8] | seq[4] | ref[16] | iv[16] | ct[16*n, n>=1] | tag[32]
//	ct    = AES-256-CBC(Kenc, iv, PKCS#7(plaintext))
//	tag   = HMAC-SHA256(Kmac, "tapline/frame/1" || body-without-tag)
//	Kenc, Kmac, kid = HKDF-SHA256(Key.AES || Key.IV, salt "tapline/hardened/1",
//	                  info "enc" / "mac" / "kid", 32 / 32 / 8 bytes)
//
// A line is text so it passes through anything line-based, base64 so it can
// never look like a legacy or plaintext request, and self-contained so a
// server can verify it before it buffers anything else.

const (
	// FlagReply marks a server-to-client frame. A request frame can then never
	// be reflected back to a client as a reply, or the other way round.
	FlagReply byte = 0x01
	// FlagFinal marks the last frame of a message; a missing final frame
	// means a truncated message.
	FlagFinal byte = 0x02

	// MaxFramePlain is the most plaintext one frame carries. Longer messages
	// are split, so a receiver never buffers more than one frame.
	MaxFramePlain = 64 << 10
)

const (
	hardenedPrefix = "tl1:"
	macDomain      = "tapline/frame/1"
	hkdfSalt       = "tapline/hardened/1"

	offFlags = 8
	offTS    = offFlags + 1
	offSeq   = offTS + 8
	offRef   = offSeq + 4
	offIV    = offRef + 16
	offCT    = offIV + blockSize
	tagLen   = sha256.Size
	minBody  = offCT + blockSize + tagLen

	// macScratch is room in front of the body for HMAC's inner pad and the
	// domain string, so the MAC input is one slice (see HardenedKey.sum).
	macScratch = sha256.BlockSize + len(macDomain)
)

// b64 is strict so every body has exactly one accepted encoding: a flipped
// padding bit is a bad frame, not the same frame.
var b64 = base64.StdEncoding.Strict()

var (
	maxBody = bodyLen(MaxFramePlain)
	maxText = len(hardenedPrefix) + b64.EncodedLen(maxBody)
)

// ErrBadFrame is the only error Open returns, whatever was wrong, so the
// error says nothing about which check failed.
var ErrBadFrame = errors.New("bad frame")

// bodyLen is the body length of a frame with plain bytes of plaintext.
func bodyLen(plain int) int { return offCT + paddedLen(plain) + tagLen }

// MaxFrameLine is the longest line, "\n" included, that a frame carrying at
// most maxPlain bytes of plaintext can be. Readers size buffers with it.
func MaxFrameLine(maxPlain int) int {
	return len(hardenedPrefix) + b64.EncodedLen(bodyLen(maxPlain)) + 1
}

// HardenedKey holds the keys of the hardened framing, derived from one Key.
// Get it from Key.Hardened. It is read-only and safe for concurrent use.
type HardenedKey struct {
	KID [8]byte

	enc, mac   [32]byte
	block      cipher.Block // AES-256 with enc
	ipad, opad [sha256.BlockSize]byte
}

// Header is a frame's authenticated header.
type Header struct {
	KID   [8]byte
	Flags byte
	TS    time.Time // sender's clock, millisecond precision
	Seq   uint32
	Ref   [16]byte
}

// deriveHardened derives Kenc, Kmac and the kid from the stored key
// material. HKDF keeps them independent of each other and of the legacy key,
// so a legacy-framing weakness says nothing about them.
func deriveHardened(secret []byte) *HardenedKey {
	k := &HardenedKey{}
	copy(k.enc[:], hkdfKey(secret, "enc", 32))
	copy(k.mac[:], hkdfKey(secret, "mac", 32))
	copy(k.KID[:], hkdfKey(secret, "kid", 8))
	block, err := aes.NewCipher(k.enc[:])
	if err != nil {
		panic(err) // a 32-byte key cannot fail
	}
	k.block = block
	for i := range k.ipad {
		k.ipad[i], k.opad[i] = 0x36, 0x5c
	}
	subtle.XORBytes(k.ipad[:], k.ipad[:], k.mac[:]) // HMAC pads; the key is shorter than a block
	subtle.XORBytes(k.opad[:], k.opad[:], k.mac[:])
	return k
}

func hkdfKey(secret []byte, info string, n int) []byte {
	b, err := hkdf.Key(sha256.New, secret, []byte(hkdfSalt), info, n)
	if err != nil {
		panic(err) // only for absurd lengths
	}
	return b
}

// String shows only the key id, so a key in a log line is safe.
func (k *HardenedKey) String() string {
	return "crypto.HardenedKey(" + hex.EncodeToString(k.KID[:]) + ")"
}

// GoString keeps %#v from printing key material.
func (k *HardenedKey) GoString() string { return k.String() }

// sum returns HMAC-SHA256(Kmac, macDomain || msg) for buf = scratch || msg,
// where scratch is macScratch bytes it may overwrite. HMAC is computed by its
// definition with two sha256.Sum256 calls because hmac.New allocates and
// a shared hash.Hash is not safe for concurrent use.
func (k *HardenedKey) sum(buf []byte) [sha256.Size]byte {
	copy(buf, k.ipad[:])
	copy(buf[sha256.BlockSize:], macDomain)
	inner := sha256.Sum256(buf)
	clear(buf[:sha256.BlockSize]) // do not leave key material in the caller's buffer
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], k.opad[:])
	copy(outer[sha256.BlockSize:], inner[:])
	return sha256.Sum256(outer[:])
}

// NewRef returns a random request reference. Fresh refs are what make the
// replay cache and reply matching work, so they come from crypto/rand.
func NewRef() [16]byte {
	var r [16]byte
	rand.Read(r[:])
	return r
}

// Seal appends one frame line, "\n" included, to dst and returns the
// extended slice. It uses dst's spare capacity as scratch, so with a reused
// dst of sufficient capacity it does not allocate; plaintext must not
// overlap that spare capacity. It panics if plaintext is longer than
// MaxFramePlain or flags has bits other than FlagReply and FlagFinal.
func Seal(dst []byte, k *HardenedKey, flags byte, ts time.Time, seq uint32, ref [16]byte, plaintext []byte) []byte {
	return seal(dst, k, flags, uint64(ts.UnixMilli()), seq, ref, nil, plaintext)
}

// seal is Seal with the IV given, for known-answer tests; iv == nil means a
// random IV. The random IV is read straight into the body: a local array
// passed to rand.Read escapes to the heap in some builds (-race).
func seal(dst []byte, k *HardenedKey, flags byte, ts uint64, seq uint32, ref [16]byte, iv *[16]byte, plaintext []byte) []byte {
	if len(plaintext) > MaxFramePlain {
		panic("crypto: Seal: plaintext longer than MaxFramePlain")
	}
	if flags&^(FlagReply|FlagFinal) != 0 {
		panic("crypto: Seal: unknown flag bits")
	}
	n := bodyLen(len(plaintext))
	lineLen := len(hardenedPrefix) + b64.EncodedLen(n) + 1
	off := len(dst)
	dst = extend(dst, lineLen+macScratch+n)
	line := dst[off : off+lineLen]
	scratch := dst[off+lineLen:]
	body := scratch[macScratch : macScratch+n]

	copy(body, k.KID[:])
	body[offFlags] = flags
	binary.BigEndian.PutUint64(body[offTS:], ts)
	binary.BigEndian.PutUint32(body[offSeq:], seq)
	copy(body[offRef:], ref[:])
	if iv == nil {
		rand.Read(body[offIV:offCT])
	} else {
		copy(body[offIV:], iv[:])
	}
	ct := body[offCT : n-tagLen]
	copy(ct, plaintext)
	cbcEncrypt(k.block, body[offIV:offCT], pad(ct, len(plaintext)))
	tag := k.sum(scratch[:macScratch+n-tagLen])
	copy(body[n-tagLen:], tag[:])

	copy(line, hardenedPrefix)
	b64.Encode(line[len(hardenedPrefix):], body)
	line[lineLen-1] = '\n'
	return dst[:off+lineLen]
}

// extend returns dst with n more bytes of length, reusing capacity.
func extend(dst []byte, n int) []byte {
	return slices.Grow(dst, n)[:len(dst)+n]
}

// SealMessage appends a whole message: frames of MaxFramePlain bytes with
// seq 0, 1, ..., FlagFinal on the last. An empty message is one empty final
// frame.
func SealMessage(dst []byte, k *HardenedKey, reply bool, ts time.Time, ref [16]byte, plaintext []byte) []byte {
	var flags byte
	if reply {
		flags = FlagReply
	}
	for seq := uint32(0); ; seq++ {
		chunk := plaintext[:min(len(plaintext), MaxFramePlain)]
		plaintext = plaintext[len(chunk):]
		if len(plaintext) == 0 {
			return Seal(dst, k, flags|FlagFinal, ts, seq, ref, chunk)
		}
		dst = Seal(dst, k, flags, ts, seq, ref, chunk)
	}
}

// KeyLookup finds the key for a key id; nil means unknown.
type KeyLookup func(kid [8]byte) *HardenedKey

// LookupKeys is a KeyLookup over a fixed set of keys, e.g. the current key
// and the keys in their rotation grace period.
func LookupKeys(keys ...Key) KeyLookup {
	m := make(map[[8]byte]*HardenedKey, len(keys))
	for _, k := range keys {
		h := k.Hardened()
		m[h.KID] = h
	}
	return func(kid [8]byte) *HardenedKey { return m[kid] }
}

// Opener verifies and decrypts frames. It is safe for concurrent use if the
// lookup function is.
type Opener struct {
	lookup KeyLookup
	window time.Duration
	replay *ReplayCache
	dummy  *HardenedKey // stands in for unknown kids, so they cost the same work
}

// NewOpener returns an Opener accepting frames whose timestamp is within
// ±window of the receiver's clock. replay == nil disables replay checks:
// clients reading replies match refs instead. It panics if lookup is nil or
// window is not positive.
func NewOpener(lookup KeyLookup, window time.Duration, replay *ReplayCache) *Opener {
	if lookup == nil || window <= 0 {
		panic("crypto: NewOpener: need a lookup and a positive window")
	}
	return &Opener{lookup: lookup, window: window, replay: replay, dummy: dummyKey()}
}

// dummyKey is the key Openers use for unknown kids: random, derived once per
// process, as deriving it costs more than opening a small frame. Its kid is
// never looked up, so sharing it across Openers reveals nothing.
var dummyKey = sync.OnceValue(func() *HardenedKey {
	var secret [48]byte
	rand.Read(secret[:])
	return deriveHardened(secret[:])
})

// Open verifies and decrypts one frame line (with or without its trailing
// "\n"), appends the plaintext to dst and returns it with the header.
// wantReply says which direction is acceptable; a request frame must have
// exactly FlagFinal and seq 0 (a request is a single frame). Any failure returns dst
// unchanged (its spare capacity was used as scratch and is cleared), a zero
// Header and ErrBadFrame. Like Seal, Open uses dst's spare capacity as
// scratch, so it does not allocate with a reused dst; line must not overlap
// that spare capacity.
//
// Open does the same work for every input of a given length: it decodes
// (or substitutes a zero body), computes the MAC with the kid's key (or a
// dummy key), decrypts and checks padding in constant time, checks the
// header, and only then decides. So neither timing nor the error tells a
// padding failure from a MAC failure from an unknown key. (Invalid base64
// stops decoding early, but whether base64 is valid is no secret.) Request
// frames are added to the replay cache only when everything else passed.
func (o *Opener) Open(dst []byte, line []byte, now time.Time, wantReply bool) (plaintext []byte, h Header, err error) {
	return o.open(dst, line, now, wantReply, time.Time{})
}

// OpenRequest is Open for the request frames of one server session, which
// must come in order (docs/PROTOCOL.md §9.3): after is the timestamp of
// the session's previous accepted frame (zero for the first), and a frame
// dated before it is bad like any other, checked together with everything
// else before the replay cache records it. A man in the middle can then
// no longer swap two requests of a session (unless both carry the same
// millisecond), nor hold one back and deliver it after later ones.
func (o *Opener) OpenRequest(dst []byte, line []byte, now, after time.Time) (plaintext []byte, h Header, err error) {
	return o.open(dst, line, now, false, after)
}

func (o *Opener) open(dst []byte, line []byte, now time.Time, wantReply bool, after time.Time) (plaintext []byte, h Header, err error) {
	off := len(dst)
	text, ok := frameText(line)
	n := shapeBodyLen(len(text))
	dst = extend(dst, macScratch+max(n, b64.DecodedLen(len(text))))
	scratch := dst[off:]
	body := scratch[macScratch:]
	dn, derr := b64.Decode(body, text)
	if derr != nil || dn != n {
		ok = 0
		clear(body[:n])
	}
	body = body[:n]

	key, known := o.key([8]byte(body[:8]))
	tag := key.sum(scratch[:macScratch+n-tagLen])
	ok &= known & b2i(hmac.Equal(tag[:], body[n-tagLen:]))
	ct := body[offCT : n-tagLen]
	cbcDecrypt(key.block, body[offIV:offCT], ct)
	ptLen, padOK := unpad(ct)
	h = parseHeader(body)
	ok &= padOK & o.headerOK(h, now, wantReply) & b2i(!h.TS.Before(after))
	ok &= o.fresh(h, now, ok == 1)
	if ok != 1 {
		clear(scratch)
		return dst[:off], Header{}, ErrBadFrame
	}
	copy(dst[off:], ct)
	return dst[:off+ptLen], h, nil
}

// frameText strips the optional "\n" and the "tl1:" prefix and returns the
// base64 text and 1 if the line's shape is acceptable. The text of an
// oversized line is cut to the longest valid text so the work stays bounded.
func frameText(line []byte) ([]byte, int) {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	ok := 1
	if len(line) > maxText {
		line, ok = line[:maxText], 0
	}
	if len(line) < len(hardenedPrefix) || string(line[:len(hardenedPrefix)]) != hardenedPrefix {
		ok = 0
	}
	text := line[min(len(line), len(hardenedPrefix)):]
	if bytes.IndexByte(text, '\n') >= 0 || bytes.IndexByte(text, '\r') >= 0 {
		ok = 0 // base64 decoding would skip them; a frame line has none
	}
	return text, ok
}

// shapeBodyLen is the body length a well-formed frame with m base64
// characters has: the decoded length rounded down to a valid body length
// and clamped to [minBody, maxBody]. Bad input of the same length gets a
// zero body of this size, so it costs the same work as a real frame.
func shapeBodyLen(m int) int {
	n := m / 4 * 3
	if n < minBody {
		return minBody
	}
	n = minBody + (n-minBody)/blockSize*blockSize
	return min(n, maxBody)
}

// key returns the key for kid, or the dummy key and 0 if kid is unknown.
func (o *Opener) key(kid [8]byte) (*HardenedKey, int) {
	k := o.lookup(kid)
	if k == nil {
		return o.dummy, 0
	}
	return k, subtle.ConstantTimeCompare(k.KID[:], kid[:])
}

func parseHeader(body []byte) Header {
	return Header{
		KID:   [8]byte(body[:8]),
		Flags: body[offFlags],
		TS:    time.UnixMilli(int64(binary.BigEndian.Uint64(body[offTS:]))),
		Seq:   binary.BigEndian.Uint32(body[offSeq:]),
		Ref:   [16]byte(body[offRef:offIV]),
	}
}

// headerOK checks flags, direction, seq and the timestamp window; 1 if all
// pass. A request is one message of a single frame (PROTOCOL §9.3), so a
// request frame has exactly the final flag and seq 0: anything else would
// let frames of one request be dropped or reordered unnoticed.
func (o *Opener) headerOK(h Header, now time.Time, wantReply bool) int {
	ok := b2i(h.Flags&^(FlagReply|FlagFinal) == 0)
	ok &= b2i((h.Flags&FlagReply != 0) == wantReply)
	if !wantReply { // which direction is wanted is no secret
		ok &= b2i(h.Flags == FlagFinal) & b2i(h.Seq == 0)
	}
	d := now.Sub(h.TS) // saturates, never overflows
	ok &= b2i(h.TS.UnixMilli() >= 0 && d >= -o.window && d <= o.window)
	return ok
}

// fresh checks (and, if commit, records) a request frame in the replay
// cache; 1 if it was not seen before. Reply frames and Openers without a
// cache always pass.
func (o *Opener) fresh(h Header, now time.Time, commit bool) int {
	if o.replay == nil || h.Flags&FlagReply != 0 {
		return 1
	}
	return b2i(o.replay.admit(h.KID, replayEntry{ref: h.Ref, seq: h.Seq}, h.TS, now, commit))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
