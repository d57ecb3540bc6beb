package state

import (
	"encoding/binary"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"tapline/jsonobj"
)

// The encoders append JSON by hand: the values are few and known, and
// encoding/json would cost 2–3× the time and an allocation per row.

// appendStrOrNull lists an empty string as null, as VoIPmonitor's record
// fields do.
func appendStrOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return jsonobj.AppendStringS(b, s)
}

// appendIP encodes an address as VoIPmonitor does: IPv4 as the unsigned
// host-order integer (127.0.0.1 → 2130706433), IPv6 as a string, none as
// null.
func appendIP(b []byte, a netip.Addr) []byte {
	a = a.Unmap()
	switch {
	case a.Is4():
		v := a.As4()
		return strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(v[:])), 10)
	case a.IsValid():
		b = append(b, '"')
		b = a.WithZone("").AppendTo(b) // a zone is free text: never in the JSON
		return append(b, '"')
	}
	return append(b, "null"...)
}

const hexDigits = "0123456789abcdef"

// appendRef appends a callreference: "0x" and lowercase hex, like the
// pointers VoIPmonitor prints.
func appendRef(b []byte, ref uint64) []byte {
	var buf [16]byte
	i := len(buf)
	for {
		i--
		buf[i] = hexDigits[ref&0xf]
		if ref >>= 4; ref == 0 {
			break
		}
	}
	b = append(b, '"', '0', 'x')
	b = append(b, buf[i:]...)
	return append(b, '"')
}

// numCache remembers the decimal form of the last value of a column:
// listings repeat values row after row (rows sorted by time share their
// second, the calls of one PBX its address), and copying 10 bytes is
// cheaper than formatting them.
type numCache struct {
	v   int64
	n   uint8
	ok  bool
	buf [20]byte
}

func (c *numCache) append(b []byte, v int64) []byte {
	if !c.ok || v != c.v {
		c.v, c.ok = v, true
		c.n = uint8(len(strconv.AppendInt(c.buf[:0], v, 10)))
	}
	return append(b, c.buf[:c.n]...)
}

// ipCache is numCache for an address column.
type ipCache struct {
	a   netip.Addr
	n   uint8
	ok  bool
	buf [48]byte
}

func (c *ipCache) append(b []byte, a netip.Addr) []byte {
	if !c.ok || a != c.a {
		c.a, c.ok = a, true
		c.n = uint8(len(appendIP(c.buf[:0], a)))
	}
	return append(b, c.buf[:c.n]...)
}

// dateCache formats "YYYY-MM-DD HH:MM:SS" in a zone, remembering the last
// second: rows sorted by time repeat it, and the zone lookup is the cost.
type dateCache struct {
	loc   *time.Location
	sec   int64
	valid bool
	buf   [19]byte
}

func newDateCache(loc *time.Location) dateCache {
	if loc == nil {
		loc = time.Local
	}
	return dateCache{loc: loc}
}

// appendQuoted appends the datetime of t as a JSON string.
func (d *dateCache) appendQuoted(b []byte, t time.Time) []byte {
	if sec := t.Unix(); !d.valid || sec != d.sec {
		d.format(sec)
	}
	b = append(b, '"')
	b = append(b, d.buf[:]...)
	return append(b, '"')
}

func (d *dateCache) format(sec int64) {
	t := time.Unix(sec, 0).In(d.loc)
	y, mo, day := t.Date()
	h, mi, s := t.Clock()
	put := func(i, v, n int) {
		for j := i + n - 1; j >= i; j-- {
			d.buf[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	d.buf[4] = '-'
	put(5, int(mo), 2)
	d.buf[7] = '-'
	put(8, day, 2)
	d.buf[10] = ' '
	put(11, h, 2)
	d.buf[13] = ':'
	put(14, mi, 2)
	d.buf[16] = ':'
	put(17, s, 2)
	d.sec, d.valid = sec, true
}

// Output chunking: rows are appended into one pooled buffer that is
// written out once it holds flushAt bytes, in writes of at most maxChunk,
// so a million-row listing never sits encoded in memory.
const (
	flushAt  = 48 << 10
	maxChunk = 64 << 10
	poolMax  = 256 << 10 // larger buffers (huge rows) are not pooled
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, maxChunk+8<<10); return &b }}

// chunkWriter buffers output for w; the first write error sticks.
type chunkWriter struct {
	w   io.Writer
	buf []byte
	bp  *[]byte
	err error
}

func newChunkWriter(w io.Writer) *chunkWriter {
	bp := bufPool.Get().(*[]byte)
	return &chunkWriter{w: w, buf: (*bp)[:0], bp: bp}
}

// rowDone flushes when the buffer is full enough.
func (cw *chunkWriter) rowDone() error {
	if len(cw.buf) >= flushAt {
		cw.flush()
	}
	return cw.err
}

func (cw *chunkWriter) flush() {
	for b := cw.buf; len(b) > 0 && cw.err == nil; {
		n := min(len(b), maxChunk)
		_, cw.err = cw.w.Write(b[:n])
		b = b[n:]
	}
	cw.buf = cw.buf[:0]
}

// close flushes the rest and returns the buffer to the pool.
func (cw *chunkWriter) close() error {
	cw.flush()
	if cap(cw.buf) <= poolMax {
		*cw.bp = cw.buf[:0]
		bufPool.Put(cw.bp)
	}
	cw.buf, cw.bp = nil, nil
	return cw.err
}
