package clients

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"tapline/crypto"
)

// Crypto is how a client protects its requests.
type Crypto int

const (
	Plain    Crypto = iota
	Legacy          // VoIPmonitor's AES-CBC framing: what existing GUIs send
	Hardened        // tapline frames: random IV, HMAC, key id, replay protection
)

// replyWindow is how far a reply frame's clock may be from ours.
const replyWindow = 5 * time.Minute

// DoSecure is doTo with encryption: the reply is written to w decrypted.
func DoSecure(ctx context.Context, network, addr string, mode Crypto, key crypto.Key, line string, w io.Writer) (int64, error) {
	if mode == Plain {
		return doTo(ctx, network, addr, line, w)
	}
	var req []byte
	var ref [16]byte
	if mode == Legacy {
		req = crypto.LegacyRequest(key, []byte(line))
	} else {
		ref = crypto.NewRef()
		req = crypto.SealMessage(nil, key.Hardened(), false, time.Now(), ref, []byte(line))
	}
	return exchange(ctx, network, addr, req, func(c io.Reader) (int64, error) {
		br := readerPool.Get().(*bufio.Reader)
		br.Reset(c)
		defer func() { br.Reset(nil); readerPool.Put(br) }()
		var r io.Reader
		var err error
		if mode == Legacy {
			r, err = legacyReply(br, key)
		} else {
			r, err = hardenedReply(br, key, ref)
		}
		if err != nil {
			return 0, err
		}
		return io.Copy(w, r)
	})
}

// legacyReply checks that the reply is encrypted ("aes:" or empty) before
// decrypting it: a plaintext reply such as "need aes!" is reported as such.
func legacyReply(br *bufio.Reader, key crypto.Key) (io.Reader, error) {
	head, err := br.Peek(4)
	if len(head) == 0 && errors.Is(err, io.EOF) {
		return bytes.NewReader(nil), nil
	}
	if string(head) != "aes:" {
		return nil, plainReplyError(br)
	}
	return crypto.LegacyReplyReader(br, key), nil
}

func hardenedReply(br *bufio.Reader, key crypto.Key, ref [16]byte) (io.Reader, error) {
	head, _ := br.Peek(4)
	if string(head) != "tl1:" {
		return nil, plainReplyError(br)
	}
	return crypto.NewHardenedReader(br, replyOpener(key), ref), nil
}

// ErrPlainReply is wrapped by the error returned when a server answers an
// encrypted request in plaintext (e.g. "need aes!").
var ErrPlainReply = errors.New("server replied without encryption")

func plainReplyError(br *bufio.Reader) error {
	b, _ := io.ReadAll(io.LimitReader(br, 200))
	return fmt.Errorf("%w: %q", ErrPlainReply, bytes.TrimSpace(b))
}

func replyOpener(key crypto.Key) *crypto.Opener {
	return crypto.NewOpener(crypto.LookupKeys(key), replyWindow, nil)
}

// OpenHardened starts a JSON session inside hardened frames: every request
// line is sealed, every reply frame checked (key, MAC, direction, clock)
// before its plaintext is used.
func OpenHardened(ctx context.Context, network, addr string, key crypto.Key) (*Session, error) {
	c, err := Dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	fr := &frameReader{br: bufio.NewReaderSize(c, frameReadBuf), o: replyOpener(key)}
	fw := &frameWriter{c: c, hk: key.Hardened()}
	return newSession(c, fr, fw), nil
}

// frameWriter seals request lines into frames. A request is one message of
// a single frame carrying whole lines (PROTOCOL §9.3), but the session's
// buffered writer hands over 64 KiB at a time, cut anywhere: so each write
// seals the whole lines it completes, in frames of at most MaxFramePlain,
// and keeps the rest of the last line for the next write. The frames of a
// session must not go back in time, so a wall clock stepping back reuses
// the last timestamp.
type frameWriter struct {
	c       net.Conn
	hk      *crypto.HardenedKey
	buf     []byte
	pending []byte // the start of a line not complete yet
	last    time.Time
}

// ErrRequestTooLong: a request line does not fit in one frame.
var ErrRequestTooLong = fmt.Errorf("request line longer than %d bytes (one frame)", crypto.MaxFramePlain)

func (w *frameWriter) Write(p []byte) (int, error) {
	w.pending = append(w.pending, p...)
	w.buf = w.buf[:0]
	for {
		end := bytes.LastIndexByte(w.pending[:min(len(w.pending), crypto.MaxFramePlain)], '\n') + 1
		if end == 0 {
			break
		}
		// Round(0) drops the monotonic reading: frames carry the wall
		// clock, and only a wall-clock comparison sees it step back.
		ts := time.Now().Round(0)
		if ts.Before(w.last) {
			ts = w.last
		}
		w.last = ts
		w.buf = crypto.SealMessage(w.buf, w.hk, false, ts, crypto.NewRef(), w.pending[:end])
		w.pending = w.pending[:copy(w.pending, w.pending[end:])]
	}
	if len(w.buf) > 0 {
		if _, err := w.c.Write(w.buf); err != nil {
			return 0, err
		}
	}
	if len(w.pending) > crypto.MaxFramePlain {
		return len(p), ErrRequestTooLong
	}
	return len(p), nil
}

// frameReader turns reply frames back into the plaintext byte stream.
type frameReader struct {
	br      *bufio.Reader
	o       *crypto.Opener
	pending []byte
	plain   []byte
}

func (r *frameReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		line, err := r.br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return 0, errors.New("reply frame too long")
			}
			return 0, err
		}
		if !bytes.HasPrefix(line, []byte("tl1:")) {
			return 0, fmt.Errorf("server: %s", bytes.TrimSpace(line))
		}
		r.plain, _, err = r.o.Open(r.plain[:0], line, time.Now(), true)
		if err != nil {
			return 0, fmt.Errorf("reply frame: %w", err)
		}
		r.pending = r.plain
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// frameReadBuf holds the longest reply frame line.
var frameReadBuf = crypto.MaxFrameLine(crypto.MaxFramePlain) + 64

// readerPool recycles the ~88 KiB frame readers of one-shot requests, which
// otherwise cost more than the request itself.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, frameReadBuf) }}
