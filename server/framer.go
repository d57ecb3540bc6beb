package server

import (
	"bytes"
	"errors"
	"strings"

	"tapline/crypto"
)

// errTooLarge reports a request line longer than the configured maximum.
var errTooLarge = errors.New("request too large")

// Mode is how a connection talks, decided by its first byte.
type Mode uint8

const (
	ModeUnknown  Mode = iota
	ModeText          // VoIPmonitor one-shot: first line is the request, reply, close
	ModeJSON          // persistent: one JSON object per line each way
	ModeLegacy        // VoIPmonitor one-shot AES-CBC: "aes-128-cbc:<ct>:sea", reply "aes:<ct>"
	ModeHardened      // tapline frames ("tl1:" lines): a text request or a JSON session inside
)

func (m Mode) String() string {
	switch m {
	case ModeText:
		return "text"
	case ModeJSON:
		return "json"
	case ModeLegacy:
		return "legacy"
	case ModeHardened:
		return "hardened"
	}
	return "new"
}

const hardenedMagic = "tl1:"

// DetectMode classifies a connection by its first bytes. more is true while
// buf is still a proper prefix of a framing magic ("aes", "tl1:"), which a
// client sends in one write in practice, so text requests never wait.
func DetectMode(buf []byte) (m Mode, more bool) {
	switch {
	case len(buf) == 0:
		return ModeUnknown, true
	case buf[0] == '{':
		return ModeJSON, false
	case crypto.MaybeLegacy(buf):
		return ModeUnknown, true
	case crypto.IsLegacy(buf):
		return ModeLegacy, false
	case strings.HasPrefix(hardenedMagic, string(buf[:min(len(buf), len(hardenedMagic))])):
		if len(buf) < len(hardenedMagic) {
			return ModeUnknown, true
		}
		return ModeHardened, false
	}
	return ModeText, false
}

// NextLine finds the first complete line in buf. It returns the line without
// its "\n" or "\r\n" terminator and how many bytes it used; n == 0 means the
// line is not complete yet. Every byte counts against max: a line may have
// at most max bytes before its terminator (trailing "\r" bytes included, the
// one of "\r\n" excepted), so a line is errTooLarge as soon as more bytes
// than that are buffered without its "\n", and nothing is buffered without
// bound: n == 0 without an error means len(buf) <= max+1, and n <= max+2.
func NextLine(buf []byte, max int) (line []byte, n int, err error) {
	limit := len(buf)
	if limit > max+2 {
		limit = max + 2 // room for "\r\n" after a max-length line
	}
	i := bytes.IndexByte(buf[:limit], '\n')
	if i < 0 {
		// Without a '\n' in the first max+2 bytes the line cannot end
		// in time; max+1 bytes fit only if the last is the "\r" of "\r\n".
		if len(buf) > max+1 || (len(buf) == max+1 && buf[max] != '\r') {
			return nil, 0, errTooLarge
		}
		return nil, 0, nil
	}
	if i == max+1 && buf[max] != '\r' {
		return nil, 0, errTooLarge
	}
	return trimCR(buf[:i]), i + 1, nil
}

// LastLine is the request of a client that half-closed without a newline.
func LastLine(buf []byte, max int) ([]byte, error) {
	if line, n, err := NextLine(buf, max); err != nil || n > 0 {
		return line, err
	}
	return trimCR(buf), nil
}

func trimCR(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}
