package state

import (
	"fmt"
	"net/netip"
	"time"
)

// RegState is a registration's state, numbered as VoIPmonitor's (register.h).
type RegState int

// Registration states.
const (
	RegOK               RegState = 1
	RegFailed           RegState = 2
	RegUnknownMessageOK RegState = 3 // a 2xx for a REGISTER we did not see
	RegManyRegMessages  RegState = 4 // more than 10 REGISTERs within 10 s
	RegExpired          RegState = 5
	RegUnregister       RegState = 6
)

var regStateNames = [...]string{"", "OK", "Failed", "UnknownMessageOK", "ManyRegMessages", "Expired", "Unregister"}

func (s RegState) String() string {
	if s > 0 && int(s) < len(regStateNames) {
		return regStateNames[s]
	}
	return fmt.Sprintf("RegState(%d)", int(s))
}

// parseRegState maps VoIPmonitor's state names (as in the "states" param).
func parseRegState(name string) (RegState, bool) {
	for i, n := range regStateNames {
		if i > 0 && n == name {
			return RegState(i), true
		}
	}
	return 0, false
}

// okLike reports states whose binding is valid until ExpiresAt.
func (s RegState) okLike() bool { return s == RegOK || s == RegUnknownMessageOK }

// Register is one published, immutable registration record (see Call for
// the copy-on-write rule). Empty strings are listed as null.
type Register struct {
	ID uint64 // sequential from 1, as VoIPmonitor's

	From, FromName, FromDomain string // From user, display name, host
	To, ToDomain               string // To user and host (the AOR)
	Contact, ContactDomain     string // Contact user and host
	DigestUser, DigestRealm    string // from Authorization / Proxy-Authorization
	UA                         string // User-Agent of the REGISTER

	SrcIP, DstIP     netip.Addr // REGISTER source (the UA) and destination
	SrcPort, DstPort uint16

	Expires   int       // granted expiry in seconds (0 for Unregister/Expired)
	ExpiresAt time.Time // StateAt + Expires
	Start     time.Time // first REGISTER of this key
	Last      time.Time // newest REGISTER or response of this key
	StateAt   time.Time // when the current state was last confirmed (the listed calldate)
	State     RegState

	RTT        time.Duration // mean REGISTER→2xx round trip (rrd_avg)
	RTTSamples int           // 0: no round trip measured, rrd_avg is null
	VLAN       int           // 802.1Q id, -1 untagged
}
