// Package state holds the sensor's live tables — calls (INVITE dialogs) and
// registrations — fed by parsed SIP messages (sip.Packet, sip.Msg), and
// encodes them in VoIPmonitor's listcalls / listregisters formats.
//
// It imports sip and jsonobj of tapline. It must not import capture (packet
// sources and their decoding: the packet type it needs is sip's) nor
// gopacket, so that the manager commands that list the tables do not pull in
// packet decoding; a test in the sensor package checks this.
//
// # Concurrency and snapshots
//
// Both tables are split into 64 shards, each a map plus a dense slice of
// published records under one mutex (table, in shard.go, is the part the two
// kinds of shard share). Published records (*Call, *Register)
// are immutable: every update builds a new record and swaps the pointer
// (copy-on-write). A snapshot (Store.Calls, Store.Registers) therefore only
// copies pointers, shard by shard, holding each lock for a memmove; the
// encoders then work on the snapshot without any lock, so a listing of a
// million calls never stalls ingest.
//
// # Clock
//
// The store's clock is the newest packet time it has seen (Advance moves it
// without a packet). Expiry, lingering and durations follow that clock, never
// time.Now, so a pcap replay shows the capture's state. Expiry runs at most
// once per second of store clock, from Ingest or Advance.
//
// # Call tracking
//
// A call is an INVITE dialog keyed by Call-ID. The first INVITE creates it:
// Start, caller (From user), called (To user), callername (From display
// name), the domains, CallerAgent (its User-Agent), CallerIP:port (its
// source) and CalledIP:port (its destination). Direction is decided by the
// From tag of that INVITE: requests carrying it come from the caller,
// responses to them from the called side (source addresses are only a
// fallback because proxies and NAT rewrite them).
//
//   - Responses to the initial INVITE transaction (same CSeq) set
//     LastResponse. Once a final response is recorded, late provisional ones
//     (a 180 after the 200) no longer change it.
//   - The first 2xx answers the call (Connect); retransmitted 2xx and 2xx from
//     other forks change nothing. A 2xx after CANCEL (the race RFC 3261
//     allows) still answers it.
//   - BYE ends the call; CANCEL and a final 3xx–6xx end an unanswered one.
//     Ended calls stay listed for Config.CallLinger. 401/407 end it too, but
//     the authenticated INVITE (same Call-ID, higher CSeq, from the caller)
//     reopens it while it lingers, keeping Start and the caller.
//   - Re-INVITEs and retransmissions never reset Start or the parties.
//   - SDP from the caller sets RTPSrc/CallerCodec, SDP from the called side
//     RTPDst/CalledCodec (first payload type of the audio m= line; the latest
//     offer/answer wins, so the answering fork's 200 overrides a 183, and
//     re-INVITEs update them). These are the SDP addresses: without RTP we
//     cannot list, as VoIPmonitor does, where media really came from.
//   - CalledAgent is the Server/User-Agent of the called side's responses
//     (not 100 Trying, which is hop-by-hop): the first one, overridden by
//     the answering 2xx. Once answered, responses from other forks (another
//     To tag) change neither the agent nor the SDP.
//   - Requests or responses for an unknown Call-ID are ignored and counted
//     (Counts.Orphans): a call is only created by an INVITE.
//   - Calls without any packet for Config.CallTimeout are expired. We see no
//     RTP, so a long call without session refreshes expires too; raise
//     CallTimeout (VoIPmonitor's sipwithoutrtptimeout is 3600 s) if needed.
//
// # Registration tracking
//
// A registration is keyed by (To user@domain, Contact URI, source IP).
// Responses are matched to their REGISTER by Call-ID and CSeq. States use
// VoIPmonitor's numbers (RegState):
//
//   - 2xx → OK, expires from the 2xx's Contact expires parameter (when that
//     Contact is ours), else its Expires header, else the request's; 0 →
//     Unregister. A 2xx for a REGISTER we never saw creates the row as
//     UnknownMessageOK.
//   - 401, 407 and 423 ask the UA to retry: the row waits for the retry.
//   - 403 and other 3xx–6xx → Failed; no final response within
//     Config.RegTimeout → Failed. As in VoIPmonitor, a failure does not hide
//     a still valid OK registration: the row stays OK until it expires.
//   - OK rows whose expires_at passes by Config.RegExpireGrace (default 30 s,
//     VoIPmonitor's margin) without a refresh become Expired.
//   - More than 10 REGISTER transactions within 10 s for one key →
//     ManyRegMessages, until a 2xx after the flood.
//   - A REGISTER with Contact "*" and a 2xx unregisters every binding of
//     that AOR from that source.
//
// Rows stay listed after failure or expiry, like VoIPmonitor's: a row that
// was never OK leaves Config.RegKeepFailed (60 s) after its last state, any
// other row Config.RegKeep (2 h) after its last state change; a new
// REGISTER for the key revives it.
//
// # Encoders
//
// WriteListCalls and WriteListRegisters produce VoIPmonitor's array of
// arrays byte for byte (see listcalls.go and listregisters.go for the
// columns and value encodings); WriteCallObjects / WriteRegisterObjects give
// the JSON-session form {"total":N,"rows":[{...}]}. Selection (filters,
// sort, offset/limit) and the row loops are one generic implementation
// (listing, in listing.go and sort.go); what differs per record type is
// small: columns and sort keys (callcols.go, regcols.go), the row encoders
// and summaries (listcalls.go, listregisters.go). They append bytes by
// hand into a pooled buffer written in chunks of at most 64 KiB: no
// encoding/json, no allocation per row.
package state
