package state

import (
	"io"
	"net/netip"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"tapline/jsonobj"
)

// callColumns is VoIPmonitor's listcalls header (its call fields), exactly
// as the real sniffer sends it: 68 columns.
var callColumns = [...]string{
	"callreference", "callid", "calldate", "calldate_num", "lastpackettime", "duration",
	"connect_duration", "caller", "called", "caller_country", "called_country",
	"caller_international", "called_international", "callername", "callerdomain",
	"calleddomain", "calleragent", "calledagent", "callerip", "calledip", "callerip_country",
	"calledip_country", "callerip_encaps", "calledip_encaps", "callerip_encaps_prot",
	"calledip_encaps_prot", "sipproxies", "lastSIPresponseNum", "rtp_src", "rtp_dst",
	"rtp_src_country", "rtp_dst_country", "callercodec", "calledcodec",
	"src_mosf1", "src_mosf1_avg", "src_mosf1_min", "src_mosf2", "src_mosf2_avg", "src_mosf2_min",
	"src_mosAD", "src_mosAD_avg", "src_mosAD_min", "dst_mosf1", "dst_mosf1_avg", "dst_mosf1_min",
	"dst_mosf2", "dst_mosf2_avg", "dst_mosf2_min", "dst_mosAD", "dst_mosAD_avg", "dst_mosAD_min",
	"src_jitter", "src_jitter_avg", "src_jitter_max", "dst_jitter", "dst_jitter_avg", "dst_jitter_max",
	"src_received", "dst_received", "src_loss_abs", "dst_loss_abs", "src_loss", "dst_loss",
	"src_loss_last10sec", "dst_loss_last10sec", "id_sensor", "vlan",
}

// CallColumns returns the listcalls header.
func CallColumns() []string { return slices.Clone(callColumns[:]) }

var callHeader = appendHeader(nil, callColumns[:])

func appendHeader(b []byte, cols []string) []byte {
	b = append(b, '[')
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonobj.AppendStringS(b, c)
	}
	return append(b, ']')
}

func columnIndex(cols []string, name string) int {
	return slices.Index(cols, name)
}

// Constant runs of a listcalls row. What we cannot know without RTP or
// GeoIP is what VoIPmonitor shows without them: countries null, numbers
// "international" (no local numbering plan configured), encapsulation
// 0/255, MOS 4.5 (45) with null averages and minima, jitter and loss null.
const (
	// caller_country … called_international
	callRowCountries = ",null,null,true,true,"
	// callerip_country … sipproxies
	callRowEncaps = ",null,null,0,0,255,255,null,"
	// rtp_src_country, rtp_dst_country
	callRowRTPCtry = ",null,null,"
	// the 18 MOS columns: f1, f2, AD × (value, avg, min) × src, dst
	callRowMOS = "45,null,null,45,null,null,45,null,null,45,null,null,45,null,null,45,null,null,"
	// jitter ×6, received ×2, loss ×6
	callRowQuality = "null,null,null,null,null,null,null,null,null,null,null,null,null,null,"
	// VoIPmonitor's VLAN_UNSET, listed when the INVITE was untagged
	vlanUnset = 65534
)

// callEnc carries what rows share: the clock, the sensor id and caches.
type callEnc struct {
	now      time.Time
	idSensor int
	tail     []byte // the constant run from src_mosf1 to id_sensor, and a comma
	dates    dateCache
	start    numCache    // calldate_num
	last     numCache    // lastpackettime
	ints     [4]numCache // lastSIPresponseNum, callercodec, calledcodec, vlan
	ips      [4]ipCache  // callerip, calledip, rtp_src, rtp_dst
}

// newCallEnc takes the clock from p.Now (set by callListParams).
func newCallEnc(p *ListParams, idSensor int) *callEnc {
	e := &callEnc{now: p.Now, idSensor: idSensor, dates: newDateCache(p.Location)}
	e.tail = strconv.AppendInt(append([]byte(nil), callRowMOS+callRowQuality...), int64(idSensor), 10)
	e.tail = append(e.tail, ',')
	return e
}

// appendCallRow appends one listcalls row (a JSON array in header order).
func (e *callEnc) appendCallRow(b []byte, c *Call) []byte {
	b = append(b, '[')
	b = appendRef(b, c.Ref)
	b = append(b, ',')
	b = jsonobj.AppendStringS(b, c.CallID)
	b = append(b, ',')
	b = e.dates.appendQuoted(b, c.Start)
	b = append(b, ',')
	b = e.start.append(b, c.Start.Unix())
	b = append(b, ',')
	b = e.last.append(b, c.LastPacket.Unix())
	b = append(b, ',')
	b = strconv.AppendInt(b, c.Duration(e.now), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, c.connectDuration(e.now), 10)
	b = append(b, ',')
	b = appendStrOrNull(b, c.Caller)
	b = append(b, ',')
	b = appendStrOrNull(b, c.Called)
	b = append(b, callRowCountries...)
	b = appendStrOrNull(b, c.CallerName)
	b = append(b, ',')
	b = appendStrOrNull(b, c.CallerDomain)
	b = append(b, ',')
	b = appendStrOrNull(b, c.CalledDomain)
	b = append(b, ',')
	b = appendStrOrNull(b, c.CallerAgent)
	b = append(b, ',')
	b = appendStrOrNull(b, c.CalledAgent)
	b = append(b, ',')
	b = e.ips[0].append(b, c.CallerIP)
	b = append(b, ',')
	b = e.ips[1].append(b, c.CalledIP)
	b = append(b, callRowEncaps...)
	b = e.ints[0].append(b, int64(c.LastResponse))
	b = append(b, ',')
	b = e.ips[2].append(b, c.RTPSrc.Addr())
	b = append(b, ',')
	b = e.ips[3].append(b, c.RTPDst.Addr())
	b = append(b, callRowRTPCtry...)
	b = e.ints[1].append(b, int64(c.CallerCodec))
	b = append(b, ',')
	b = e.ints[2].append(b, int64(c.CalledCodec))
	b = append(b, ',')
	b = append(b, e.tail...)
	b = e.ints[3].append(b, int64(callVLAN(c.VLAN)))
	return append(b, ']')
}

func callVLAN(v int) int {
	if v < 0 {
		return vlanUnset
	}
	return v
}

// appendCallSummary appends {"total":N,"is_receiver":0,"is_server":0,"id_sensor":ID}.
func appendCallSummary(b []byte, total, idSensor int) []byte {
	b = append(b, `{"total":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"is_receiver":0,"is_server":0,"id_sensor":`...)
	b = strconv.AppendInt(b, int64(idSensor), 10)
	return append(b, '}')
}

// WriteListCalls streams VoIPmonitor's listcalls reply: [header, [summary]
// (only when params were given), rows…], rows filtered, sorted (default
// calldate_num descending) and limited. With "limit":0 the reply is only
// the summary object. It writes in chunks of at most 64 KiB and allocates
// nothing per row.
func WriteListCalls(w io.Writer, calls []*Call, p ListParams, idSensor int) error {
	callListParams(calls, &p)
	cw := newChunkWriter(w)
	sel, total := callListing.selectRows(calls, &p, 0)
	defer sel.release()
	if p.Given && p.Limit == 0 {
		cw.buf = appendCallSummary(cw.buf, total, idSensor)
		return cw.close()
	}
	cw.buf = append(cw.buf, '[')
	cw.buf = append(cw.buf, callHeader...)
	if p.Given {
		cw.buf = append(cw.buf, ",["...)
		cw.buf = appendCallSummary(cw.buf, total, idSensor)
		cw.buf = append(cw.buf, ']')
	}
	e := newCallEnc(&p, idSensor)
	callListing.writeRows(cw, sel.rows, e.appendCallRow)
	cw.buf = append(cw.buf, ']')
	return cw.close()
}

// callField is the filters' view of a call: f indexes callFilterFields.
func callField(c *Call, f int) (string, netip.Addr) {
	switch f {
	case cfCaller:
		return c.Caller, netip.Addr{}
	case cfCalled:
		return c.Called, netip.Addr{}
	case cfCallID:
		return c.CallID, netip.Addr{}
	case cfCallerIP:
		return "", c.CallerIP
	case cfCalledIP:
		return "", c.CalledIP
	case cfCallerDomain:
		return c.CallerDomain, netip.Addr{}
	case cfCalledDomain:
		return c.CalledDomain, netip.Addr{}
	case cfCallerAgent:
		return c.CallerAgent, netip.Addr{}
	case cfCalledAgent:
		return c.CalledAgent, netip.Addr{}
	}
	return "", netip.Addr{}
}

// touchAhead is how many rows ahead the encoder prefetches records. A
// large table lives in scattered heap memory, and each row's record and
// strings are cache (and TLB) misses; fetching them a few rows early
// overlaps the misses with encoding instead of stalling on each in turn.
const touchAhead = 8

// touchCall prefetches every cache line of the record; the record's packed
// strings follow two rows later, once the record itself has arrived.
func touchCall(c *Call) {
	prefetchCall(unsafe.Pointer(c))
}

func touchStrings(c *Call) {
	prefetchLine(unsafe.Pointer(unsafe.StringData(c.CallID)))
}
