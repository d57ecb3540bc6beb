package server

// wire is what one wire mode does its own way. The rest of a connection's
// life (conn.go), the worker pool (pool.go), the one place where a command
// runs for an identity (run.go) and the ordered delivery path (deliver.go)
// are shared by all four: text.go, legacy.go, jsonsession.go, hardened.go.
type wire interface {
	// traffic takes the bytes that arrived (a Peek of gnet's input
	// buffer) and dispatches what makes complete requests. On the loop.
	traffic(c *conn, buf []byte)
	// prepare frames, decrypts, splits and looks up j's requests into
	// j.reqs as far as the loop may, and reports whether all of j may run
	// on the loop (inline commands; unknown ones only get an error).
	// Anything it leaves undone is done by exec on a worker. On the loop.
	prepare(s *Server, j *job) bool
	// exec runs j's requests through Server.run and fills j.items with
	// the reply, as the wire frames it: on the loop if prepare said so,
	// on a worker otherwise.
	exec(s *Server, j *job)
	// eof keeps the input still unread when the client half-closes, so
	// that it is answered in order after what is in flight. On the loop.
	eof(c *conn, rest []byte)
	// newState is the mode's per-job state (job.st), nil if it has none.
	newState() jobState
}

// wires maps a connection's mode to its wire.
var wires = [...]wire{
	modeUnknown:  nil,
	modeText:     textWire{},
	modeJSON:     jsonWire{},
	modeLegacy:   legacyWire{},
	modeHardened: hardenedWire{},
}

func (c *conn) wire() wire { return wires[c.mode] }
