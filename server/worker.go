package server

import (
	"bytes"
	"sync"

	"tapline/commands"
	"tapline/crypto"
	"tapline/jsonobj"
)

// pool is a fixed set of worker goroutines behind a bounded queue. Handlers
// may block briefly (Redis, files) without ever stalling an event loop, and a
// full queue is an immediate "busy" rather than unbounded growth.
type pool struct {
	jobs chan *job
	wg   sync.WaitGroup
}

func newPool(workers, queue int, run func(*job)) *pool {
	p := &pool{jobs: make(chan *job, queue)}
	p.wg.Add(workers)
	for range workers {
		go func() {
			defer p.wg.Done()
			for j := range p.jobs {
				run(j)
			}
		}()
	}
	return p
}

func (p *pool) submit(j *job) bool {
	select {
	case p.jobs <- j:
		return true
	default:
		return false
	}
}

func (p *pool) close() {
	close(p.jobs)
	p.wg.Wait()
}

// job carries one request (text) or a batch of pipelined requests (JSON) to
// a worker and their output back. Pooled: steady-state requests allocate
// nothing here.
type job struct {
	c        *conn
	in       []byte // request lines, each ended by '\n'
	lines    int
	tooLarge bool
	items    []outItem
	scratch  []byte // decrypted frame plaintext
	req      commands.Request
	rep      commands.Reply
	// reqs are the JSON requests of in (JSON sessions) or of the opened
	// frames (hardened sessions, see openedFrame.reqs), parsed once by
	// inline on the loop and reused by the executor.
	reqs []parsedReq
	// frames are the hardened frames of in opened so far (openFrames),
	// their plaintexts in scratch; openOff is where the next one starts.
	frames  []openedFrame
	openOff int
	// next is how far the job has run: requests of reqs (JSON sessions)
	// or frames (hardened sessions). more: it stopped after a reply that
	// streams, with requests left. A session runs at most one streamed
	// reply at a time (each may hold a whole snapshot of a table): the
	// job waits on its connection (conn.held) until that reply is
	// written, then continues from next. parsedFrames: frames whose JSON
	// requests inlineHardened parsed.
	next         int
	more         bool
	parsedFrames int
	// legacyOK: the legacy request in in is decrypted (decryptLegacy);
	// legacyLine is its command line, legacyKey the key that decrypted it.
	// legacyTried: inlineLegacy tried the keys on the loop, when the
	// current key's fingerprint was legacyFP.
	legacyOK    bool
	legacyLine  []byte
	legacyKey   crypto.Key
	legacyTried bool
	legacyFP    string
}

type parsedReq struct {
	r   jsonReq
	msg string
}

var jobPool = sync.Pool{New: func() any { return new(job) }}

func newJob(c *conn) *job {
	j := jobPool.Get().(*job)
	j.c = c
	return j
}

func (j *job) add(line []byte) {
	j.in = append(append(j.in, line...), '\n')
	j.lines++
}

func (j *job) release() {
	j.c, j.in, j.lines, j.tooLarge = nil, j.in[:0], 0, false
	clear(j.reqs) // no references into old input
	j.reqs = j.reqs[:0]
	clear(j.frames)
	j.frames, j.openOff, j.scratch = j.frames[:0], 0, j.scratch[:0]
	j.next, j.more, j.parsedFrames = 0, false, 0
	j.legacyOK, j.legacyLine, j.legacyKey, j.legacyTried, j.legacyFP = false, nil, crypto.Key{}, false, ""
	j.items = j.items[:0]
	j.req.Reset()
	if cap(j.in) > batchBytes*2 {
		j.in = nil
	}
	if cap(j.scratch) > batchBytes*2 {
		j.scratch = nil
	}
	jobPool.Put(j)
}

// byte buffers for reply output, recycled once written.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if b == nil || cap(*b) > 1<<20 {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// runJob executes a job on a worker and posts the output to the loop.
func (s *Server) runJob(j *job) {
	s.execJob(j)
	c := j.c
	if !c.eng.execute(c, func() { c.complete(j) }) {
		c.eng.jobs.Add(-1) // engine gone: the reply has nowhere to go
		for _, it := range j.items {
			putBuf(it.pooled)
		}
		j.items = nil
		j.release()
	}
}

// inline reports whether every request of j may run on the event loop
// (commands.Command.Inline, or unknown commands, which only get an error).
// JSON requests are parsed here, once, for the executor too.
func (s *Server) inline(j *job) bool {
	switch j.c.mode {
	case ModeLegacy:
		return s.inlineLegacy(j)
	case ModeHardened:
		return s.inlineHardened(j)
	case ModeJSON:
		if j.next == 0 { // a job continued after a stream is parsed already
			j.reqs = parseLines(j.in, j.reqs[:0])
		}
		ok := true
		for i := j.next; i < len(j.reqs); i++ {
			if p := &j.reqs[i]; p.msg == "" && !s.inlineCommand(p.r.cmd) {
				ok = false
			}
		}
		return ok
	}
	return s.inlineCommand(bytes.TrimSuffix(j.in, []byte("\n")))
}

// inlineCommand reports whether the command line may run on the loop
// (unknown commands only get an error).
func (s *Server) inlineCommand(line []byte) bool {
	name, _ := commands.Split(line)
	c := s.table.Lookup(name)
	return c == nil || c.Inline
}

// parseLines parses the non-blank lines of in ('\n'-separated; the last
// one may lack its '\n') and appends them to dst.
func parseLines(in []byte, dst []parsedReq) []parsedReq {
	for {
		line, rest, ok := nextRequestLine(in)
		if !ok {
			return dst
		}
		in = rest
		r, msg := parseJSONRequest(line)
		dst = append(dst, parsedReq{r, msg})
	}
}

// nextRequestLine returns the first non-blank line of in ('\n'-separated;
// the last one may lack its '\n') and what follows it; ok is false when
// only blank lines are left.
func nextRequestLine(in []byte) (line, rest []byte, ok bool) {
	for len(in) > 0 {
		line, rest = in, nil
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			line, rest = in[:i], in[i+1:]
		}
		if len(bytes.TrimSpace(line)) > 0 {
			return line, rest, true
		}
		in = rest
	}
	return nil, nil, false
}

// execJob runs every request of j and fills j.items.
func (s *Server) execJob(j *job) {
	j.prepare(s)
	switch j.c.mode {
	case ModeJSON:
		s.execJSON(j)
	case ModeLegacy:
		s.execLegacy(j)
	case ModeHardened:
		s.execHardened(j)
	default:
		j.items = s.runText(j, j.in[:len(j.in)-1], j.items)
		j.items[len(j.items)-1].close = true
	}
}

// runText executes one text request and appends its plain reply.
func (s *Server) runText(j *job, line []byte, items []outItem) []outItem {
	s.execLine(j, line)
	rep := &j.rep
	if rep.Stream != nil {
		size := int64(-1)
		if rep.Kind == commands.Binary {
			size = rep.Size
		}
		return append(items, outItem{stream: rep.Stream, size: size})
	}
	pb := getBuf()
	*pb = append(*pb, rep.Body...)
	return append(items, outItem{buf: *pb, pooled: pb})
}

func (j *job) prepare(s *Server) {
	c := j.c
	j.req.Ctx = s.ctx
	j.req.Server, j.req.Env = s, s.env
	j.req.Conn = commands.ConnInfo{ID: c.id, Listener: c.listener, Peer: c.peer, Engine: c.eng}
}

// execLine runs one text request into j.rep.
func (s *Server) execLine(j *job, line []byte) {
	name, args := commands.Split(line)
	j.rep.Reset()
	j.req.JSON = false
	j.req.Args = args
	s.dispatchCmd(j, name)
}

func (s *Server) dispatchCmd(j *job, name []byte) {
	j.c.requests.Add(1)
	cmd := s.table.Lookup(name)
	if cmd == nil {
		s.errors.Add(1)
		commands.NotFound(&j.rep)
		return
	}
	s.reqs[cmd.Index].Add(1)
	if s.needAES(j, cmd) {
		s.errors.Add(1)
		j.rep.FailText(commands.CodeForbidden, "need aes!", "need aes!\n")
		return
	}
	if s.plaintextTCPRefused(j, cmd) {
		s.errors.Add(1)
		j.rep.Fail(commands.CodeForbidden, cmd.Name+" refused on plaintext TCP")
		return
	}
	j.req.Cmd = cmd
	commands.Run(&j.req, &j.rep)
	if j.rep.Failed() {
		s.errors.Add(1)
	}
}

// execJSON runs a batch of JSON requests, from j.next up to the first one
// whose reply streams (see job.more).
func (s *Server) execJSON(j *job) {
	// inline parsed the batch into j.reqs. Without inline (execJob called
	// directly, as the benchmarks do) it is parsed here.
	if j.next == 0 && len(j.reqs) == 0 {
		j.reqs = parseLines(j.in, j.reqs[:0])
	}
	var end bool
	var ran int
	j.items, end, ran = s.runJSON(j, nil, j.reqs[j.next:], j.items, true)
	j.next += ran
	j.more = !end && j.next < len(j.reqs)
	if j.more {
		return
	}
	if j.tooLarge && !end {
		pb := getBuf()
		*pb = appendEnvelopeErr(*pb, nil, "request too large", commands.CodeTooLarge)
		j.items = append(j.items, outItem{buf: *pb, pooled: pb})
		end = true
	}
	j.items[len(j.items)-1].close = end
}

// runJSON runs JSON requests, appending their envelopes to one buffer; a
// stream closes the current buffer so order is kept. reqs are the requests
// of in, already parsed; with reqs nil the lines of in ('\n'-separated) are
// parsed as they run. With oneStream it stops after the first request whose
// reply streams. It reports whether the session must end (quit) and how
// many requests ran.
func (s *Server) runJSON(j *job, in []byte, reqs []parsedReq, items []outItem, oneStream bool) ([]outItem, bool, int) {
	pb := getBuf()
	out := *pb
	j.items, items = items, nil // envelope() appends stream items to j.items
	var parsed parsedReq
	k := 0
	for ; ; k++ {
		p := &parsed
		if reqs != nil {
			if k == len(reqs) {
				break
			}
			p = &reqs[k]
		} else {
			line, rest, ok := nextRequestLine(in)
			if !ok {
				break
			}
			in = rest
			p.r, p.msg = parseJSONRequest(line)
		}
		out, pb = s.execJSONLine(j, p, out, pb)
		if j.rep.Close || (oneStream && j.rep.Stream != nil) {
			k++
			break
		}
	}
	*pb = out
	items, j.items = append(j.items, outItem{buf: out, pooled: pb}), nil
	return items, j.rep.Close, k
}

// execJSONLine runs one request. It returns the (possibly new) output buffer.
func (s *Server) execJSONLine(j *job, p *parsedReq, out []byte, pb *[]byte) ([]byte, *[]byte) {
	j.rep.Reset()
	r := &p.r
	if p.msg != "" {
		j.c.requests.Add(1)
		s.errors.Add(1)
		return appendEnvelopeErr(out, r.id, p.msg, commands.CodeInvalid), pb
	}
	name, textArgs := commands.Split(r.cmd)
	j.req.JSON = true
	switch {
	case r.hasArgs:
		j.req.Args = r.args
	case len(textArgs) > 0:
		j.req.Args = jsonobj.AppendString(nil, textArgs) // "cmd":"help ping" works too
	default:
		j.req.Args = nil
	}
	s.dispatchCmd(j, name)
	return s.envelope(j, r.id, out, pb)
}

func (s *Server) envelope(j *job, id []byte, out []byte, pb *[]byte) ([]byte, *[]byte) {
	rep := &j.rep
	if rep.Failed() {
		return appendEnvelopeErr(out, id, rep.Msg, rep.Code), pb
	}
	if rep.Stream == nil {
		return appendEnvelopeOK(out, id, rep.Kind, rep.Body), pb
	}
	var tail string
	switch {
	case rep.Kind == commands.Binary && rep.Size >= 0:
		out = appendEnvelopeBinary(out, id, rep.Size)
	case rep.Kind == commands.JSON:
		out = append(appendEnvelopeHead(out, id), `,"result":`...)
		tail = "}\n"
	default:
		return appendEnvelopeErr(out, id, "reply of unknown size cannot be framed", commands.CodeFailed), pb
	}
	size := int64(-1)
	if rep.Kind == commands.Binary {
		size = rep.Size
	}
	*pb = out
	j.items = append(j.items, outItem{buf: out, pooled: pb}, outItem{stream: rep.Stream, size: size})
	pb = getBuf()
	return append((*pb)[:0], tail...), pb
}
