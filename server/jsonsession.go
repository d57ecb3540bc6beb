package server

import "tapline/commands"

// jsonWire is the JSON session: one request object per line, one
// envelope per reply, pipelined, until quit or the client closes.
type jsonWire struct{}

func (jsonWire) newState() jobState { return nil }

func (jsonWire) traffic(c *conn, buf []byte) { c.trafficSession(buf) }

func (jsonWire) eof(c *conn, rest []byte) { c.sessionEOF(rest) }

// prepare parses the batch, once (a job continued after a stream is
// parsed already), and reports whether what is left of it is inline.
func (jsonWire) prepare(s *Server, j *job) bool {
	if len(j.reqs) == 0 {
		j.reqs = s.jsonRequests(j.in, j.reqs)
	}
	for i := j.next; i < len(j.reqs); i++ {
		if !j.reqs[i].inline() {
			return false
		}
	}
	return true
}

// exec runs a batch of JSON requests, from j.next up to the first one
// whose reply streams (see job.more).
func (jsonWire) exec(s *Server, j *job) {
	var end bool
	var ran int
	j.items, end, ran = s.runJSON(j, j.reqs[j.next:], j.items, true)
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

// runJSON runs JSON requests (of a JSON session, or of one hardened
// frame), appending their envelopes to one buffer; a stream closes the
// current buffer so order is kept. With oneStream it stops after the first
// request whose reply streams. It reports whether the session must end
// (quit) and how many requests ran.
func (s *Server) runJSON(j *job, reqs []request, items []outItem, oneStream bool) ([]outItem, bool, int) {
	pb := getBuf()
	out := *pb
	j.items, items = items, nil // envelope() appends stream items to j.items
	id := j.c.identity()
	k := 0
	for k < len(reqs) {
		q := &reqs[k]
		k++
		s.run(j, id, q)
		if j.c.whoGen != id.gen { // an auth changed who the connection is
			id = j.c.identity()
		}
		out, pb = s.envelope(j, q.id, out, pb)
		if j.rep.Close || (oneStream && j.rep.Stream != nil) {
			break
		}
	}
	*pb = out
	items, j.items = append(j.items, outItem{buf: out, pooled: pb}), nil
	return items, j.rep.Close, k
}

// envelope appends j.rep's envelope to out. A reply that streams closes out
// as an item, then the stream; what follows goes to a new buffer, which is
// returned.
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
