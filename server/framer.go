package server

import (
	"bytes"
	"errors"
	"strings"

	"tapline/crypto"
)

// errTooLarge reports a request line longer than the configured maximum.
var errTooLarge = errors.New("request too large")

// wireMode is how a connection talks, decided by its first byte.
type wireMode uint8

const (
	modeUnknown  wireMode = iota
	modeText              // VoIPmonitor one-shot: first line is the request, reply, close
	modeJSON              // persistent: one JSON object per line each way
	modeLegacy            // VoIPmonitor one-shot AES-CBC: "aes-128-cbc:<ct>:sea", reply "aes:<ct>"
	modeHardened          // tapline frames ("tl1:" lines): a text request or a JSON session inside
)

func (m wireMode) String() string {
	switch m {
	case modeText:
		return "text"
	case modeJSON:
		return "json"
	case modeLegacy:
		return "legacy"
	case modeHardened:
		return "hardened"
	}
	return "new"
}

const hardenedMagic = "tl1:"

// detectMode classifies a connection by its first bytes. more is true while
// buf is still a proper prefix of a framing magic ("aes", "tl1:"), which a
// client sends in one write in practice, so text requests never wait.
func detectMode(buf []byte) (m wireMode, more bool) {
	switch {
	case len(buf) == 0:
		return modeUnknown, true
	case buf[0] == '{':
		return modeJSON, false
	case crypto.MaybeLegacy(buf):
		return modeUnknown, true
	case crypto.IsLegacy(buf):
		return modeLegacy, false
	case strings.HasPrefix(hardenedMagic, string(buf[:min(len(buf), len(hardenedMagic))])):
		if len(buf) < len(hardenedMagic) {
			return modeUnknown, true
		}
		return modeHardened, false
	}
	return modeText, false
}

// nextLine finds the first complete line in buf. It returns the line without
// its "\n" or "\r\n" terminator and how many bytes it used; n == 0 means the
// line is not complete yet. Every byte counts against max: a line may have
// at most max bytes before its terminator (trailing "\r" bytes included, the
// one of "\r\n" excepted), so a line is errTooLarge as soon as more bytes
// than that are buffered without its "\n", and nothing is buffered without
// bound: n == 0 without an error means len(buf) <= max+1, and n <= max+2.
func nextLine(buf []byte, max int) (line []byte, n int, err error) {
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

// lastLine is the request of a client that half-closed without a newline.
func lastLine(buf []byte, max int) ([]byte, error) {
	if line, n, err := nextLine(buf, max); err != nil || n > 0 {
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
