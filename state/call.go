package state

import (
	"net/netip"
	"time"

	"tapline/sip"
)

// CallState is where a call's INVITE dialog is.
type CallState int

// Call states.
const (
	CallCalling  CallState = iota + 1 // INVITE seen, no provisional response beyond 100
	CallRinging                       // 101–199 to the initial INVITE
	CallAnswered                      // 2xx to the initial INVITE
	CallEnded                         // BYE, CANCEL or a final error: listed for CallLinger
)

var callStateNames = [...]string{"", "calling", "ringing", "answered", "ended"}

func (s CallState) String() string {
	if s > 0 && int(s) < len(callStateNames) {
		return callStateNames[s]
	}
	return "unknown"
}

// Call is one published, immutable call record. The store never modifies a
// Call after publishing it: an update publishes a new one, so snapshots can
// be read without locks. Empty strings are listed as null.
type Call struct {
	Ref uint64 // callreference: unique, its low 6 bits are the store shard

	CallID       string
	Caller       string // From user
	Called       string // To user
	CallerName   string // From display name
	CallerDomain string
	CalledDomain string
	CallerAgent  string // User-Agent of the caller's requests
	CalledAgent  string // Server/User-Agent of the called side

	CallerIP, CalledIP     netip.Addr // source and destination of the initial INVITE
	CallerPort, CalledPort uint16
	RTPSrc, RTPDst         netip.AddrPort // SDP audio address of the caller / called side
	CallerCodec            int            // first audio payload type of the caller's SDP, -1 unknown
	CalledCodec            int            // same for the called side's SDP

	Start      time.Time // initial INVITE
	LastPacket time.Time // newest packet of the dialog
	Connect    time.Time // first 2xx to the initial INVITE; zero if unanswered
	End        time.Time // BYE, CANCEL or final error; zero while active

	LastResponse int // last response to the initial INVITE, 0 none yet
	State        CallState
	VLAN         int // 802.1Q id of the initial INVITE, -1 untagged
}

// answered reports whether the call got a 2xx.
func (c *Call) answered() bool { return !c.Connect.IsZero() }

// until is the end of the call's running time at clock now: End for an
// ended call, else now (never before LastPacket).
func (c *Call) until(now time.Time) time.Time {
	if !c.End.IsZero() {
		return c.End
	}
	if now.Before(c.LastPacket) {
		return c.LastPacket
	}
	return now
}

// Duration is the listed duration at clock now: whole seconds since the
// INVITE (VoIPmonitor measures from the first packet with sub-second
// precision too).
func (c *Call) Duration(now time.Time) int64 {
	return max(int64(c.until(now).Sub(c.Start)/time.Second), 0)
}

// connectDuration is the listed connect_duration: whole seconds since the
// answer, 0 if unanswered.
func (c *Call) connectDuration(now time.Time) int64 {
	if c.Connect.IsZero() {
		return 0
	}
	return max(int64(c.until(now).Sub(c.Connect)/time.Second), 0)
}

// SIPMessage is one SIP message kept for active_call_info.
type SIPMessage struct {
	TS        time.Time
	Src, Dst  netip.AddrPort
	Transport sip.Transport
	Data      string // the message bytes as captured
}
