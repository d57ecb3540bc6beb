// Package server runs tapline's manager socket: gnet/v2 engines for the TCP
// and Unix listeners, per-connection state, request framing, limits,
// timeouts, a bounded worker pool, and one ordered delivery path per
// connection.
//
// Why the delivery path looks the way it does (see
// shared/reference/gnet-v2-notes.md): gnet drops whatever is still in its
// user-space output buffer when a connection closes, and it closes on the
// peer's half-close (nc -N, socat). So tapline never lets gnet buffer reply
// bytes: an event loop writes a reply straight to the socket while the kernel
// accepts it, and hands anything left over, and every streamed reply, to a
// writer goroutine that owns a dup of the socket. A dup taken in OnClose keeps
// replies to half-closed clients alive. One-shot replies end with a lingering
// close (shutdown(SHUT_WR), then wait for the client's EOF) so a close never
// turns into a reset that would destroy unread reply bytes.
package server
