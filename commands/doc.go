// Package commands is tapline's command table: every manager command, its
// access level, whether VoIPmonitor lets it through in plaintext, its help and
// its argument spec, next to its handler.
//
// One table drives dispatch, `help`, docs/COMMANDS.md and (later) access
// control, so the four can never disagree. Handlers are transport-agnostic:
// they read a Request and fill a Reply; the server decides how the reply is
// framed (VoIPmonitor text, JSON envelope, binary frame) and delivered.
package commands
