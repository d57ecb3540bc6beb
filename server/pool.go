package server

import (
	"time"

	"sync"

	"tapline/commands"
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

// job carries one request (one-shot modes) or a batch of pipelined requests
// (sessions) from the loop to wherever it runs, and their output back.
// Pooled per wire mode: steady-state requests allocate nothing here.
type job struct {
	c        *conn
	in       []byte // the input: request lines each ended by '\n', or one legacy frame
	lines    int
	tooLarge bool // a session's batch ended with a line over the limit
	// reqs are the requests of in, framed, decrypted, split and looked
	// up once by the wire's prepare, on the loop or (what the loop may
	// not do) on the worker.
	reqs []request
	// next is how far the job has run: requests of reqs (JSON sessions)
	// or frames (hardened sessions). more: it stopped after a reply that
	// streams, with requests left. A session runs at most one streamed
	// reply at a time (each may hold a whole snapshot of a table): the
	// job waits on its connection (conn.held) until that reply is
	// written, then continues from next.
	next  int
	more  bool
	items []outItem
	req   commands.Request
	rep   commands.Reply
	st    jobState // the wire mode's own state: nil, *legacyState or *hardenedState
	// now is when the job started running (execJob): one clock read for
	// the access checks of all its requests (a token's expiry, the
	// backoff and rate windows), which a batch runs within microseconds.
	now time.Time
}

// jobState is a wire mode's per-job state, kept with its pooled job.
type jobState interface{ reset() }

// jobPools pool jobs per wire mode, each job with its mode's state.
var jobPools [modeHardened + 1]sync.Pool

func init() {
	for m := modeText; m <= modeHardened; m++ {
		jobPools[m].New = func() any { return &job{st: wires[m].newState()} }
	}
}

func newJob(c *conn) *job {
	j := jobPools[c.mode].Get().(*job)
	j.c = c
	return j
}

func (j *job) add(line []byte) {
	j.in = append(append(j.in, line...), '\n')
	j.lines++
}

func (j *job) release() {
	m := j.c.mode
	j.c, j.in, j.lines, j.tooLarge = nil, j.in[:0], 0, false
	clear(j.reqs) // no references into old input
	j.reqs = j.reqs[:0]
	j.next, j.more, j.now = 0, false, time.Time{}
	j.items = j.items[:0]
	j.req.Reset()
	if j.st != nil {
		j.st.reset()
	}
	if cap(j.in) > batchBytes*2 {
		j.in = nil
	}
	jobPools[m].Put(j)
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

// runJob runs a job on a worker and posts the output to the loop.
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

// execJob runs the requests of j its wire prepared, on the loop or a
// worker, and fills j.items.
func (s *Server) execJob(j *job) {
	c := j.c
	j.req.Ctx = s.ctx
	j.req.Server, j.req.Env = s, s.env
	j.req.Conn = commands.ConnInfo{ID: c.id, Listener: c.listener, Peer: c.peer, Engine: c.eng, Handle: c}
	j.now = time.Now()
	c.wire().exec(s, j)
}
