package server

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestNextLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		line string
		n    int
		err  error
	}{
		{"lf", "ping\n", 64, "ping", 5, nil},
		{"crlf", "ping\r\n", 64, "ping", 6, nil},
		{"crlfcrlf", "ping\r\n\r\n", 64, "ping", 6, nil},
		{"incomplete", "pin", 64, "", 0, nil},
		{"empty line", "\n", 64, "", 1, nil},
		{"args", "help ping\nmore", 64, "help ping", 10, nil},
		{"exactly max", "abcd\n", 4, "abcd", 5, nil},
		{"exactly max crlf", "abcd\r\n", 4, "abcd", 6, nil},
		{"over max complete", "abcde\n", 4, "", 0, errTooLarge},
		{"over max incomplete", "abcde", 4, "", 0, errTooLarge},
		{"max incomplete", "abcd", 4, "", 0, nil},
		{"newline far away", "abcdefgh\n", 4, "", 0, errTooLarge},
		// Every byte counts: a run of "\r" is not free (issue 9, item 2).
		{"cr run incomplete", "x\r\r\r\r\r", 4, "", 0, errTooLarge},
		{"cr run at max+1", "x\r\r\r\r", 4, "", 0, nil},
		{"cr run complete", "x\r\r\r\r\r\n", 4, "", 0, errTooLarge},
		{"cr run fits", "x\r\r\r\r\n", 4, "x", 6, nil},
		{"max plus cr incomplete", "abcd\r", 4, "", 0, nil},
		{"max plus byte incomplete", "abcde", 4, "", 0, errTooLarge},
		{"only cr", strings.Repeat("\r", 20), 4, "", 0, errTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, n, err := nextLine([]byte(tt.in), tt.max)
			if !errors.Is(err, tt.err) || n != tt.n || string(line) != tt.line {
				t.Fatalf("nextLine(%q, %d) = %q, %d, %v; want %q, %d, %v", tt.in, tt.max, line, n, err, tt.line, tt.n, tt.err)
			}
		})
	}
}

func TestLastLine(t *testing.T) {
	for in, want := range map[string]string{"ping": "ping", "ping\r": "ping", "ping\nx": "ping", "": ""} {
		got, err := lastLine([]byte(in), 64)
		if err != nil || string(got) != want {
			t.Errorf("lastLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := lastLine([]byte("toolong"), 3); !errors.Is(err, errTooLarge) {
		t.Errorf("lastLine over max: err = %v, want errTooLarge", err)
	}
}

func TestDetectMode(t *testing.T) {
	tests := []struct {
		in   string
		mode wireMode
		more bool
	}{
		{"{", modeJSON, false},
		{"ping", modeText, false},
		{"a", modeUnknown, true},
		{"AE", modeUnknown, true},
		{"aes-128-cbc:", modeLegacy, false},
		{"AES:x", modeLegacy, false},
		{"abc", modeText, false},
		{"t", modeUnknown, true},
		{"tl1", modeUnknown, true},
		{"tl1:AAAA", modeHardened, false},
		{"totalcalls", modeText, false},
		{"tl2:", modeText, false},
	}
	for _, tt := range tests {
		if m, more := detectMode([]byte(tt.in)); m != tt.mode || more != tt.more {
			t.Errorf("detectMode(%q) = %v, %v; want %v, %v", tt.in, m, more, tt.mode, tt.more)
		}
	}
}

// FuzzNextLine checks the framer's invariants and that splitting the input
// across reads (as TCP may) never changes the lines it yields.
func FuzzNextLine(f *testing.F) {
	for _, s := range []string{"ping\n", "getversion\r\n\r\n", "{\"id\":1,\"cmd\":\"ping\"}\n{\"id\":2}\n", "x", "\r\n\n\r", "a\rb\n"} {
		f.Add([]byte(s), uint8(8), uint8(3))
	}
	f.Add([]byte("x"+strings.Repeat("\r", 300)), uint8(8), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, max8, split8 uint8) {
		max := int(max8) + 1
		whole := lines(t, data, max, len(data)+1)
		split := lines(t, data, max, int(split8)+1)
		if !equalLines(whole, split) {
			t.Fatalf("split feeding changed the lines: %q vs %q", whole, split)
		}
	})
}

// lines feeds data in chunks of size step into a growing buffer, as OnTraffic
// sees it, and collects what nextLine yields until an error.
func lines(t *testing.T, data []byte, max, step int) [][]byte {
	var out [][]byte
	var buf []byte
	for off := 0; off < len(data); off += step {
		buf = append(buf, data[off:min(off+step, len(data))]...)
		for {
			line, n, err := nextLine(buf, max)
			if err != nil {
				return append(out, []byte("ERR"))
			}
			if n == 0 {
				// Size bound: an incomplete line never holds more than
				// max bytes plus a terminator (issue 9, item 2).
				if len(buf) > max+2 {
					t.Fatalf("incomplete line of %d bytes buffered with max %d: %q", len(buf), max, buf)
				}
				break
			}
			if n > max+2 {
				t.Fatalf("line of %d bytes accepted with max %d: %q", n, max, buf[:n])
			}
			if n > len(buf) || buf[n-1] != '\n' || bytes.IndexByte(line, '\n') >= 0 || len(line) > max {
				t.Fatalf("bad frame: n=%d line=%q buf=%q", n, line, buf)
			}
			out = append(out, append([]byte(nil), line...))
			buf = buf[n:]
		}
	}
	return out
}

func equalLines(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
