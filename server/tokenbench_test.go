package server

import (
	"crypto/rand"
	"net/netip"
	"testing"
	"time"

	"tapline/tokens"
)

// BenchmarkExecJSONBatch100Token is BenchmarkExecJSONBatch100 on a
// connection authenticated with a token: the difference between the two
// is what the access check adds to each request of a session (the token
// used again, its expiry and revocation checked), measured in one `go
// test -bench` run without the network's noise. Issue 11 bounds it at 3 %
// of a session ping; docs/SECURITY.md and the closing note give figures.
func BenchmarkExecJSONBatch100Token(b *testing.B) {
	c := benchConn(b, modeJSON)
	id, text, h, err := tokens.Generate(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	set := tokens.NewSet()
	set.Replace([]tokens.Record{{ID: id, Level: 3, Created: time.Now(), Hash: h, TTL: time.Hour, Renew: true}})
	e, err := set.Check([]byte(text), netip.MustParseAddr("127.0.0.1"), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	c.setWho(e.Identity())
	c.tok = e
	benchJSONBatch(b, c)
}
