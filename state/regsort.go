package state

import "slices"

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

var (
	regIntKeys  slicePool[sortKey[int64, *Register]]
	regStrKeys  slicePool[sortKey[string, *Register]]
	regRowsPool slicePool[*Register]
)

// selectRegisters filters by state and filters, sorts and windows. Without
// a sort field the order is VoIPmonitor's table order (to_num, then ID);
// the secondary order is ID, as VoIPmonitor's.
func selectRegisters(regs []*Register, p *ListParams, offset int) (rowSel[*Register], int) {
	col := columnIndex(registerColumns[:], p.SortField)
	if col < 0 {
		col = rcToNum
	}
	sp := &sortSpec[*Register]{filters: compileFilters(p.Filters, regFilterFields), field: registerField,
		desc: p.SortDesc, offset: offset, limit: p.Limit}
	if states := p.States; len(states) > 0 {
		sp.keep = func(r *Register) bool { return slices.Contains(states, r.State) }
	}
	if s := regStrField(col); s != nil {
		key := func(r *Register) sortKey[string, *Register] {
			return sortKey[string, *Register]{k: s(r), k2: int64(r.ID), ref: r.ID, r: r}
		}
		return selectRows(regs, sp, key, &regStrKeys, &regRowsPool)
	}
	key := func(r *Register) sortKey[int64, *Register] {
		return sortKey[int64, *Register]{k: regIntKey(col, r), k2: int64(r.ID), ref: r.ID, r: r}
	}
	return selectRows(regs, sp, key, &regIntKeys, &regRowsPool)
}

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
