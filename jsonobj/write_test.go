package jsonobj

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestAppendString: the output is valid JSON that decodes to the input,
// each invalid byte turned into U+FFFD.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "tab\tnl\ncr\r\x00\x1f\x7f", "Jiří <&>", "\u2028",
		"bad\xffbyte\xc3", "\xed\xa0\x80", "emoji 😀"} {
		checkAppendString(t, s)
	}
	// Every special byte at every offset of the word-at-a-time scan.
	for _, c := range []string{`"`, `\`, "\n", "\x01", "\x1f", "\x7f", "\x80", "\xff", "é", "\u2028"} {
		for pos := range 20 {
			checkAppendString(t, strings.Repeat("a", pos)+c+strings.Repeat("b", 20-pos))
		}
	}
	if got := string(AppendStringS(nil, strings.Repeat("x", 17))); got != `"`+strings.Repeat("x", 17)+`"` {
		t.Fatalf("plain: %s", got)
	}
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	b := AppendStringS(nil, s)
	if !json.Valid(b) || !utf8.Valid(b) {
		t.Fatalf("%q → %q: not valid JSON in UTF-8", s, b)
	}
	var got string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%q → %s: %v", s, b, err)
	}
	var want strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		want.WriteRune(r) // RuneError for each invalid byte
		i += n
	}
	if got != want.String() {
		t.Fatalf("%q → %s → %q", s, b, got)
	}
	if bs := AppendString(nil, []byte(s)); string(bs) != string(b) {
		t.Fatalf("%q: AppendString %s, AppendStringS %s", s, bs, b)
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("Jiří \"x\"\xff\n")
	f.Fuzz(func(t *testing.T, s string) { checkAppendString(t, s) })
}

// TestSpecial8 checks the word-at-a-time test against the byte table.
func TestSpecial8(t *testing.T) {
	slow := func(x uint64) bool {
		for i := 0; i < 8; i++ {
			if c := byte(x >> (8 * i)); c >= 0x80 || !jsonSafe[c] {
				return true
			}
		}
		return false
	}
	r := rand.New(rand.NewPCG(3, 4))
	base := uint64(0x6161616161616161) // "aaaaaaaa"
	for pos := range 8 {
		for c := range 256 {
			x := base&^(0xff<<(8*pos)) | uint64(c)<<(8*pos)
			if special8(x) != slow(x) {
				t.Fatalf("byte %#x at %d: %v", c, pos, special8(x))
			}
		}
	}
	for range 1_000_000 {
		x := r.Uint64() & 0x7f7f7f7f7f7f7f7f // mostly ASCII, to reach the interesting cases
		if special8(x) != slow(x) {
			t.Fatalf("%#x: %v", x, special8(x))
		}
	}
}

// TestMemberWriters: the member writers build objects and arrays whose
// separators follow from what came before, and encoding/json reads back
// what went in, hostile keys and values included.
func TestMemberWriters(t *testing.T) {
	at := time.Date(2026, 12, 2, 8, 0, 0, 123456789, time.FixedZone("x", 3600))
	b := append([]byte(nil), '{')
	b = AppendMemberString(b, "s", "q\"\\\x01\xff")
	b = AppendMemberInt(b, "k\"ey\n", -7)
	b = AppendMemberUint(b, "u", 1<<63)
	b = AppendMemberBool(b, "t", true)
	b = AppendMemberTime(b, "at", at)
	b = append(AppendKey(b, "empty"), "{}"...)
	b = append(AppendKey(b, "list"), '[')
	for _, s := range []string{"a", "", "\xed\xa0\x80"} {
		b = AppendStringS(AppendSep(b), s)
	}
	b = append(append(b, ']'), '}')
	if !json.Valid(b) || !utf8.Valid(b) {
		t.Fatalf("not valid JSON in UTF-8: %s", b)
	}
	var got struct {
		S    string    `json:"s"`
		U    uint64    `json:"u"`
		T    bool      `json:"t"`
		At   time.Time `json:"at"`
		List []string  `json:"list"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(at)
	if got.S != "q\"\\\x01\uFFFD" || got.U != 1<<63 || !got.T || !got.At.Equal(at) || len(got.List) != 3 ||
		!strings.Contains(string(b), `"at":`+string(want)) {
		t.Fatalf("read back %+v from %s", got, b)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m["k\"ey\n"] != float64(-7) {
		t.Fatalf("escaped key: %s", b)
	}
}
