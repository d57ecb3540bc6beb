package sip

import (
	"testing"

	sipgo "github.com/emiago/sipgo/sip"
)

// BenchmarkSipgoParse parses the same messages with sipgo's parser, for
// comparison only. sipgo builds a full message object (and does not parse
// SDP); Parse extracts the sensor's fields, including SDP, in place.
func BenchmarkSipgoParse(b *testing.B) {
	p := sipgo.NewParser()
	runBench(b, func(tb testing.TB, msg []byte) {
		if _, err := p.ParseSIP(msg); err != nil {
			tb.Fatal(err)
		}
	})
}
