//go:build tapline_testcmds

package commands

import (
	"fmt"
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
		return WriteBlob(w, size)
	}
}

// WriteBlob writes size bytes of records fmt.Sprintf("%015d\n", k).
func WriteBlob(w io.Writer, size int64) error {
	buf := make([]byte, 0, 64<<10)
	var k int64
	for size > 0 {
		buf = buf[:0]
		for len(buf)+16 <= cap(buf) {
			buf = fmt.Appendf(buf, "%015d\n", k)
			k++
		}
		n := int64(len(buf))
		if n > size {
			n = size
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		size -= n
	}
	return nil
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
