// Package crypto holds tapline's manager-port encryption: key handling and
// two wire framings. It is pure: no sockets, no Redis, no global state.
//
// Why two framings:
//
// Legacy framing ("aes-128-cbc:" ciphertext ":sea" requests, "aes:" replies)
// exists only to stay byte-compatible with VoIPmonitor GUIs and scripts,
// which cannot be changed. Its security is what VoIPmonitor's is: one static
// key and one static IV for every message in both directions, no MAC, no
// nonce. Equal commands give equal ciphertexts, anyone on the path can replay
// a captured request, flip bits in it and splice captured blocks into new
// requests. tapline implements it byte-compatibly with two differences: a
// ":sea" inside the ciphertext that is not on a block boundary does not end
// the frame, and a server never checks the padding (the command line ends at
// the first control byte, LegacyLine), so unlike VoIPmonitor it is no padding
// oracle, even behind a captured block that decrypts to a known command.
//
// Hardened framing ("tl1:" base64 lines) is tapline's own, for clients that
// can be changed. Each frame has a fresh random IV, encrypt-then-MAC with
// keys derived by HKDF from the stored key material (so the legacy key is
// never used directly), a key id for rotation, a timestamp window and a
// replay cache for requests, and a per-request reference that binds reply
// frames to the request they answer. Open does the same work and returns the
// same error for every kind of bad input, so it is neither a padding oracle
// nor a MAC oracle.
//
// Both framings use the same stored key, {"key":"<b64>","iv":"<b64>"} as
// VoIPmonitor's GUI writes it, so enabling the hardened framing needs no new
// key distribution.
//
// It owns key parsing, fingerprints and both framings, byte for byte. It
// must not import any other tapline package, nor do I/O: the server, the
// client and the key ring call it.
package crypto
