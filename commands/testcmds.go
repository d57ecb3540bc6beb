//go:build tapline_testcmds

package commands

import (
	"io"
	"strconv"
	"time"
)

// Test-only commands, compiled in with -tags tapline_testcmds so end-to-end
// tests can ask the real binary for replies of any size and latency.
func init() { extras = append(extras, registerTest) }

func registerTest(t *Table) {
	t.Register(Command{Name: "test_blob", Level: LimitedRead, Plaintext: true, Hidden: true, Inline: true, Handler: testBlob,
		Params:  []Param{{Name: "size"}, {Name: "delay_ms", Optional: true}},
		Summary: "reply with size bytes of numbered 16-byte records"})
	t.Register(Command{Name: "test_sleep", Level: LimitedRead, Plaintext: true, Hidden: true, Handler: testSleep,
		Params:  []Param{{Name: "ms"}},
		Summary: "sleep on a worker, then reply slept"})
}

func testBlob(req *Request, rep *Reply) {
	size, err := strconv.ParseInt(string(req.Arg(0)), 10, 64)
	if err != nil || size < 0 {
		rep.Fail(CodeInvalid, "test_blob: bad size")
		return
	}
	delay, _ := strconv.Atoi(string(req.Arg(1)))
	rep.Kind, rep.Size = Binary, size
	rep.Stream = func(w io.Writer) error {
		time.Sleep(time.Duration(delay) * time.Millisecond)
		return writeBlob(w, size)
	}
}

// writeBlob writes size bytes of records fmt.Sprintf("%015d\n", k). The
// digits are written by hand: end-to-end tests stream hundreds of MiB of it,
// and fmt would make the generator, not the server, the bottleneck.
func writeBlob(w io.Writer, size int64) error {
	buf := make([]byte, 64<<10)
	var k int64
	for size > 0 {
		for off := 0; off+16 <= len(buf); off += 16 {
			putRecord(buf[off:off+16], k)
			k++
		}
		n := min(int64(len(buf)), size)
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		size -= n
	}
	return nil
}

func putRecord(r []byte, k int64) {
	r[15] = '\n'
	for i := 14; i >= 0; i-- {
		r[i] = byte('0' + k%10)
		k /= 10
	}
}

func testSleep(req *Request, rep *Reply) {
	ms, err := strconv.Atoi(string(req.Arg(0)))
	if err != nil || ms < 0 || ms > 60000 {
		rep.Fail(CodeInvalid, "test_sleep: bad ms")
		return
	}
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
	case <-req.Ctx.Done():
	}
	rep.WriteString("slept\n")
}
