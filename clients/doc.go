// Package clients is the Go client of tapline's manager socket, used by the
// CLI (`tapline send`), the bench and the tests, so all three speak the
// protocol through the same code.
//
// Do is VoIPmonitor's one-shot exchange (a line out, the reply until EOF);
// Session is tapline's persistent JSON session with pipelining.
//
// It owns the client side of the wire: framing requests, reading replies
// to the end, the client half of both encrypted framings. It imports only
// crypto and jsonobj, never server, commands or state: it must work against
// any manager socket, VoIPmonitor's included.
package clients
