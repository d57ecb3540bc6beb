package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"tapline/clients"
	"tapline/crypto"
	"tapline/jsonobj"
)

// Modes.
const (
	OneShot  = "oneshot"  // dial, one line, half-close, read until close
	Session  = "session"  // persistent connection, one request in flight
	Pipeline = "pipeline" // persistent connection, Depth requests in flight
)

// Config is one benchmark point: one target, one mode, one concurrency.
type Config struct {
	Label       string // name of the series in reports and charts ("tapline", "redis", ...)
	Target      Target
	Mode        string // OneShot, Session or Pipeline
	Crypto      string // "none", "legacy" or "hardened"
	Key         crypto.Key
	Command     string // tapline command (text line in one-shot, "cmd" in JSON sessions)
	Token       string // JSON sessions: authenticate with this access token first
	RawLine     string // raw mode: this line is sent as is (plus "\n" unless it ends with one)
	Terminator  string // raw mode: a reply ends with this; "" means at EOF (one-shot only)
	Concurrency int
	Depth       int           // pipeline depth (requests in flight per connection)
	Duration    time.Duration // run for this long ...
	Requests    int64         // ... or until this many requests are done (wins when > 0)
	Timeout     time.Duration // per request (default 5s)
	ServerPID   int           // if set, the server's CPU is read from /proc for the report
	// Progress, if set, is called about ten times a second with the
	// number of requests done so far.
	Progress func(done int64)
}

// Raw reports whether the config drives a plain line protocol rather than
// tapline's own framing.
func (c *Config) Raw() bool { return c.RawLine != "" }

func (c *Config) normalize() error {
	if c.Mode == "" {
		c.Mode = OneShot
	}
	if c.Crypto == "" {
		c.Crypto = "none"
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Command == "" && c.RawLine == "" {
		c.Command = "ping"
	}
	switch c.Mode {
	case OneShot, Session:
		c.Depth = 1
	case Pipeline:
		if c.Depth <= 0 {
			c.Depth = 16
		}
	default:
		return fmt.Errorf("mode %q: want oneshot, session or pipeline", c.Mode)
	}
	switch c.Crypto {
	case "none":
	case "legacy", "hardened":
		if c.Raw() {
			return errors.New("raw mode cannot be encrypted")
		}
		if c.Key.AES == nil {
			return fmt.Errorf("crypto %s needs a key", c.Crypto)
		}
		if c.Crypto == "legacy" && c.Mode != OneShot {
			return errors.New("legacy encryption is one-shot only (VoIPmonitor's framing has no sessions)")
		}
	default:
		return fmt.Errorf("crypto %q: want none, legacy or hardened", c.Crypto)
	}
	if len(c.Terminator) > maxTerminator {
		return fmt.Errorf("reply terminator longer than %d bytes", maxTerminator)
	}
	if c.Raw() && c.Terminator == "" && c.Mode != OneShot {
		return errors.New("raw session and pipeline modes need --reply-terminator")
	}
	if c.Duration <= 0 && c.Requests <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.Target.Network == "" {
		return fmt.Errorf("target %s has not been started", c.Target)
	}
	return nil
}

// Error kinds.
const (
	ErrDial    = "dial"
	ErrRefused = "refused"
	ErrTimeout = "timeout"
	ErrShort   = "short reply"
	ErrBad     = "bad reply"
	ErrIO      = "io"
)

// opError carries the kind of a failed request.
type opError struct {
	kind string
	err  error
}

func (e *opError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// classify turns an error into one of the kinds above.
func classify(err error) string {
	var oe *opError
	if errors.As(err, &oe) {
		return oe.kind
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EAGAIN):
		return ErrRefused // EAGAIN: a full Unix socket backlog
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	case isDial(err):
		return ErrDial
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrShort
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrTimeout
	}
	return ErrIO
}

// isDial reports whether err is a failed dial (clients.Dial wraps it).
func isDial(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// worker is one connection's worth of load. Each keeps its own histogram
// and counters; Run merges them at the end, so the hot path shares nothing.
type worker struct {
	cfg    *Config
	hist   *hdrhistogram.Histogram
	errs   map[string]int64
	ok     int64
	in     int64
	out    int64
	buf    []byte
	req    []byte
	lastEr error
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(60*time.Second), 3) // nanoseconds
}

// Run executes one benchmark point.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	take := budget(ctx, &cfg)
	var done atomic.Int64
	ws := make([]*worker, cfg.Concurrency)
	for i := range ws {
		ws[i] = &worker{cfg: &cfg, hist: newHist(), errs: map[string]int64{}}
	}
	cpu0 := cpuTime()
	srv := startServerCPU(cfg.ServerPID)
	start := time.Now()
	stopProgress := reportProgress(&cfg, &done)
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx, take, &done)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	srvCPU := srv()
	stopProgress()
	r := summarize(&cfg, ws, elapsed, cpu)
	if srvCPU >= 0 && r.Requests > 0 {
		r.ServerCPUSeconds = srvCPU.Seconds()
		r.ServerCPUPerReqUS = srvCPU.Seconds() * 1e6 / float64(r.Requests)
	}
	return r, nil
}

// budget returns the function workers call to start n more requests: it
// grants how many may start, 0 once the point's duration or request
// budget is spent or ctx is done.
func budget(ctx context.Context, cfg *Config) func(n int) int {
	var deadline time.Time
	if cfg.Requests <= 0 {
		deadline = time.Now().Add(cfg.Duration)
	}
	var left atomic.Int64 // requests left to start (Requests mode)
	left.Store(cfg.Requests)
	return func(n int) int {
		if ctx.Err() != nil {
			return 0
		}
		if cfg.Requests <= 0 {
			if time.Now().After(deadline) {
				return 0
			}
			return n
		}
		l := left.Add(-int64(n))
		if l >= 0 {
			return n
		}
		if got := int(l) + n; got > 0 {
			return got
		}
		return 0
	}
}

// startServerCPU starts measuring the CPU of process pid; the returned
// function gives what it used since, or -1 when unknown.
func startServerCPU(pid int) func() time.Duration {
	if pid <= 0 {
		return func() time.Duration { return -1 }
	}
	srv0 := procCPU(pid)
	return func() time.Duration {
		if srv0 < 0 {
			return -1
		}
		if s1 := procCPU(pid); s1 >= 0 {
			return s1 - srv0
		}
		return -1
	}
}

// reportProgress calls cfg.Progress with the requests done every 100 ms
// until the returned stop, which reports the last count.
func reportProgress(cfg *Config, done *atomic.Int64) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				cfg.Progress(done.Load())
			}
		}
	}()
	return func() {
		close(quit)
		cfg.Progress(done.Load())
	}
}

func (w *worker) fail(err error, n int) {
	w.errs[classify(err)] += int64(n)
	w.lastEr = err
}

func (w *worker) loop(ctx context.Context, take func(int) int, done *atomic.Int64) {
	switch {
	case w.cfg.Mode == OneShot:
		for take(1) == 1 {
			t0 := time.Now()
			if err := w.oneShot(ctx); err != nil {
				w.fail(err, 1)
			} else {
				w.record(t0, time.Now())
			}
			done.Add(1)
		}
	case w.cfg.Raw():
		w.rawSession(ctx, take, done)
	default:
		w.jsonSession(ctx, take, done)
	}
}

func (w *worker) record(t0, t1 time.Time) {
	_ = w.hist.RecordValue(int64(t1.Sub(t0)))
	w.ok++
}

func (w *worker) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: w.cfg.Timeout}
	c, err := d.DialContext(ctx, w.cfg.Target.Network, w.cfg.Target.Addr)
	if err != nil {
		return nil, &opError{classify(err), err}
	}
	return c, nil
}

func (w *worker) requestLine() []byte {
	if w.req == nil {
		s := w.cfg.Command
		if w.cfg.Raw() {
			s = w.cfg.RawLine
		}
		if !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		w.req = []byte(s)
	}
	return w.req
}

// oneShot is one connection, one request.
func (w *worker) oneShot(ctx context.Context) error {
	if w.cfg.Crypto != "none" {
		return w.oneShotSecure(ctx)
	}
	c, err := w.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(w.cfg.Timeout))
	req := w.requestLine()
	if _, err := c.Write(req); err != nil {
		return err
	}
	w.out += int64(len(req))
	if !w.cfg.Raw() {
		// tapline text mode: half-close like nc -N; the reply ends at EOF.
		// Raw targets are not half-closed: Redis drops a client at EOF.
		if hc, ok := c.(interface{ CloseWrite() error }); ok {
			_ = hc.CloseWrite()
		}
	}
	if w.buf == nil {
		w.buf = make([]byte, 64<<10)
	}
	term := []byte(w.cfg.Terminator)
	var tail tailWindow
	var total int64
	defer func() { w.in += total }()
	for {
		n, err := c.Read(w.buf)
		if total == 0 && n > 0 && !w.cfg.Raw() && bytes.HasPrefix(w.buf[:n], []byte("error: ")) {
			total += int64(n)
			return &opError{ErrBad, fmt.Errorf("%q", bytes.TrimSpace(w.buf[:min(n, 200)]))}
		}
		total += int64(n)
		if n > 0 && len(term) > 0 && tail.ends(w.buf[:n], term) {
			return nil
		}
		if err == io.EOF {
			if len(term) > 0 {
				return &opError{ErrShort, fmt.Errorf("EOF before %q after %d bytes", term, total)}
			}
			if total == 0 {
				return &opError{ErrShort, errors.New("empty reply")}
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// countWriter counts the reply bytes and drops them.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func (w *worker) oneShotSecure(ctx context.Context) error {
	mode := clients.Legacy
	if w.cfg.Crypto == "hardened" {
		mode = clients.Hardened
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	var cw countWriter
	_, err := clients.DoSecure(ctx, w.cfg.Target.Network, w.cfg.Target.Addr, mode, w.cfg.Key, w.cfg.Command, &cw)
	w.in += cw.n
	w.out += int64(len(w.cfg.Command)) + 1
	if err != nil {
		if isDial(err) {
			return &opError{classify(err), err}
		}
		if errors.Is(err, clients.ErrPlainReply) {
			return &opError{ErrBad, err}
		}
		return err
	}
	if cw.n == 0 {
		return &opError{ErrShort, errors.New("empty reply")}
	}
	return nil
}

// connSlot holds a worker's current connection so that the end of ctx can
// interrupt it from another goroutine (context.AfterFunc).
type connSlot struct {
	mu   sync.Mutex
	c    net.Conn
	stop func() bool
}

func newConnSlot(ctx context.Context) *connSlot {
	s := new(connSlot)
	s.stop = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.c != nil {
			_ = s.c.SetDeadline(time.Unix(1, 0))
		}
	})
	return s
}

// set makes c the connection to interrupt.
func (s *connSlot) set(c net.Conn) {
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
}

// drop closes the current connection, if any, and forgets it.
func (s *connSlot) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}

// close stops watching ctx and closes the current connection.
func (s *connSlot) close() {
	s.stop()
	s.drop()
}

// rawSession drives a plain line protocol (Redis inline, the floor) over
// one persistent connection: send Depth lines, read Depth replies.
func (w *worker) rawSession(ctx context.Context, take func(int) int, done *atomic.Int64) {
	term := []byte(w.cfg.Terminator)
	var c net.Conn
	var br *bufio.Reader
	batch := make([]byte, 0, w.cfg.Depth*len(w.requestLine()))
	slot := newConnSlot(ctx)
	defer slot.close()
	for {
		n := take(w.cfg.Depth)
		if n == 0 {
			return
		}
		if c == nil {
			var err error
			if c, err = w.dial(ctx); err != nil {
				w.fail(err, n)
				done.Add(int64(n))
				continue
			}
			slot.set(c)
			br = bufio.NewReaderSize(c, 64<<10)
		}
		batch = batch[:0]
		for range n {
			batch = append(batch, w.requestLine()...)
		}
		_ = c.SetDeadline(time.Now().Add(w.cfg.Timeout))
		t0 := time.Now()
		_, err := c.Write(batch)
		w.out += int64(len(batch))
		got := 0
		for err == nil && got < n {
			var k int
			k, err = readUntil(br, term)
			w.in += int64(k)
			if err == nil {
				w.record(t0, time.Now())
				got++
			}
		}
		if err != nil {
			w.fail(err, n-got)
			slot.drop()
			c = nil
		}
		done.Add(int64(n))
	}
}

// maxTerminator bounds Config.Terminator.
const maxTerminator = 16

// tailWindow keeps the last bytes of a reply read in pieces, to spot a
// terminator that straddles two of them.
type tailWindow struct {
	buf [2 * maxTerminator]byte
	n   int
}

// ends adds p and reports whether the bytes seen so far end with term
// (at most maxTerminator bytes).
func (t *tailWindow) ends(p, term []byte) bool {
	k := len(term)
	t.n += copy(t.buf[t.n:], p[max(0, len(p)-k):])
	if t.n > k {
		t.n = copy(t.buf[:], t.buf[t.n-k:t.n])
	}
	return bytes.Equal(t.buf[:t.n], term)
}

// readUntil consumes one reply ending with term and returns its length.
func readUntil(br *bufio.Reader, term []byte) (int, error) {
	last := term[len(term)-1]
	total := 0
	var tail tailWindow
	for {
		chunk, err := br.ReadSlice(last)
		total += len(chunk)
		ended := tail.ends(chunk, term)
		switch {
		case err == nil:
			if ended {
				return total, nil
			}
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return total, &opError{ErrShort, fmt.Errorf("EOF after %d bytes", total)}
		default:
			return total, err
		}
	}
}

// jsonSession drives tapline's JSON session (plain or hardened).
func (w *worker) jsonSession(ctx context.Context, take func(int) int, done *atomic.Int64) {
	var s *clients.Session
	r := new(clients.Reply)
	quoted := len(jsonobj.AppendString(nil, []byte(w.cfg.Command)))
	slot := newConnSlot(ctx)
	defer slot.close()
	for {
		n := take(w.cfg.Depth)
		if n == 0 {
			return
		}
		if s == nil {
			var err error
			if w.cfg.Crypto == "hardened" {
				s, err = clients.OpenHardened(ctx, w.cfg.Target.Network, w.cfg.Target.Addr, w.cfg.Key)
			} else {
				s, err = clients.Open(ctx, w.cfg.Target.Network, w.cfg.Target.Addr)
			}
			if err == nil && w.cfg.Token != "" {
				err = authSession(s, w.cfg.Token, r)
			}
			if err != nil {
				if s != nil {
					_ = s.Conn().Close()
					s = nil
				}
				w.fail(&opError{classify(err), err}, n)
				done.Add(int64(n))
				continue
			}
			slot.set(s.Conn())
		}
		_ = s.Conn().SetDeadline(time.Now().Add(w.cfg.Timeout))
		t0 := time.Now()
		var err error
		for range n {
			var id int64
			if id, err = s.Send(w.cfg.Command, nil); err != nil {
				break
			}
			// {"id":N,"cmd":"…"}\n: the request's plaintext length.
			w.out += int64(digits(id)+quoted) + 15
		}
		if err == nil {
			err = s.Flush()
		}
		got := 0
		for err == nil && got < n {
			if err = s.RecvInto(r); err != nil {
				break
			}
			// {"id":N,"error":"","result":…}\n: the reply's plaintext length.
			w.in += int64(len(r.ID)+len(r.Result)+len(r.Binary)) + 29
			if re := r.Err(); re != nil {
				w.fail(&opError{ErrBad, re}, 1)
			} else {
				w.record(t0, time.Now())
			}
			got++
		}
		if err != nil {
			w.fail(err, n-got)
			slot.drop() // closes s
			s = nil
		}
		done.Add(int64(n))
	}
}

// authSession sends the auth command with tok and checks its answer.
func authSession(s *clients.Session, tok string, r *clients.Reply) error {
	if _, err := s.Send("auth", map[string]string{"token": tok}); err != nil {
		return err
	}
	if err := s.Flush(); err != nil {
		return err
	}
	if err := s.RecvInto(r); err != nil {
		return err
	}
	return r.Err()
}

// digits is the length of id in decimal.
func digits(id int64) int {
	n := 1
	for ; id >= 10; id /= 10 {
		n++
	}
	return n
}
