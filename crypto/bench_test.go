package crypto

import (
	"bufio"
	"bytes"
	"io"
	"testing"
	"time"
)

// Run with: go test -run '^$' -bench . -benchmem ./crypto/
//
// The Open benchmarks use an Opener without a replay cache, so the same
// valid frame can be opened again and again.

var benchSizes = []struct {
	name string
	n    int
}{{"ping", 40}, {"1K", 1 << 10}, {"64K", MaxFramePlain}}

func BenchmarkSeal(b *testing.B) {
	k := seqKey(b, 16, 0).Hardened()
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			pt := pseudo(s.n, 1)
			dst := Seal(nil, k, FlagReply, testNow, 0, [16]byte{}, pt)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				dst = Seal(dst[:0], k, FlagReply, testNow, 0, [16]byte{}, pt)
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			benchOpen(b, s.n, func(line []byte) []byte { return line })
		})
	}
}

// benchOpen opens the frame of n plaintext bytes after spoil has changed it.
func benchOpen(b *testing.B, n int, spoil func(line []byte) []byte) {
	k := seqKey(b, 16, 0)
	o := NewOpener(LookupKeys(k), testWindow, nil)
	line := spoil(Seal(nil, k.Hardened(), FlagReply|FlagFinal, testNow, 0, [16]byte{}, pseudo(n, 1)))
	dst, _, _ := o.Open(nil, line, testNow, true)
	dst = append(dst[:0], make([]byte, macScratch+maxBody)...)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		dst, _, _ = o.Open(dst[:0], line, testNow, true)
	}
}

func benchSpoiled(b *testing.B, spoil func(b testing.TB, line []byte) []byte) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			benchOpen(b, s.n, func(line []byte) []byte { return spoil(b, line) })
		})
	}
}

// The next five should cost about the same: Open does the same work for
// every input of a given length.

func BenchmarkOpenValid(b *testing.B) {
	benchSpoiled(b, func(_ testing.TB, line []byte) []byte { return line })
}

func BenchmarkOpenBadMAC(b *testing.B) {
	benchSpoiled(b, func(t testing.TB, line []byte) []byte {
		body := decodeBody(t, line)
		body[len(body)-1] ^= 1
		return encodeBody(body)
	})
}

// BenchmarkOpenBadBase64 spoils the first character: the decoder stops
// there, so this is the cheapest bad input of a given length.
func BenchmarkOpenBadBase64(b *testing.B) {
	benchSpoiled(b, func(_ testing.TB, line []byte) []byte {
		line[len(hardenedPrefix)] = '!'
		return line
	})
}

func BenchmarkOpenBadPadding(b *testing.B) {
	benchSpoiled(b, func(t testing.TB, line []byte) []byte {
		k := seqKey(t, 16, 0).Hardened()
		return reseal(t, k, line, func(body []byte) []byte {
			body[len(body)-1] ^= 0x55 // last ciphertext byte: garbles the padding
			return body
		})
	})
}

func BenchmarkOpenUnknownKID(b *testing.B) {
	benchSpoiled(b, func(t testing.TB, line []byte) []byte {
		body := decodeBody(t, line)
		body[0] ^= 1
		return encodeBody(body)
	})
}

func BenchmarkLegacyWriter1M(b *testing.B) {
	w := NewLegacyWriter(io.Discard, seqKey(b, 16, 0))
	p := pseudo(1<<20, 1)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		w.Write(p)
	}
}

func BenchmarkLegacyReplyReader1M(b *testing.B) {
	k := seqKey(b, 16, 0)
	var buf bytes.Buffer
	w := NewLegacyWriter(&buf, k)
	w.Write(pseudo(1<<20, 1))
	w.Close()
	reply := buf.Bytes()
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		io.Copy(io.Discard, LegacyReplyReader(bytes.NewReader(reply), k))
	}
}

func BenchmarkLegacyDecrypt1K(b *testing.B) {
	k := seqKey(b, 16, 0)
	req := LegacyRequest(k, pseudo(1<<10, 1))
	keys := []Key{k}
	b.SetBytes(1 << 10)
	b.ReportAllocs()
	for b.Loop() {
		LegacyDecrypt(keys, req, nil)
	}
}

func BenchmarkHardenedWriter1M(b *testing.B) {
	w := NewHardenedWriter(io.Discard, seqKey(b, 16, 0).Hardened(), [16]byte{}, fixedNow)
	p := pseudo(1<<20, 1)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		w.Write(p)
	}
}

func BenchmarkHardenedReader1M(b *testing.B) {
	k := seqKey(b, 16, 0)
	o := NewOpener(LookupKeys(k), 100*365*24*time.Hour, nil)
	var buf bytes.Buffer
	w := NewHardenedWriter(&buf, k.Hardened(), [16]byte{}, fixedNow)
	w.Write(pseudo(1<<20, 1))
	w.Close()
	stream := buf.Bytes()
	br := bufio.NewReaderSize(nil, MaxFrameLine(MaxFramePlain))
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(bytes.NewReader(stream))
		io.Copy(io.Discard, NewHardenedReader(br, o, [16]byte{}))
	}
}

// BenchmarkNewOpener is the per-request cost of a client's reply Opener.
func BenchmarkNewOpener(b *testing.B) {
	lookup := LookupKeys(seqKey(b, 16, 0))
	b.ReportAllocs()
	for b.Loop() {
		NewOpener(lookup, time.Minute, nil)
	}
}

// BenchmarkLegacyReplyReader16B is a typical short legacy reply.
func BenchmarkLegacyReplyReader16B(b *testing.B) {
	k := seqKey(b, 16, 0)
	var buf bytes.Buffer
	w := NewLegacyWriter(&buf, k)
	w.Write(pseudo(16, 1))
	w.Close()
	reply := buf.Bytes()
	b.SetBytes(16)
	b.ReportAllocs()
	for b.Loop() {
		io.Copy(io.Discard, LegacyReplyReader(bytes.NewReader(reply), k))
	}
}
