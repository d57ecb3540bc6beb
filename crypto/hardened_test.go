package crypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

const testWindow = 2 * time.Minute

var testNow = time.UnixMilli(1795449600000)

// hfix is a key, an Opener with a replay cache that knows only that key, and
// a second key the Opener does not know.
type hfix struct {
	k, other   *HardenedKey
	o          *Opener
	rc         *ReplayCache
	ref        [16]byte
	plain      []byte
	reqTS      time.Time
	openerNoRC *Opener
}

func newHfix(t testing.TB) *hfix {
	k := seqKey(t, 16, 0)
	other := seqKey(t, 16, 1)
	rc := NewReplayCache(testWindow, 1000, 4)
	return &hfix{
		k: k.Hardened(), other: other.Hardened(),
		o:          NewOpener(LookupKeys(k), testWindow, rc),
		openerNoRC: NewOpener(LookupKeys(k), testWindow, nil),
		rc:         rc,
		ref:        [16]byte{1, 2, 3},
		plain:      []byte(`{"id":1,"cmd":"ping"}`),
		reqTS:      testNow,
	}
}

func (f *hfix) request() []byte {
	return Seal(nil, f.k, FlagFinal, f.reqTS, 0, f.ref, f.plain)
}

// reseal decodes a line's body, lets mutate change it, and signs it again
// with crypto/hmac, so the result has a valid MAC: the checks after the MAC
// (padding, flags, time, shape) are then what must reject it.
func reseal(t testing.TB, k *HardenedKey, line []byte, mutate func(body []byte) []byte) []byte {
	t.Helper()
	body := decodeBody(t, line)
	body = mutate(body[:len(body)-tagLen])
	m := hmac.New(sha256.New, k.mac[:])
	m.Write([]byte(macDomain))
	m.Write(body)
	body = m.Sum(body)
	return encodeBody(body)
}

func decodeBody(t testing.TB, line []byte) []byte {
	t.Helper()
	s := strings.TrimSuffix(strings.TrimPrefix(string(line), hardenedPrefix), "\n")
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encodeBody(body []byte) []byte {
	return []byte(hardenedPrefix + base64.StdEncoding.EncodeToString(body) + "\n")
}

func TestHardenedRoundTrip(t *testing.T) {
	f := newHfix(t)
	for _, size := range []int{0, 1, 15, 16, 17, 1000, MaxFramePlain - 1, MaxFramePlain} {
		for _, flags := range []byte{FlagFinal, FlagReply, FlagReply | FlagFinal} {
			pt := pseudo(size, uint64(size))
			ref := NewRef()
			seq := uint32(7) // reply frames may have any seq; a request is one frame, seq 0
			if flags&FlagReply == 0 {
				seq = 0
			}
			line := Seal([]byte("prefix"), f.k, flags, testNow.Add(-time.Second), seq, ref, pt)
			line = line[len("prefix"):]
			if len(line) > MaxFrameLine(size) || line[len(line)-1] != '\n' || bytes.Count(line, []byte("\n")) != 1 {
				t.Fatalf("size %d: line of %d bytes, MaxFrameLine %d", size, len(line), MaxFrameLine(size))
			}
			got, h, err := f.o.Open([]byte("dst:"), line, testNow, flags&FlagReply != 0)
			if err != nil || !bytes.Equal(got[4:], pt) || string(got[:4]) != "dst:" {
				t.Fatalf("size %d flags %x: Open: %v", size, flags, err)
			}
			want := Header{KID: f.k.KID, Flags: flags, TS: testNow.Add(-time.Second), Seq: seq, Ref: ref}
			if h != want {
				t.Fatalf("header %+v, want %+v", h, want)
			}
		}
	}
	if n := len(Seal(nil, f.k, 0, testNow, 0, f.ref, make([]byte, MaxFramePlain))); n != MaxFrameLine(MaxFramePlain) {
		t.Fatalf("max frame line %d, MaxFrameLine %d", n, MaxFrameLine(MaxFramePlain))
	}
}

// A request is one message of a single frame (PROTOCOL §9.3): the frames
// of a longer message, a frame without the final flag and a frame with
// seq > 0 are all refused, and none enters the replay cache.
func TestHardenedRequestIsOneFrame(t *testing.T) {
	f := newHfix(t)
	lines := bytes.SplitAfter(SealMessage(nil, f.k, false, testNow, f.ref, pseudo(2*MaxFramePlain+5, 1)), []byte("\n"))
	for i, line := range lines[:3] {
		if _, _, err := f.o.Open(nil, line, testNow, false); err != ErrBadFrame {
			t.Fatalf("frame %d of a 3-frame request: %v, want ErrBadFrame", i, err)
		}
	}
	for _, tt := range []struct {
		flags byte
		seq   uint32
	}{{0, 0}, {0, 1}, {FlagFinal, 1}, {FlagFinal, 1 << 31}} {
		line := Seal(nil, f.k, tt.flags, testNow, tt.seq, NewRef(), f.plain)
		if _, _, err := f.o.Open(nil, line, testNow, false); err != ErrBadFrame {
			t.Fatalf("request flags %#x seq %d: %v, want ErrBadFrame", tt.flags, tt.seq, err)
		}
	}
	if f.rc.Len() != 0 {
		t.Fatalf("refused frames entered the replay cache: %d", f.rc.Len())
	}
	if _, _, err := f.o.Open(nil, f.request(), testNow, false); err != nil {
		t.Fatalf("single final frame, seq 0: %v", err)
	}
}

// OpenRequest refuses a frame dated before the session's previous one, so
// the requests of a session cannot be reordered; equal timestamps pass.
func TestOpenRequestOrder(t *testing.T) {
	f := newHfix(t)
	seal := func(ts time.Time) []byte { return Seal(nil, f.k, FlagFinal, ts, 0, NewRef(), f.plain) }
	first, second := seal(testNow.Add(-time.Second)), seal(testNow)
	// Delivered in order: both pass.
	_, h, err := f.o.OpenRequest(nil, first, testNow, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, h, err = f.o.OpenRequest(nil, second, testNow, h.TS); err != nil {
		t.Fatal(err)
	}
	// Swapped: the later one first, then the earlier one is refused.
	a, b := seal(testNow.Add(-time.Second)), seal(testNow)
	if _, h, err = f.o.OpenRequest(nil, b, testNow, time.Time{}); err != nil {
		t.Fatal(err)
	}
	n := f.rc.Len()
	if _, _, err := f.o.OpenRequest(nil, a, testNow, h.TS); err != ErrBadFrame {
		t.Fatalf("frame older than the session's previous one: %v, want ErrBadFrame", err)
	}
	if f.rc.Len() != n {
		t.Fatal("a reordered frame entered the replay cache")
	}
	if _, _, err := f.o.OpenRequest(nil, seal(h.TS), testNow, h.TS); err != nil {
		t.Fatalf("same millisecond as the previous frame: %v", err)
	}
}

func TestSealMessageFrames(t *testing.T) {
	f := newHfix(t)
	for _, tt := range []struct{ size, frames int }{
		{0, 1}, {1, 1}, {MaxFramePlain, 1}, {MaxFramePlain + 1, 2}, {2 * MaxFramePlain, 2}, {200000, 4},
	} {
		lines := bytes.SplitAfter(SealMessage(nil, f.k, true, testNow, f.ref, pseudo(tt.size, 2)), []byte("\n"))
		lines = lines[:len(lines)-1]
		if len(lines) != tt.frames {
			t.Fatalf("size %d: %d frames, want %d", tt.size, len(lines), tt.frames)
		}
		for i, line := range lines {
			_, h, err := f.o.Open(nil, line, testNow, true)
			if err != nil || h.Seq != uint32(i) || h.Flags != FlagReply|boolFlag(i == len(lines)-1, FlagFinal) {
				t.Fatalf("size %d frame %d: %v %+v", tt.size, i, err, h)
			}
		}
	}
}

func boolFlag(b bool, f byte) byte {
	if b {
		return f
	}
	return 0
}

// Every kind of bad input Open must reject, each with ErrBadFrame, dst
// unchanged, a zero header, and nothing added to the replay cache.
func TestOpenRejects(t *testing.T) {
	f := newHfix(t)
	good := f.request()
	text := good[len(hardenedPrefix) : len(good)-1]
	withTS := func(ts time.Time) []byte { return Seal(nil, f.k, FlagFinal, ts, 0, f.ref, f.plain) }
	setFlags := func(fl byte) []byte {
		return reseal(t, f.k, good, func(b []byte) []byte { b[offFlags] = fl; return b })
	}
	// badPad builds a frame whose MAC is valid but whose last plaintext block
	// has the given (invalid) padding.
	badPad := func(last string) []byte {
		return reseal(t, f.k, good, func(b []byte) []byte {
			ct := []byte(last)
			cbcEncrypt(f.k.block, b[offIV:offCT], ct)
			return append(b[:offCT], ct...)
		})
	}
	badChar := bytes.Clone(good)
	badChar[len(hardenedPrefix)+10] = '!'
	// A 2-byte plaintext gives a 101-byte body: base64 ends in "=".
	small := Seal(nil, f.k, FlagFinal, testNow, 0, [16]byte{9}, []byte("hi"))
	nonCanonical := bytes.Clone(small)
	if i := bytes.IndexByte(nonCanonical, '='); i > 0 { // low bits of the char before "=" must be 0
		v := strings.IndexByte(b64Alphabet, nonCanonical[i-1])
		nonCanonical[i-1] = b64Alphabet[v|1]
	} else {
		t.Fatal("fixture body has no base64 padding")
	}
	tests := []struct {
		name      string
		line      []byte
		wantReply bool
		o         *Opener
	}{
		{"wrong key", Seal(nil, f.other, FlagFinal, testNow, 0, f.ref, f.plain), false, nil},
		{"known kid, other key", reseal(t, f.other, good, func(b []byte) []byte { return b }), false, nil},
		{"lookup returns key with other kid", Seal(nil, f.other, FlagFinal, testNow, 0, f.ref, f.plain), false,
			NewOpener(func([8]byte) *HardenedKey { return f.k }, testWindow, nil)},
		{"truncated by a quad", append(bytes.Clone(good[:len(good)-5]), '\n'), false, nil},
		{"truncated by half", good[:len(good)/2], false, nil},
		{"truncated body", encodeBody(decodeBody(t, good)[:100]), false, nil},
		{"body without one block", encodeBody(append(decodeBody(t, good)[:offCT], decodeBody(t, good)[offCT+16:]...)), false, nil},
		{"extended body", encodeBody(append(decodeBody(t, good), make([]byte, 16)...)), false, nil},
		{"extended text", append(bytes.Clone(good[:len(good)-1]), "AAAA\n"...), false, nil},
		{"two lines", append(bytes.Clone(good), good...), false, nil},
		{"newline inside base64", []byte(hardenedPrefix + string(text[:8]) + "\n" + string(text[8:])), false, nil},
		{"CRLF", append(bytes.Clone(good[:len(good)-1]), "\r\n"...), false, nil},
		{"expired", withTS(testNow.Add(-testWindow - time.Millisecond)), false, nil},
		{"future", withTS(testNow.Add(testWindow + time.Millisecond)), false, nil},
		{"epoch", withTS(time.UnixMilli(0)), false, nil},
		{"ts with sign bit", reseal(t, f.k, good, func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[offTS:], 1<<63|uint64(testNow.UnixMilli()))
			return b
		}), false, nil},
		{"request where reply wanted", good, true, nil},
		{"reply where request wanted", Seal(nil, f.k, FlagReply|FlagFinal, testNow, 0, f.ref, f.plain), false, nil},
		{"unknown flag 0x04", setFlags(FlagFinal | 0x04), false, nil},
		{"request without final flag", setFlags(0), false, nil},
		{"request seq 1", reseal(t, f.k, good, func(b []byte) []byte { b[offSeq+3] = 1; return b }), false, nil},
		{"unknown flag 0x80", setFlags(0x80), false, nil},
		{"all flags", setFlags(0xff), true, nil},
		{"padding 0", badPad("0123456789abcde\x00"), false, nil},
		{"padding 17", badPad("0123456789abcde\x11"), false, nil},
		{"padding inconsistent", badPad("0123456789abc\x02\x03\x03"), false, nil},
		{"ciphertext not whole blocks", reseal(t, f.k, good, func(b []byte) []byte { return b[:offCT+5] }), false, nil},
		{"no ciphertext", reseal(t, f.k, good, func(b []byte) []byte { return b[:offCT] }), false, nil},
		{"bad base64 char", badChar, false, nil},
		{"url alphabet", []byte(hardenedPrefix + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 117)) + "\n"), false, nil},
		{"missing base64 padding", []byte(strings.Replace(string(small), "=", "", -1)), false, nil},
		{"non-canonical padding bits", nonCanonical, false, nil},
		{"oversized", []byte(hardenedPrefix + strings.Repeat("A", MaxFrameLine(MaxFramePlain)) + "\n"), false, nil},
		{"oversized valid prefix", append(bytes.Clone(good[:len(good)-1]), strings.Repeat("A", MaxFrameLine(MaxFramePlain))...), false, nil},
		{"empty", nil, false, nil},
		{"newline only", []byte("\n"), false, nil},
		{"prefix only", []byte(hardenedPrefix + "\n"), false, nil},
		{"other version", []byte("tl2:" + string(good[4:])), false, nil},
		{"upper-case prefix", []byte("TL1:" + string(good[4:])), false, nil},
		{"no prefix", good[4:], false, nil},
		{"legacy request", LegacyRequest(seqKey(t, 16, 0), f.plain), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			if o == nil {
				o = f.o
			}
			before := f.rc.Len()
			dst := []byte("keep")
			pt, h, err := o.Open(dst, tt.line, testNow, tt.wantReply)
			if err != ErrBadFrame || string(pt) != "keep" || h != (Header{}) {
				t.Fatalf("Open = %q, %+v, %v; want keep, zero header, ErrBadFrame", pt, h, err)
			}
			if f.rc.Len() != before {
				t.Fatal("a rejected frame entered the replay cache")
			}
		})
	}

	// And the good frame is accepted exactly once.
	if _, _, err := f.o.Open(nil, good, testNow, false); err != nil {
		t.Fatalf("good frame: %v", err)
	}
	if _, _, err := f.o.Open(nil, good, testNow, false); err != ErrBadFrame {
		t.Fatalf("replayed frame: %v", err)
	}
	if _, _, err := f.o.Open(nil, good[:len(good)-1], testNow.Add(time.Minute), false); err != ErrBadFrame {
		t.Fatalf("replayed frame without newline, later: %v", err)
	}
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// The window is inclusive at both ends.
func TestOpenWindowEdges(t *testing.T) {
	f := newHfix(t)
	for _, d := range []time.Duration{-testWindow, 0, testWindow} {
		line := Seal(nil, f.k, FlagReply|FlagFinal, testNow.Add(d), 0, f.ref, nil)
		if _, _, err := f.o.Open(nil, line, testNow, true); err != nil {
			t.Fatalf("ts now%+v: %v", d, err)
		}
	}
}

// Flipping any single bit, of the body or of the line text, must be caught.
func TestOpenBitFlip(t *testing.T) {
	f := newHfix(t)
	good := Seal(nil, f.k, FlagFinal, testNow, 0, f.ref, []byte("hi"))
	body := decodeBody(t, good)
	for i := range len(body) * 8 {
		b := bytes.Clone(body)
		b[i/8] ^= 1 << (i % 8)
		if _, _, err := f.openerNoRC.Open(nil, encodeBody(b), testNow, false); err != ErrBadFrame {
			t.Fatalf("body bit %d flipped: %v", i, err)
		}
	}
	for i := range len(good) * 8 {
		l := bytes.Clone(good)
		l[i/8] ^= 1 << (i % 8)
		if _, _, err := f.openerNoRC.Open(nil, l, testNow, false); err != ErrBadFrame {
			t.Fatalf("line bit %d (byte %d %q) flipped: %v", i, i/8, good[i/8], err)
		}
	}
	if pt, _, err := f.openerNoRC.Open(nil, good, testNow, false); err != nil || string(pt) != "hi" {
		t.Fatalf("unflipped frame: %q, %v", pt, err)
	}
}

// HardenedKey.sum is HMAC written out; it must equal crypto/hmac.
func TestSumIsHMAC(t *testing.T) {
	k := seqKey(t, 32, 5).Hardened()
	for _, n := range []int{0, 1, 55, 56, 64, 1000} {
		msg := pseudo(n, uint64(n))
		buf := append(make([]byte, macScratch), msg...)
		got := k.sum(buf)
		m := hmac.New(sha256.New, k.mac[:])
		m.Write([]byte(macDomain))
		m.Write(msg)
		if !hmac.Equal(got[:], m.Sum(nil)) {
			t.Fatalf("len %d: sum differs from crypto/hmac", n)
		}
		if !bytes.Equal(buf[:sha256.BlockSize], make([]byte, sha256.BlockSize)) {
			t.Fatal("sum left key material in the scratch")
		}
	}
}

// cbcEncrypt/cbcDecrypt must equal crypto/cipher's CBC.
func TestCBCMatchesStdlib(t *testing.T) {
	k := seqKey(t, 32, 3)
	for _, size := range []int{16, 32, 4096} {
		pt := pseudo(size, 9)
		ct := bytes.Clone(pt)
		cbcEncrypt(k.c.block, k.IV, ct)
		want := opensslEnc(t, "aes-256-cbc", k.AES, k.IV, pt)[:size] // openssl adds a pad block
		if !bytes.Equal(ct, want) {
			t.Fatalf("size %d: encryption differs", size)
		}
		cbcDecrypt(k.c.block, k.IV, ct)
		if !bytes.Equal(ct, pt) {
			t.Fatalf("size %d: decryption differs", size)
		}
	}
}

func TestUnpad(t *testing.T) {
	for p := 0; p <= 255; p++ {
		for _, fill := range []byte{0, byte(p), byte(p) ^ 1} {
			b := bytes.Repeat([]byte{0xaa}, 32)
			for i := 0; i < min(p, 16); i++ {
				b[31-i] = byte(p)
			}
			if p >= 2 && p <= 16 {
				b[32-p] = fill
			}
			b[31] = byte(p)
			valid := p >= 1 && p <= 16 && (p < 2 || fill == byte(p))
			n, ok := unpad(b)
			if (ok == 1) != valid || (valid && n != 32-p) || (!valid && n != 32) {
				t.Fatalf("pad %d fill %d: n=%d ok=%d, want valid %v", p, fill, n, ok, valid)
			}
		}
	}
}

func TestOpenerConcurrent(t *testing.T) {
	f := newHfix(t)
	done := make(chan error)
	for g := range 4 {
		go func() {
			var dst []byte
			var err error
			for i := range 200 {
				ref := [16]byte{byte(g), byte(i)}
				line := Seal(nil, f.k, FlagFinal, testNow, 0, ref, f.plain)
				if dst, _, err = f.o.Open(dst[:0], line, testNow, false); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if f.rc.Len() != 800 {
		t.Fatalf("cache has %d entries, want 800", f.rc.Len())
	}
}

func TestHardenedNoAllocs(t *testing.T) {
	f := newHfix(t)
	pt := make([]byte, 1024)
	var dst []byte
	dst = Seal(dst, f.k, FlagReply, testNow, 0, f.ref, pt)
	if n := testing.AllocsPerRun(100, func() { dst = Seal(dst[:0], f.k, FlagReply, testNow, 0, f.ref, pt) }); n != 0 {
		t.Errorf("Seal: %v allocations", n)
	}
	line := bytes.Clone(dst)
	var out []byte
	out, _, _ = f.o.Open(out, line, testNow, true)
	if n := testing.AllocsPerRun(100, func() { out, _, _ = f.o.Open(out[:0], line, testNow, true) }); n != 0 {
		t.Errorf("Open: %v allocations", n)
	}
	line[20] ^= 1
	if n := testing.AllocsPerRun(100, func() { out, _, _ = f.o.Open(out[:0], line, testNow, true) }); n != 0 {
		t.Errorf("Open (bad): %v allocations", n)
	}
}

func TestSealPanics(t *testing.T) {
	k := seqKey(t, 16, 0).Hardened()
	for name, fn := range map[string]func(){
		"too long":      func() { Seal(nil, k, 0, testNow, 0, [16]byte{}, make([]byte, MaxFramePlain+1)) },
		"unknown flags": func() { Seal(nil, k, 0x04, testNow, 0, [16]byte{}, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
}

func TestMaxFrameLine(t *testing.T) {
	// 4 + base64(53 + 65552 + 32) + 1
	if got, want := MaxFrameLine(MaxFramePlain), 4+(65637+2)/3*4+1; got != want {
		t.Fatalf("MaxFrameLine = %d, want %d", got, want)
	}
	for _, n := range []int{0, 1, 15, 16, 1000} {
		if got := len(Seal(nil, seqKey(t, 16, 0).Hardened(), 0, testNow, 0, [16]byte{}, make([]byte, n))); got != MaxFrameLine(n) {
			t.Fatalf("plain %d: line %d, MaxFrameLine %d", n, got, MaxFrameLine(n))
		}
	}
}

// FuzzHardenedOpen: Open never panics, and never accepts anything but the
// exact valid lines it was seeded with (a mutation that is a no-op).
func FuzzHardenedOpen(f *testing.F) {
	k := seqKey(f, 16, 0).Hardened()
	o := NewOpener(func(kid [8]byte) *HardenedKey {
		if kid == k.KID {
			return k
		}
		return nil
	}, testWindow, nil)
	valid := map[string]string{}
	for i, pt := range []string{"", "hi", `{"id":1,"cmd":"ping"}`, strings.Repeat("x", 100)} {
		for _, flags := range []byte{FlagFinal, FlagReply | FlagFinal, 0} {
			line := seal(nil, k, flags, uint64(testNow.UnixMilli()), uint32(i), [16]byte{byte(i)}, &[16]byte{flags}, []byte(pt))
			valid[string(line[:len(line)-1])] = pt
			f.Add(line)
		}
	}
	f.Add([]byte("tl1:\n"))
	f.Add([]byte("tl1:AAAA"))
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, wantReply := range []bool{false, true} {
			pt, h, err := o.Open([]byte("x"), line, testNow, wantReply)
			if err != nil {
				if err != ErrBadFrame || string(pt) != "x" {
					t.Fatalf("Open failed with %v, dst %q", err, pt)
				}
				continue
			}
			want, ok := valid[strings.TrimSuffix(string(line), "\n")]
			if !ok || string(pt[1:]) != want || (h.Flags&FlagReply != 0) != wantReply {
				t.Fatalf("Open accepted a mutated line %q", line)
			}
		}
	})
}

// FuzzHardenedRoundTrip: whatever Seal writes, Open returns unchanged.
func FuzzHardenedRoundTrip(f *testing.F) {
	k := seqKey(f, 32, 0).Hardened()
	o := NewOpener(LookupKeys(seqKey(f, 32, 0)), testWindow, nil)
	f.Add([]byte("listcalls"), byte(0), uint32(0), int64(1795449600000))
	f.Add([]byte{}, byte(3), uint32(1<<31), int64(0))
	f.Add(bytes.Repeat([]byte{0x10}, 4096), byte(1), uint32(5), int64(1<<40))
	f.Fuzz(func(t *testing.T, pt []byte, flags byte, seq uint32, ms int64) {
		flags &= FlagReply | FlagFinal
		ms &= 1<<50 - 1
		if len(pt) > MaxFramePlain {
			pt = pt[:MaxFramePlain]
		}
		ts := time.UnixMilli(ms)
		ref := [16]byte{byte(seq), flags}
		line := Seal(nil, k, flags, ts, seq, ref, pt)
		got, h, err := o.Open(nil, line, ts.Add(time.Second), flags&FlagReply != 0)
		if flags&FlagReply == 0 && (flags != FlagFinal || seq != 0) {
			if err != ErrBadFrame {
				t.Fatalf("request frame with flags %#x seq %d: %v, want ErrBadFrame", flags, seq, err)
			}
			return // a request is a single final frame with seq 0
		}
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("round trip: %v", err)
		}
		if h != (Header{KID: k.KID, Flags: flags, TS: ts, Seq: seq, Ref: ref}) {
			t.Fatalf("header %+v", h)
		}
		if msg := SealMessage(nil, k, true, ts, ref, pt); !bytes.HasPrefix(msg, []byte(hardenedPrefix)) {
			t.Fatalf("SealMessage: %q", msg[:4])
		}
	})
}
