package crypto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

func fixedNow() time.Time { return testNow }

// writeHardened streams pt through a HardenedWriter in odd pieces.
func writeHardened(t *testing.T, k *HardenedKey, ref [16]byte, pt []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewHardenedWriter(&buf, k, ref, fixedNow)
	chunkWrite(t, w, pt, 1000, 1, 70000, 16)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readHardened(o *Opener, stream []byte, ref [16]byte, bufSize int) ([]byte, error) {
	r := NewHardenedReader(bufio.NewReaderSize(bytes.NewReader(stream), bufSize), o, ref)
	return io.ReadAll(r)
}

func TestHardenedStream(t *testing.T) {
	k := seqKey(t, 16, 4)
	o := NewOpener(LookupKeys(k), 100*365*24*time.Hour, nil) // the reader uses the real clock
	for _, tt := range []struct{ size, frames int }{
		{0, 1}, {1, 1}, {MaxFramePlain, 1}, {MaxFramePlain + 1, 2}, {200000, 4}, {1 << 20, 16},
	} {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			pt := pseudo(tt.size, 3)
			ref := NewRef()
			stream := writeHardened(t, k.Hardened(), ref, pt)
			if n := bytes.Count(stream, []byte("\n")); n != tt.frames {
				t.Fatalf("%d frames, want %d", n, tt.frames)
			}
			for _, bufSize := range []int{16, 4096, MaxFrameLine(MaxFramePlain)} {
				got, err := readHardened(o, stream, ref, bufSize)
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("buffer %d: %v, equal %v", bufSize, err, bytes.Equal(got, pt))
				}
			}
			if tt.size <= 1<<16 {
				r := NewHardenedReader(bufio.NewReader(bytes.NewReader(stream)), o, ref)
				if err := iotest.TestReader(r, pt); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestHardenedReaderRejects(t *testing.T) {
	k := seqKey(t, 16, 4)
	hk := k.Hardened()
	o := NewOpener(LookupKeys(k), 100*365*24*time.Hour, nil)
	ref := NewRef()
	stream := writeHardened(t, hk, ref, pseudo(3*MaxFramePlain+1, 5)) // 4 frames
	frames := bytes.SplitAfter(stream, []byte("\n"))[:4]
	join := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	now := time.Now()
	tests := []struct {
		name   string
		stream []byte
		ref    [16]byte
		err    error
	}{
		{"empty stream", nil, ref, io.ErrUnexpectedEOF},
		{"no final frame", join(frames[0], frames[1], frames[2]), ref, io.ErrUnexpectedEOF},
		{"cut mid-line", stream[:len(stream)-10], ref, io.ErrUnexpectedEOF},
		{"frame dropped", join(frames[0], frames[2], frames[3]), ref, ErrBadFrame},
		{"frames swapped", join(frames[1], frames[0], frames[2], frames[3]), ref, ErrBadFrame},
		{"frame repeated", join(frames[0], frames[0], frames[1], frames[2], frames[3]), ref, ErrBadFrame},
		{"other ref", stream, NewRef(), ErrBadFrame},
		{"request frames", Seal(nil, hk, FlagFinal, now, 0, ref, []byte("x")), ref, ErrBadFrame},
		{"garbage", []byte("need aes!\n"), ref, ErrBadFrame},
		{"endless line", bytes.Repeat([]byte("A"), 2*MaxFrameLine(MaxFramePlain)), ref, ErrBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := readHardened(o, tt.stream, tt.ref, 4096); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
	// Bytes after the final frame are not consumed.
	br := bufio.NewReader(bytes.NewReader(append(bytes.Clone(stream), "next"...)))
	if _, err := io.ReadAll(NewHardenedReader(br, o, ref)); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "next" {
		t.Fatalf("left %q after the final frame", rest)
	}
}

func TestHardenedWriterLifecycle(t *testing.T) {
	k := seqKey(t, 16, 4)
	o := NewOpener(LookupKeys(k), testWindow, nil)
	ref := NewRef()
	var buf bytes.Buffer
	w := NewHardenedWriter(&buf, k.Hardened(), ref, fixedNow)
	w.Write([]byte("part one, "))
	if buf.Len() != 0 {
		t.Fatal("wrote before a frame was full")
	}
	if err := w.Flush(); err != nil || bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("Flush: %v, %q", err, buf.Bytes())
	}
	if err := w.Flush(); err != nil || bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatal("empty Flush wrote a frame")
	}
	w.Write([]byte("part two"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err == nil || w.Flush() == nil {
		t.Fatal("Write/Flush after Close succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	var got []byte
	for i, line := range bytes.SplitAfter(buf.Bytes(), []byte("\n"))[:2] {
		var h Header
		var err error
		got, h, err = o.Open(got, line, testNow, true)
		if err != nil || h.Seq != uint32(i) || h.Ref != ref || h.Flags != FlagReply|boolFlag(i == 1, FlagFinal) || !h.TS.Equal(testNow) {
			t.Fatalf("frame %d: %v %+v", i, err, h)
		}
	}
	if string(got) != "part one, part two" {
		t.Fatalf("got %q", got)
	}

	fw := &failWriter{n: 0}
	w = NewHardenedWriter(fw, k.Hardened(), ref, nil)
	if err := w.Close(); err == nil {
		t.Fatal("Close hid the write error")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("error did not stick")
	}
}

func TestHardenedWriterNoAllocs(t *testing.T) {
	w := NewHardenedWriter(io.Discard, seqKey(t, 16, 4).Hardened(), NewRef(), fixedNow)
	p := make([]byte, 100<<10+3)
	if n := testing.AllocsPerRun(20, func() { w.Write(p) }); n != 0 {
		t.Fatalf("%v allocations per Write", n)
	}
}

func TestHardenedReaderNoAllocs(t *testing.T) {
	k := seqKey(t, 16, 4)
	o := NewOpener(LookupKeys(k), 100*365*24*time.Hour, nil)
	ref := NewRef()
	stream := writeHardened(t, k.Hardened(), ref, pseudo(50*MaxFramePlain, 1))
	r := NewHardenedReader(bufio.NewReaderSize(bytes.NewReader(stream), MaxFrameLine(MaxFramePlain)), o, ref)
	p := make([]byte, 32<<10)
	r.Read(p) // first frame sizes the buffers
	if n := testing.AllocsPerRun(50, func() { r.Read(p) }); n != 0 {
		t.Fatalf("%v allocations per Read", n)
	}
}
