package state

import "time"

// The per-type parts of the call listings: column indexes, sort keys.

// Indexes of the listcalls columns the code refers to (checked by a test).
const (
	colRef          = 0
	colCallID       = 1
	colCalldate     = 2
	colCalldateNum  = 3
	colLastPacket   = 4
	colDuration     = 5
	colConnDuration = 6
	colCaller       = 7
	colCalled       = 8
	colCallerName   = 13
	colCallerDomain = 14
	colCalledDomain = 15
	colCallerAgent  = 16
	colCalledAgent  = 17
	colCallerIP     = 18
	colCalledIP     = 19
	colLastResponse = 27
	colRTPSrc       = 28
	colRTPDst       = 29
	colCallerCodec  = 32
	colCalledCodec  = 33
	colVLAN         = 67
)

// callListing is the listing code's view of calls. Default order is
// calldate_num descending (sort_dir asc reverses it); the secondary order is
// calldate_num as in VoIPmonitor, then creation order.
var callListing = &listing[*Call]{
	columns:      callColumns[:],
	defaultCol:   colCalldateNum,
	filterFields: callFilterFields,
	field:        callField,
	strCol:       callStrField,
	tie:          func(c *Call) (int64, uint64) { return c.Start.Unix(), c.Ref },
	intKey: func(col int, c *Call, now time.Time) sortKey[int64, *Call] {
		return sortKey[int64, *Call]{k: callIntKey(col, c, now), k2: c.Start.Unix(), ref: c.Ref, r: c}
	},
	descDefault: true,
	touch:       touchCall,
	touchRow: func(rows []*Call, i int) {
		if i+touchAhead < len(rows) {
			touchCall(rows[i+touchAhead])
			touchStrings(rows[i+touchAhead/2])
		}
	},
}

// callListParams sets up p for a call listing: without params, every row
// and no summary; p.Now fixed for the whole listing (listNow).
func callListParams(calls []*Call, p *ListParams) {
	if !p.Given {
		*p = ListParams{Limit: -1, Now: p.Now, Location: p.Location}
	}
	p.Now = listNow(calls, p)
}

// listNow is the clock for duration columns: p.Now, else the newest packet.
func listNow(calls []*Call, p *ListParams) time.Time {
	now := p.Now
	if now.IsZero() {
		for _, c := range calls {
			if c.LastPacket.After(now) {
				now = c.LastPacket
			}
		}
	}
	return now
}

// callStrField returns the accessor of a string column, nil for others.
func callStrField(col int) func(*Call) string {
	switch col {
	case colCallID:
		return func(c *Call) string { return c.CallID }
	case colCaller:
		return func(c *Call) string { return c.Caller }
	case colCalled:
		return func(c *Call) string { return c.Called }
	case colCallerName:
		return func(c *Call) string { return c.CallerName }
	case colCallerDomain:
		return func(c *Call) string { return c.CallerDomain }
	case colCalledDomain:
		return func(c *Call) string { return c.CalledDomain }
	case colCallerAgent:
		return func(c *Call) string { return c.CallerAgent }
	case colCalledAgent:
		return func(c *Call) string { return c.CalledAgent }
	}
	return nil
}

// callIntKey is the sort value of a numeric column; constant columns sort
// as 0 (the secondary order decides).
func callIntKey(col int, c *Call, now time.Time) int64 {
	switch col {
	case colRef:
		return int64(c.Ref)
	case colCalldate, colCalldateNum:
		return c.Start.Unix()
	case colLastPacket:
		return c.LastPacket.Unix()
	case colDuration:
		return c.Duration(now)
	case colConnDuration:
		return c.connectDuration(now)
	case colCallerIP:
		return ipKey(c.CallerIP)
	case colCalledIP:
		return ipKey(c.CalledIP)
	case colLastResponse:
		return int64(c.LastResponse)
	case colRTPSrc:
		return ipKey(c.RTPSrc.Addr())
	case colRTPDst:
		return ipKey(c.RTPDst.Addr())
	case colCallerCodec:
		return int64(c.CallerCodec)
	case colCalledCodec:
		return int64(c.CalledCodec)
	case colVLAN:
		return int64(callVLAN(c.VLAN))
	}
	return 0
}
