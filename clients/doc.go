// Package clients is the Go client of tapline's manager socket, used by the
// CLI (`tapline send`), the bench and the tests, so all three speak the
// protocol through the same code.
//
// Do is VoIPmonitor's one-shot exchange (a line out, the reply until EOF);
// Session is tapline's persistent JSON session with pipelining.
package clients
