// Package tokens is tapline's access tokens (the auth daemon's and Hermes'
// model): bearer credentials that carry an access level, optionally bound
// to address ranges, with an expiry, and optionally renewed by use (a
// short-lived session key: Hermes' login + ping).
//
// A token as users see it is self-describing: "tlk_<id>_<secret>", where
// id is 8 random bytes in hex (public: it names the token in logs, in
// `clients` and in `tapline tokens list/revoke`) and secret is 32 random
// bytes in unpadded base64url. Only SHA-256 of the secret text is stored.
// A plain hash, not a password hash (bcrypt, argon2), is enough and right
// here: the secret is 256 bits from crypto/rand, so no dictionary or brute
// force attack on a leaked hash is possible, and a slow hash would make
// every authentication cost milliseconds of CPU that an attacker could ask
// for at will.
//
// Set is the live table a server checks tokens against; Check allocates
// nothing (see BenchmarkCheck). A Source (a JSON file, FileSource; or
// Redis, adapted in cmd/tapline) fills it, and Watch keeps it current:
// a cheap version probe every 250 ms and a full reload when it changes, so
// a revocation reaches every sensor within a second. While the source
// cannot be read the last good set stays in force (tokens already loaded
// keep working until their expiry, unknown ones are refused): the
// revocation delay is then the length of the outage plus 250 ms.
//
// It may import access only: it must not import server, commands, sensor,
// keyring or redisstore (cmd/tapline adapts redisstore to Source), so that
// the server can hold a Set without depending on Redis.
package tokens
