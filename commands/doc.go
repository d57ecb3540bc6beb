// Package commands is tapline's command table: every manager command, its
// access level, whether VoIPmonitor lets it through in plaintext, its help and
// its argument spec, next to its handler.
//
// One table drives dispatch, `help`, docs/COMMANDS.md and (later) access
// control, so the four can never disagree. Handlers are transport-agnostic:
// they read a Request and fill a Reply; the server decides how the reply is
// framed (VoIPmonitor text, JSON envelope, binary frame) and delivered.
//
// A handler reads from two places. Request.Server is the manager running
// it, for what only the manager knows: its counters, connections and
// listeners, and the manager_file listener. Request.Env is the sensor's
// data (the calls and registrations store, the capture counters, the key
// ring's status, the sensor id), built by cmd/tapline and passed through
// the server untouched. Handlers encode both themselves, with jsonobj's
// writers: nothing JSON is quoted any other way here. A request's
// arguments (text words, or a JSON string, array or object) are split at
// most once, into a fixed array, so Arg allocates nothing.
//
// It owns: the table, the handlers, argument splitting and the reply
// shape. It must not import server (which imports it), sensor or capture
// (it sees the sensor only through Env; gopacket stays out), keyring or
// redisstore (the key status comes as a KeyStatus).
package commands
