// Package sip parses SIP messages for tracking: the start line, the headers a
// sensor needs (Call-ID, From, To, CSeq, Via, Contact, Expires, User-Agent,
// Authorization) and the SDP body's media addresses and codecs.
//
// It is written for capture rates, not for a SIP stack: Parse works on the
// packet's bytes without allocating and every field of Msg is a sub-slice of
// the input, valid only as long as that buffer.
//
// It also owns the Packet (one SIP message with its capture time, addresses,
// VLAN and Transport) that the capture sources produce and the state tables
// consume, so that neither of those needs the other.
//
// It imports nothing of tapline and no packet decoding library: it is the
// leaf of the capture pipeline (capture → sip → state).
package sip
