// Package server runs tapline's manager socket: gnet/v2 engines for the TCP
// and Unix listeners, per-connection state, request framing and
// decryption, limits, timeouts, a bounded worker pool, and one ordered
// delivery path per connection. It is a transport: what a command does is
// in package commands, which it reaches only through commands.Run, and the
// sensor's data reaches handlers through the commands.Env that cmd/tapline
// builds. It must not import cmd/tapline, bench, clients or e2e, nor
// sensor, state, capture, sip or redisstore (internal/layering checks it).
//
// The request path, one way for every wire mode:
//
//	OnTraffic (conn.go)        first bytes pick the wire mode: text, legacy, jsonsession, hardened
//	  wire.traffic             frame: a line, a legacy frame, or a batch of session lines -> job
//	dispatch (conn.go)
//	  wire.prepare             decrypt, split and look up once -> job.reqs; all inline? run here
//	  else pool (pool.go)      a worker does what the loop may not (Redis key refresh, slow commands)
//	  wire.exec -> Server.run  (run.go) the one place identity (listener, mode) meets the command
//	           -> reply        text bytes, JSON envelope, or sealed (seal.go) as the wire frames it
//	complete -> deliver        (deliver.go) in order, on the loop; streams and the rest on a dup
//	onClose -> wire.eof        what a half-closed client sent is still answered, in order
//
// Why the delivery path looks the way it does: gnet drops whatever is still
// in its user-space output buffer when a connection closes, and it closes on
// the peer's half-close (nc -N, socat). So tapline never lets gnet buffer
// reply bytes: an event loop writes a reply straight to the socket while the
// kernel accepts it, and hands anything left over, and every streamed reply,
// to a writer goroutine that owns a dup of the socket. A dup taken in
// OnClose keeps replies to half-closed clients alive. One-shot replies end
// with a lingering close (shutdown(SHUT_WR), then wait for the client's EOF)
// so a close never turns into a reset that would destroy unread reply bytes.
package server
