package sip

import "testing"

// benchMsgs are the messages of the comparison benchmarks, by sub-benchmark
// name and testdata file.
var benchMsgs = []struct{ name, file string }{
	{"invite", "invite"},
	{"200ok", "ok_invite"},
	{"register", "register_auth"},
	{"bye", "bye"},
}

// runBench runs parse on each benchmark message and reports msgs/s.
func runBench(b *testing.B, parse func(tb testing.TB, msg []byte)) {
	for _, bm := range benchMsgs {
		msg := readMsg(b, bm.file)
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				parse(b, msg)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

func BenchmarkParse(b *testing.B) {
	var m Msg
	runBench(b, func(tb testing.TB, msg []byte) {
		if err := Parse(msg, &m); err != nil {
			tb.Fatal(err)
		}
	})
}

func BenchmarkMessageLen(b *testing.B) {
	runBench(b, func(tb testing.TB, msg []byte) {
		if n, err := MessageLen(msg, 4096); n != len(msg) || err != nil {
			tb.Fatal(n, err)
		}
	})
}
