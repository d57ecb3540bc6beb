package state

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"tapline/jsonobj"
	"tapline/sip"
)

// The JSON-session form of the listings is an object per row, keyed by the
// VoIPmonitor column names, with the same value encodings as the arrays:
//
//	{"total":N,"rows":[{"callreference":"0x…","callid":"…",…},…]}
//
// total counts the rows that passed the filters, before offset and limit.

// WriteCallObjects writes calls as {"total":N,"rows":[{…}]} with the
// selected fields (all when p.Fields is empty), after filter, sort, offset
// and limit. An unknown field is an error, reported before any output.
func WriteCallObjects(w io.Writer, calls []*Call, p ListParams, idSensor int) error {
	cols, err := fieldIndexes(p.Fields, callColumns[:])
	if err != nil {
		return err
	}
	callListParams(calls, &p)
	return callListing.writeObjects(w, calls, &p, cols, newCallEnc(&p, idSensor).appendCol)
}

// WriteRegisterObjects is WriteCallObjects for registrations.
func WriteRegisterObjects(w io.Writer, regs []*Register, p ListParams, idSensor int) error {
	cols, err := fieldIndexes(p.Fields, registerColumns[:])
	if err != nil {
		return err
	}
	if !p.Given {
		p = ListParams{Limit: -1, Location: p.Location}
	}
	return registerListing.writeObjects(w, regs, &p, cols, newRegEnc(&p, idSensor).appendCol)
}

// fieldIndexes maps field names to column indexes (all columns if none).
func fieldIndexes(fields, cols []string) ([]int, error) {
	if len(fields) == 0 {
		out := make([]int, len(cols))
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	out := make([]int, len(fields))
	for i, f := range fields {
		if out[i] = columnIndex(cols, f); out[i] < 0 {
			return nil, fmt.Errorf("fields: unknown column %q", f)
		}
	}
	return out, nil
}

// objectKeys precomputes `"name":` (with the separating comma) per field.
func objectKeys(names []string, cols []int) [][]byte {
	keys := make([][]byte, len(cols))
	for i, col := range cols {
		if i > 0 {
			keys[i] = append(keys[i], ',')
		}
		keys[i] = append(jsonobj.AppendStringS(keys[i], names[col]), ':')
	}
	return keys
}

func writeObjects[R any](w io.Writer, total int, rows []R, body func([]byte, R) []byte) error {
	cw := newChunkWriter(w)
	cw.buf = append(cw.buf, `{"total":`...)
	cw.buf = strconv.AppendInt(cw.buf, int64(total), 10)
	cw.buf = append(cw.buf, `,"rows":[`...)
	for i, r := range rows {
		if i > 0 {
			cw.buf = append(cw.buf, ',')
		}
		cw.buf = append(cw.buf, '{')
		cw.buf = body(cw.buf, r)
		cw.buf = append(cw.buf, '}')
		if cw.rowDone() != nil {
			break
		}
	}
	cw.buf = append(cw.buf, "]}"...)
	return cw.close()
}

// appendCol appends the value of one listcalls column; appendCallRow is the
// same sequence unrolled (a test keeps them equal).
func (e *callEnc) appendCol(b []byte, col int, c *Call) []byte {
	switch col {
	case colRef:
		return appendRef(b, c.Ref)
	case colCallID:
		return jsonobj.AppendStringS(b, c.CallID)
	case colCalldate:
		return e.dates.appendQuoted(b, c.Start)
	case colCalldateNum:
		return e.start.append(b, c.Start.Unix())
	case colLastPacket:
		return e.last.append(b, c.LastPacket.Unix())
	case colDuration:
		return strconv.AppendInt(b, c.Duration(e.now), 10)
	case colConnDuration:
		return strconv.AppendInt(b, c.connectDuration(e.now), 10)
	case 11, 12: // *_international
		return append(b, "true"...)
	case 22, 23: // *_encaps
		return append(b, '0')
	case 24, 25: // *_encaps_prot
		return append(b, "255"...)
	case colCallerIP:
		return e.ips[0].append(b, c.CallerIP)
	case colCalledIP:
		return e.ips[1].append(b, c.CalledIP)
	case colRTPSrc:
		return e.ips[2].append(b, c.RTPSrc.Addr())
	case colRTPDst:
		return e.ips[3].append(b, c.RTPDst.Addr())
	case colLastResponse, colCallerCodec, colCalledCodec, colVLAN:
		return strconv.AppendInt(b, callIntKey(col, c, e.now), 10)
	case 66: // id_sensor
		return strconv.AppendInt(b, int64(e.idSensor), 10)
	}
	if s := callStrField(col); s != nil {
		return appendStrOrNull(b, s(c))
	}
	if col >= 34 && col <= 51 && (col-34)%3 == 0 { // MOS, no RTP: 4.5
		return append(b, "45"...)
	}
	return append(b, "null"...)
}

// appendCol appends the value of one listregisters column.
func (e *regEnc) appendCol(b []byte, col int, r *Register) []byte {
	switch col {
	case rcID:
		return strconv.AppendUint(b, r.ID, 10)
	case 1:
		return strconv.AppendInt(b, int64(e.idSensor), 10)
	case 2, 26: // fname, spool_index
		return append(b, '0')
	case rcCalldate:
		return e.dates.appendQuoted(b, r.StateAt)
	case rcExpiresAt:
		return e.dates.appendQuoted(b, r.ExpiresAt)
	case rcCallerIP:
		return appendIP(b, r.SrcIP)
	case rcCalledIP:
		return appendIP(b, r.DstIP)
	case rcRRD:
		return appendRRD(b, r)
	case 27: // is_sipalg_detected
		return append(b, "false"...)
	case rcVLAN:
		return appendRegVLAN(b, r.VLAN)
	}
	if s := regStrField(col); s != nil {
		return appendStrOrNull(b, s(r))
	}
	switch col {
	case rcCallerPort, rcCalledPort, rcExpires, rcState:
		return strconv.AppendInt(b, regIntKey(col, r), 10)
	}
	return append(b, "null"...)
}

// AppendCallInfo appends active_call_info's reply:
//
//	{"call":{<listcalls columns>},"sip_packets":[{"time":…,"src":…,"dst":…,"transport":…,"data":…}],"rtp_streams":[]}
//
// Durations are taken at the call's last packet. We see no RTP, so
// rtp_streams is empty.
func AppendCallInfo(b []byte, c *Call, msgs []SIPMessage, idSensor int) []byte {
	e := newCallEnc(&ListParams{Now: c.LastPacket}, idSensor)
	b = append(b, `{"call":{`...)
	for i, k := range allCallKeys {
		b = append(b, k...)
		b = e.appendCol(b, i, c)
	}
	b = append(b, `},"sip_packets":[`...)
	for i := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSIPMessage(b, &msgs[i], &e.dates)
	}
	return append(b, `],"rtp_streams":[]}`...)
}

// allCallKeys are the object keys of every listcalls column, in order.
var allCallKeys = objectKeys(callColumns[:], func() (a []int) {
	for i := range callColumns {
		a = append(a, i)
	}
	return
}())

func appendSIPMessage(b []byte, m *SIPMessage, dates *dateCache) []byte {
	b = append(b, `{"time":`...)
	b = dates.appendQuoted(b, m.TS)
	b = b[:len(b)-1]
	b = append(b, '.')
	start := len(b) // six digits of microseconds: format 1uuuuuu, drop the 1
	b = strconv.AppendInt(b, int64(1000000+m.TS.Nanosecond()/int(time.Microsecond)), 10)
	b = append(b[:start], b[start+1:]...)
	b = append(b, `","time_us":`...)
	b = strconv.AppendInt(b, m.TS.UnixMicro(), 10)
	b = append(b, `,"src":"`...)
	b = noZone(m.Src).AppendTo(b)
	b = append(b, `","dst":"`...)
	b = noZone(m.Dst).AppendTo(b)
	b = append(b, `","transport":"`...)
	b = append(b, transportName(m)...)
	b = append(b, `","data":`...)
	b = jsonobj.AppendStringS(b, m.Data)
	return append(b, '}')
}

func noZone(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port())
}

func transportName(m *SIPMessage) string {
	if m.Transport == sip.TCP {
		return "tcp"
	}
	return "udp"
}
