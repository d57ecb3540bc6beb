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
	if !c.textAuth && isAuthLine(line) { // "auth TOKEN", then the request
		c.textAuth = true
		if !s.textAuth(c, line) {
			_, _ = c.gc.Discard(-1)
			c.leftover = 0
			return
		}
		_, _ = c.gc.Discard(n)
		rest, _ := c.gc.Peek(-1)
		c.leftover = len(rest)
		if len(rest) > 0 {
			textWire{}.traffic(c, rest)
		}
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
	if !c.textAuth && isAuthLine(line) {
		c.textAuth = true
		_, n, _ := nextLine(rest, c.eng.srv.cfg.MaxRequest)
		if n == 0 || !c.eng.srv.textAuth(c, line) {
			return // "auth TOKEN" alone: nothing to answer
		}
		if line, err = lastLine(rest[n:], c.eng.srv.cfg.MaxRequest); err != nil || len(rest[n:]) == 0 {
			return
		}
	}
	j := newJob(c)
	j.add(line)
	c.dispatch(j)
}
