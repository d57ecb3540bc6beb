package state

import "time"

// The per-type parts of the registration listings: column indexes, sort
// keys.

// Indexes of the listregisters columns the code refers to (checked by a
// test).
const (
	rcID            = 0
	rcCalldate      = 3
	rcCallerIP      = 4
	rcCalledIP      = 5
	rcCallerPort    = 10
	rcCalledPort    = 11
	rcFromNum       = 12
	rcFromName      = 13
	rcFromDomain    = 14
	rcToNum         = 15
	rcToDomain      = 16
	rcContactNum    = 17
	rcContactDomain = 18
	rcDigestUser    = 19
	rcDigestRealm   = 20
	rcExpires       = 21
	rcExpiresAt     = 22
	rcState         = 23
	rcUA            = 24
	rcRRD           = 25
	rcVLAN          = 28
)

// registerListing is the listing code's view of registrations. Without a
// sort field the order is VoIPmonitor's table order (to_num, then ID),
// ascending unless sort_dir is desc; the secondary order is ID, as
// VoIPmonitor's. "states" keeps only rows in those states.
var registerListing = &listing[*Register]{
	columns:      registerColumns[:],
	defaultCol:   rcToNum,
	filterFields: regFilterFields,
	field:        registerField,
	strCol:       regStrField,
	tie:          func(r *Register) (int64, uint64) { return int64(r.ID), r.ID },
	intKey: func(col int, r *Register, _ time.Time) sortKey[int64, *Register] {
		return sortKey[int64, *Register]{k: regIntKey(col, r), k2: int64(r.ID), ref: r.ID, r: r}
	},
	state: func(r *Register) RegState { return r.State },
}

// regStrField returns the accessor of a string column, nil for others.
func regStrField(col int) func(*Register) string {
	switch col {
	case rcFromNum:
		return func(r *Register) string { return r.From }
	case rcFromName:
		return func(r *Register) string { return r.FromName }
	case rcFromDomain:
		return func(r *Register) string { return r.FromDomain }
	case rcToNum:
		return func(r *Register) string { return r.To }
	case rcToDomain:
		return func(r *Register) string { return r.ToDomain }
	case rcContactNum:
		return func(r *Register) string { return r.Contact }
	case rcContactDomain:
		return func(r *Register) string { return r.ContactDomain }
	case rcDigestUser:
		return func(r *Register) string { return r.DigestUser }
	case rcDigestRealm:
		return func(r *Register) string { return r.DigestRealm }
	case rcUA:
		return func(r *Register) string { return r.UA }
	}
	return nil
}

// regIntKey is the sort value of a numeric column.
func regIntKey(col int, r *Register) int64 {
	switch col {
	case rcID:
		return int64(r.ID)
	case rcCalldate:
		return r.StateAt.Unix()
	case rcCallerIP:
		return ipKey(r.SrcIP)
	case rcCalledIP:
		return ipKey(r.DstIP)
	case rcCallerPort:
		return int64(r.SrcPort)
	case rcCalledPort:
		return int64(r.DstPort)
	case rcExpires:
		return int64(r.Expires)
	case rcExpiresAt:
		return r.ExpiresAt.Unix()
	case rcState:
		return int64(r.State)
	case rcRRD:
		if r.RTTSamples == 0 {
			return -1
		}
		return int64(r.RTT)
	case rcVLAN:
		return int64(r.VLAN)
	}
	return 0
}
