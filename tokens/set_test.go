package tokens

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"tapline/access"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// mint makes a token and its record.
func mint(t testing.TB, mod func(*Record)) (string, Record) {
	t.Helper()
	id, text, h, err := Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := Record{ID: id, Level: access.FullRead, Created: t0, Hash: h}
	if mod != nil {
		mod(&r)
	}
	return text, r
}

func TestGenerateParseHash(t *testing.T) {
	id, text, h, err := Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	pid, secret, err := Parse([]byte(text))
	if err != nil || string(pid) != id || len(text) != TextLen || !strings.HasPrefix(text, Prefix+id+"_") {
		t.Fatalf("Parse(%q) = %q, %v", text, pid, err)
	}
	if HashSecret(secret) != h || bytes.Contains([]byte(text), h[:]) || strings.Contains(text, string(h[:])) {
		t.Fatal("hash does not match its secret, or equals part of it")
	}
	if bytes.Equal(h[:], secret) || len(secret) == len(h) && string(secret) == string(h[:]) {
		t.Fatal("hash equals the secret")
	}
	_, text2, _, _ := Generate(nil)
	if text2 == text {
		t.Fatal("two tokens alike")
	}
	bad := []string{"", text[:len(text)-1], text + "A", "tlx" + text[3:], strings.ToUpper(text[:20]) + text[20:],
		text[:len(Prefix)+IDLen] + "-" + text[len(Prefix)+IDLen+1:], text[:len(text)-1] + "=", text[:len(text)-1] + "\n"}
	for _, b := range bad {
		if _, _, err := Parse([]byte(b)); err == nil {
			t.Errorf("Parse(%q) accepted", b)
		}
	}
}

func TestCheck(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	other := netip.MustParseAddr("192.0.2.7")
	cases := []struct {
		name   string
		mod    func(*Record)
		tamper func(string) string
		peer   netip.Addr
		at     time.Duration
		want   error
	}{
		{name: "plain", peer: lo},
		{name: "unix peer, no cidrs", peer: netip.Addr{}},
		{name: "wrong secret", tamper: func(s string) string { return s[:len(s)-2] + "AA" }, peer: lo, want: ErrUnknown},
		{name: "unknown id", tamper: func(s string) string { return Prefix + "0123456789abcdef" + s[len(Prefix)+IDLen:] }, peer: lo, want: ErrUnknown},
		{name: "malformed", tamper: func(s string) string { return s[1:] }, peer: lo, want: ErrUnknown},
		{name: "expires later", mod: func(r *Record) { r.Expires = t0.Add(time.Hour) }, at: time.Minute, peer: lo},
		{name: "expired", mod: func(r *Record) { r.Expires = t0.Add(time.Hour) }, at: time.Hour, peer: lo, want: ErrExpired},
		{name: "revoked", mod: func(r *Record) { r.Revoked = t0 }, peer: lo, want: ErrRevoked},
		{name: "cidr match", mod: func(r *Record) { r.CIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }, peer: lo},
		{name: "cidr mapped", mod: func(r *Record) { r.CIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} },
			peer: netip.MustParseAddr("::ffff:127.0.0.1")},
		{name: "cidr miss", mod: func(r *Record) { r.CIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }, peer: other, want: ErrAddress},
		{name: "cidr unix peer", mod: func(r *Record) { r.CIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }, want: ErrAddress},
		{name: "revoked wrong secret tells nothing", mod: func(r *Record) { r.Revoked = t0 },
			tamper: func(s string) string { return s[:len(s)-2] + "AA" }, peer: lo, want: ErrUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text, r := mint(t, c.mod)
			if c.tamper != nil {
				text = c.tamper(text)
			}
			s := NewSet()
			if refused := s.Replace([]Record{r}); refused != 0 {
				t.Fatalf("refused %d", refused)
			}
			e, err := s.Check([]byte(text), c.peer, t0.Add(c.at))
			if !errors.Is(err, c.want) {
				t.Fatalf("Check = %v, want %v", err, c.want)
			}
			if err == nil && (e.ID() != r.ID || e.Level() != r.Level || e.Identity().Name != "token:"+r.ID || e.Identity().Via != access.ViaToken) {
				t.Fatalf("entry %+v for record %+v", e, r)
			}
		})
	}
}

func TestUnavailableUntilLoaded(t *testing.T) {
	text, r := mint(t, nil)
	s := NewSet()
	if _, err := s.Check([]byte(text), netip.Addr{}, t0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("never loaded: %v", err)
	}
	s.Replace([]Record{r})
	if _, err := s.Check([]byte(text), netip.Addr{}, t0); err != nil {
		t.Fatal(err)
	}
}

func TestRenew(t *testing.T) {
	text, r := mint(t, func(r *Record) { r.TTL, r.Renew, r.Expires = time.Minute, true, t0.Add(time.Minute) })
	s := NewSet()
	s.Replace([]Record{r})
	now := t0
	var e *Entry
	for range 5 { // each use within the TTL keeps it alive well past the first expiry
		now = now.Add(50 * time.Second)
		var err error
		if e, err = s.Check([]byte(text), netip.Addr{}, now); err != nil {
			t.Fatalf("at %v: %v", now.Sub(t0), err)
		}
	}
	if !e.Expires().Equal(now.Add(time.Minute)) {
		t.Fatalf("expires %v, want %v", e.Expires(), now.Add(time.Minute))
	}
	if err := e.Use(now.Add(time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatalf("idle for the TTL: %v", err)
	}
	uses := s.Uses()
	if len(uses) != 1 || uses[0].ID != r.ID || !uses[0].LastUsed.Equal(now) || len(s.Uses()) != 0 {
		t.Fatalf("uses %+v", uses)
	}
	// A reload of the unchanged record keeps the session's Entry and its later expiry.
	s.Replace([]Record{r})
	if e2, err := s.Check([]byte(text), netip.Addr{}, now.Add(30*time.Second)); err != nil || e2 != e {
		t.Fatalf("after reload: %v (same entry %v)", err, e2 == e)
	}
}

func TestReplaceRetires(t *testing.T) {
	text, r := mint(t, nil)
	s := NewSet()
	rv := r
	rv.Revoked = t0.Add(time.Second)
	cases := []struct {
		name string
		recs []Record
		want error
	}{
		{"unchanged", []Record{r}, nil},
		{"revoked", []Record{rv}, ErrRevoked},
		{"removed", nil, ErrRevoked},
	}
	for _, c := range cases {
		s.Replace([]Record{r}) // a fresh entry in force
		e, err := s.Check([]byte(text), netip.Addr{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		s.Replace(c.recs)
		if err := e.Use(t0); !errors.Is(err, c.want) {
			t.Errorf("%s: session Use = %v, want %v", c.name, err, c.want)
		}
		_, err = s.Check([]byte(text), netip.Addr{}, t0)
		want := c.want
		if c.recs == nil {
			want = ErrUnknown
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: Check = %v, want %v", c.name, err, want)
		}
	}
}

func TestBounds(t *testing.T) {
	recs := make([]Record, 0, MaxTokens+3)
	for range MaxTokens + 2 {
		_, r := mint(t, nil)
		recs = append(recs, r)
	}
	recs = append(recs, recs[0]) // a duplicate
	s := NewSet()
	if refused := s.Replace(recs); refused != 3 || s.Len() != MaxTokens || s.Stats().OverLimit != 3 {
		t.Fatalf("refused %d, len %d", refused, s.Len())
	}
	invalid := []func(*Record){
		func(r *Record) { r.ID = "ABC" }, func(r *Record) { r.Level = access.None },
		func(r *Record) { r.Renew = true }, func(r *Record) { r.TTL = -1 }, func(r *Record) { r.Hash = Hash{} },
		func(r *Record) { r.Name = "a\nb" }, func(r *Record) { r.Name = strings.Repeat("x", MaxNameLen+1) },
		func(r *Record) { r.CIDRs = make([]netip.Prefix, MaxCIDRs+1) },
	}
	for i, mod := range invalid {
		_, r := mint(t, mod)
		if s := NewSet(); s.Replace([]Record{r}) != 1 {
			t.Errorf("invalid record %d loaded", i)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	text, r := mint(b, func(r *Record) {
		r.CIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}
		r.TTL, r.Renew = time.Hour, true
	})
	recs := []Record{r}
	for range 999 {
		_, o := mint(b, nil)
		recs = append(recs, o)
	}
	s := NewSet()
	s.Replace(recs)
	tok, peer, now := []byte(text), netip.MustParseAddr("127.0.0.1"), time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Check(tok, peer, now); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheckAllocatesNothing(t *testing.T) {
	text, r := mint(t, func(r *Record) { r.TTL, r.Renew = time.Hour, true })
	s := NewSet()
	s.Replace([]Record{r})
	tok, bad := []byte(text), []byte(text[:len(text)-1]+"x")
	if n := testing.AllocsPerRun(100, func() {
		e, _ := s.Check(tok, netip.Addr{}, t0)
		_ = e.Use(t0)
		_, _ = s.Check(bad, netip.Addr{}, t0)
	}); n != 0 {
		t.Fatalf("%v allocations per Check", n)
	}
}

// BenchmarkEntryUse is what every request of a token-authenticated
// connection pays (server.run): the revocation flag, the expiry, the
// renewal and the last use, plus the clock read run does for it.
func BenchmarkEntryUse(b *testing.B) {
	text, r := mint(b, func(r *Record) { r.TTL, r.Renew = time.Hour, true })
	s := NewSet()
	s.Replace([]Record{r})
	e, err := s.Check([]byte(text), netip.Addr{}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Use(time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
