package server

// textWire is VoIPmonitor's plaintext one-shot mode: the first line is the
// request, the reply is the bytes, then the connection closes.
type textWire struct{}

func (textWire) newState() jobState { return nil }

// traffic waits for the first line. On the loop.
func (textWire) traffic(c *conn, buf []byte) {
	s := c.eng.srv
	line, n, err := nextLine(buf, s.cfg.MaxRequest)
	if err != nil {
		_, _ = c.gc.Discard(-1)
		c.leftover = 0
		c.failNow("request too large", "too_large")
		return
	}
	if n == 0 {
		c.leftover = len(buf)
		return
	}
	j := newJob(c)
	j.add(line)
	_, _ = c.gc.Discard(-1)
	c.leftover = 0
	c.dispatch(j)
}

func (textWire) prepare(s *Server, j *job) bool {
	if len(j.reqs) == 0 {
		j.reqs = append(j.reqs, s.textRequest(j.in[:len(j.in)-1]))
	}
	return j.reqs[0].inline()
}

func (textWire) exec(s *Server, j *job) {
	j.items = s.runText(j, &j.reqs[0], j.items)
	j.items[len(j.items)-1].close = true
}

// eof answers a request that ended with the client's EOF instead of a
// newline.
func (textWire) eof(c *conn, rest []byte) {
	line, err := lastLine(rest, c.eng.srv.cfg.MaxRequest)
	if err != nil {
		return
	}
	j := newJob(c)
	j.add(line)
	c.dispatch(j)
}
