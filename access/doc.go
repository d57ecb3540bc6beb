// Package access is tapline's access model, the part of it that is pure
// data and rules: the three levels (Hermes' limited_read < full_read <
// read_write), who a connection is (Identity) and how that was decided,
// the rules that give Unix peers a level (manager_unix_levels), address
// lists (manager_allow and the runtime allowlist), per-address failure
// backoff and per-identity rate limits.
//
// It is a leaf so that config can parse levels and lists with the same
// code the server enforces them with, and so the rules can be tested
// without sockets. It must not import any other tapline package; the
// server enforces what it decides, tokens stores credentials that carry
// its levels.
package access
