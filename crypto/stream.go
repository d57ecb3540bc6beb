package crypto

import (
	"bufio"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Streaming forms of both framings, for replies too big to hold twice.
// Writers allocate their buffers once, at construction, and never in Write.

// legacyChunk is how much a LegacyWriter encrypts per underlying Write and
// a LegacyReplyReader at most per underlying Read.
const legacyChunk = 64 << 10

// legacyFirstChunk is a LegacyReplyReader's first read size. Most replies
// are short; once a read fills it, the reader switches to legacyChunk.
const legacyFirstChunk = 4 << 10

var errClosed = errors.New("crypto: write after Close")

// LegacyWriter encrypts a reply as VoIPmonitor does: "aes:" and then one CBC
// stream over everything written, with PKCS#7 padding at Close. It keeps
// fewer than 16 plaintext bytes buffered between Writes. Close writes the
// final block; if nothing was ever written it writes nothing at all, as
// VoIPmonitor sends nothing for an empty reply. Close does not close the
// underlying writer. A LegacyWriter is not safe for concurrent use.
type LegacyWriter struct {
	w       io.Writer
	mode    cipher.BlockMode
	buf     []byte // "aes:" room, then up to legacyChunk bytes being encrypted
	pend    int    // plaintext bytes in buf[len(prefix):], fewer than 16 between Writes
	started bool   // "aes:" has been written
	closed  bool
	err     error // sticky error of the underlying writer
}

// NewLegacyWriter returns a LegacyWriter for k. k must be a valid key;
// NewLegacyWriter panics otherwise.
func NewLegacyWriter(w io.Writer, k Key) *LegacyWriter {
	return &LegacyWriter{
		w:    w,
		mode: cipher.NewCBCEncrypter(k.mustBlock(), k.IV),
		buf:  make([]byte, len(legacyReplyPrefix)+legacyChunk),
	}
}

// Write encrypts the whole blocks it can and buffers the rest.
func (lw *LegacyWriter) Write(p []byte) (int, error) {
	if lw.err != nil {
		return 0, lw.err
	}
	if lw.closed {
		return 0, errClosed
	}
	written := 0
	for len(p) > 0 {
		n := copy(lw.buf[len(legacyReplyPrefix)+lw.pend:], p)
		lw.pend += n
		p = p[n:]
		written += n
		if err := lw.flush(); err != nil {
			return written, err
		}
	}
	return written, nil
}

// Close pads and writes the final block.
func (lw *LegacyWriter) Close() error {
	if lw.closed || lw.err != nil {
		return lw.err
	}
	lw.closed = true
	if !lw.started && lw.pend == 0 {
		return nil
	}
	data := lw.buf[len(legacyReplyPrefix):]
	lw.pend = len(pad(data, lw.pend))
	return lw.flush()
}

// flush encrypts and writes the whole blocks in the buffer and moves the
// remaining partial block to the front.
func (lw *LegacyWriter) flush() error {
	const pre = len(legacyReplyPrefix)
	whole := lw.pend / blockSize * blockSize
	if whole == 0 {
		return nil
	}
	data := lw.buf[pre : pre+whole]
	lw.mode.CryptBlocks(data, data)
	out := data
	if !lw.started {
		copy(lw.buf, legacyReplyPrefix) // one Write for prefix and first blocks
		out = lw.buf[:pre+whole]
		lw.started = true
	}
	_, err := lw.w.Write(out)
	lw.pend = copy(lw.buf[pre:], lw.buf[pre+whole:pre+lw.pend])
	if err != nil {
		lw.err = err
	}
	return err
}

// legacyReader decrypts a legacy reply as it arrives. The last ciphertext
// block is held back until EOF, because only then is it known to carry the
// padding.
type legacyReader struct {
	r       io.Reader
	mode    cipher.BlockMode
	buf     []byte // ciphertext; buf[:start] is decrypted, buf[start:n] not yet
	start   int
	n       int
	out     []byte // decrypted bytes not yet returned, a view of buf
	started bool   // "aes:" has been read
	err     error  // returned once out is drained
}

// LegacyReplyReader returns a reader of the plaintext of the legacy reply
// read from r, for clients. An empty reply reads as empty; a reply that is
// not "aes:" and whole blocks fails with ErrLegacyFrame, bad padding with
// ErrLegacyDecrypt. k must be a valid key; LegacyReplyReader panics
// otherwise.
func LegacyReplyReader(r io.Reader, k Key) io.Reader {
	return &legacyReader{
		r:    r,
		mode: cipher.NewCBCDecrypter(k.mustBlock(), k.IV),
		buf:  make([]byte, legacyFirstChunk+blockSize),
	}
}

func (lr *legacyReader) Read(p []byte) (int, error) {
	for len(lr.out) == 0 {
		if lr.err != nil {
			return 0, lr.err
		}
		if !lr.started {
			lr.readPrefix()
		} else {
			lr.fill()
		}
	}
	n := copy(p, lr.out)
	lr.out = lr.out[n:]
	return n, nil
}

func (lr *legacyReader) readPrefix() {
	pre := lr.buf[:len(legacyReplyPrefix)]
	_, err := io.ReadFull(lr.r, pre)
	switch {
	case err == io.EOF: // empty reply
		lr.err = io.EOF
	case err == io.ErrUnexpectedEOF || err == nil && string(pre) != legacyReplyPrefix:
		lr.err = fmt.Errorf("%w: reply does not start with %q", ErrLegacyFrame, legacyReplyPrefix)
	case err != nil:
		lr.err = err
	}
	lr.started = true
}

// fill reads more ciphertext and decrypts every block except the last. If
// the previous read filled the small first buffer, the full-size one takes
// its place: short replies never pay for a large buffer, long ones pay for
// one extra allocation only.
func (lr *legacyReader) fill() {
	rest := lr.buf[lr.start:lr.n]
	if lr.n == len(lr.buf) && len(lr.buf) < legacyChunk+blockSize {
		lr.buf = make([]byte, legacyChunk+blockSize)
	}
	lr.n = copy(lr.buf, rest)
	lr.start = 0
	m, err := lr.r.Read(lr.buf[lr.n:])
	lr.n += m
	if err == io.EOF {
		lr.finish()
		return
	}
	if err != nil {
		lr.err = err
		return
	}
	if lr.n > 0 {
		lr.start = (lr.n - 1) / blockSize * blockSize
		lr.out = lr.buf[:lr.start]
		lr.mode.CryptBlocks(lr.out, lr.out)
	}
}

// finish decrypts the rest at EOF and strips the padding.
func (lr *legacyReader) finish() {
	if lr.n == 0 || lr.n%blockSize != 0 {
		lr.err = fmt.Errorf("%w: reply ciphertext ends inside a block", ErrLegacyFrame)
		return
	}
	data := lr.buf[:lr.n]
	lr.mode.CryptBlocks(data, data)
	n, ok := unpad(data)
	if ok != 1 {
		lr.err = ErrLegacyDecrypt
		return
	}
	lr.out, lr.start, lr.n, lr.err = data[:n], 0, 0, io.EOF
}

// HardenedWriter frames a streamed reply as hardened reply frames with one
// ref: it buffers up to MaxFramePlain bytes, emits a full frame only when
// more data follows (so an exact multiple does not cost an extra frame), and
// Close emits the final frame, which may be empty. It allocates only at
// construction. Close does not close the underlying writer. A HardenedWriter
// is not safe for concurrent use.
type HardenedWriter struct {
	w      io.Writer
	k      *HardenedKey
	ref    [16]byte
	now    func() time.Time
	plain  []byte // buffered plaintext, cap MaxFramePlain
	line   []byte // reused Seal output
	seq    uint64
	closed bool
	err    error // sticky
}

// NewHardenedWriter returns a HardenedWriter answering the request with ref.
// now stamps each frame; nil means time.Now.
func NewHardenedWriter(w io.Writer, k *HardenedKey, ref [16]byte, now func() time.Time) *HardenedWriter {
	if now == nil {
		now = time.Now
	}
	return &HardenedWriter{
		w: w, k: k, ref: ref, now: now,
		plain: make([]byte, 0, MaxFramePlain),
		line:  make([]byte, 0, MaxFrameLine(MaxFramePlain)+macScratch+maxBody),
	}
}

// Write buffers p, emitting full frames as needed.
func (hw *HardenedWriter) Write(p []byte) (int, error) {
	if err := hw.usable(); err != nil {
		return 0, err
	}
	written := 0
	for len(p) > 0 {
		if len(hw.plain) == MaxFramePlain {
			if err := hw.emit(0); err != nil {
				return written, err
			}
		}
		n := copy(hw.plain[len(hw.plain):MaxFramePlain], p)
		hw.plain = hw.plain[:len(hw.plain)+n]
		p = p[n:]
		written += n
	}
	return written, nil
}

// Flush emits what is buffered as a non-final frame, for replies that trickle
// out slowly. It does nothing when nothing is buffered.
func (hw *HardenedWriter) Flush() error {
	if err := hw.usable(); err != nil || len(hw.plain) == 0 {
		return err
	}
	return hw.emit(0)
}

// Close emits the final frame.
func (hw *HardenedWriter) Close() error {
	if hw.closed || hw.err != nil {
		return hw.err
	}
	hw.closed = true
	return hw.emit(FlagFinal)
}

func (hw *HardenedWriter) usable() error {
	if hw.err != nil {
		return hw.err
	}
	if hw.closed {
		return errClosed
	}
	return nil
}

func (hw *HardenedWriter) emit(flags byte) error {
	if hw.seq > math.MaxUint32 {
		hw.err = errors.New("crypto: hardened reply longer than 2^32 frames")
		return hw.err
	}
	hw.line = Seal(hw.line[:0], hw.k, FlagReply|flags, hw.now(), uint32(hw.seq), hw.ref, hw.plain)
	hw.seq++
	hw.plain = hw.plain[:0]
	if _, err := hw.w.Write(hw.line); err != nil {
		hw.err = err
	}
	return hw.err
}

// hardenedReader reads the reply frames answering one request.
type hardenedReader struct {
	r     *bufio.Reader
	o     *Opener
	ref   [16]byte
	seq   uint64
	long  []byte // a line longer than r's buffer
	plain []byte // Open's output buffer, reused
	out   []byte // unread plaintext of the current frame
	err   error  // returned once out is drained
}

// NewHardenedReader returns the plaintext of the reply to the request with
// ref, read from r: reply frames with that ref and seq 0, 1, ... in order,
// until the final frame, then io.EOF. Anything else fails with ErrBadFrame;
// a stream that ends before the final frame fails with io.ErrUnexpectedEOF.
// Timestamps are checked against time.Now with o's window. r may have any
// buffer size; longer lines are assembled. Bytes after the final frame are
// left in r.
func NewHardenedReader(r *bufio.Reader, o *Opener, ref [16]byte) io.Reader {
	return &hardenedReader{r: r, o: o, ref: ref}
}

func (hr *hardenedReader) Read(p []byte) (int, error) {
	for len(hr.out) == 0 {
		if hr.err != nil {
			return 0, hr.err
		}
		hr.next()
	}
	n := copy(p, hr.out)
	hr.out = hr.out[n:]
	return n, nil
}

// next reads and opens one frame.
func (hr *hardenedReader) next() {
	line, err := hr.readLine()
	if err != nil {
		hr.err = err
		return
	}
	pt, h, err := hr.o.Open(hr.plain[:0], line, time.Now(), true)
	if err != nil || h.Ref != hr.ref || uint64(h.Seq) != hr.seq {
		hr.err = ErrBadFrame
		return
	}
	hr.seq++
	hr.plain, hr.out = pt, pt
	if h.Flags&FlagFinal != 0 {
		hr.err = io.EOF
	}
}

// readLine returns the next line with its "\n". A line may be longer than
// r's buffer, up to MaxFrameLine(MaxFramePlain).
func (hr *hardenedReader) readLine() ([]byte, error) {
	line, err := hr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		hr.long = append(hr.long[:0], line...)
		for err == bufio.ErrBufferFull && len(hr.long) <= MaxFrameLine(MaxFramePlain) {
			line, err = hr.r.ReadSlice('\n')
			hr.long = append(hr.long, line...)
		}
		line = hr.long
		if err == bufio.ErrBufferFull {
			return nil, ErrBadFrame
		}
	}
	switch {
	case err == io.EOF:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	return line, nil
}
