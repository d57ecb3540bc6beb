package state

import (
	"io"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// registerColumns is VoIPmonitor's listregisters header (its register
// fields, with the four country columns of the 2026 sniffer): 33 columns.
var registerColumns = [...]string{
	"ID", "id_sensor", "fname", "calldate", "sipcallerip", "sipcalledip", "sipcallerip_encaps",
	"sipcalledip_encaps", "sipcallerip_encaps_prot", "sipcalledip_encaps_prot", "sipcallerport",
	"sipcalledport", "from_num", "from_name", "from_domain", "to_num", "to_domain", "contact_num",
	"contact_domain", "digestusername", "digestrealm", "expires", "expires_at", "state", "ua",
	"rrd_avg", "spool_index", "is_sipalg_detected", "vlan", "sipcallerip_country_code",
	"sipcalledip_country_code", "from_num_country_code", "to_num_country_code",
}

// RegisterColumns returns the listregisters header.
func RegisterColumns() []string { return slices.Clone(registerColumns[:]) }

var registerHeader = appendHeader(nil, registerColumns[:])

// Constant runs of a listregisters row: without encapsulation tracking
// VoIPmonitor leaves the encaps columns null; fname and spool_index are 0
// (no spool files), SIP ALG detection is off, countries are null.
const (
	regRowEncaps   = ",null,null,null,null,"
	regRowSpool    = ",0,false,"
	regRowCountry  = ",null,null,null,null"
	regTotalPrefix = `, [{"total": ` // with VoIPmonitor's spaces
)

// regEnc carries what rows share.
type regEnc struct {
	idSensor int
	head     []byte // ID is per row; this is ,id_sensor,0,
	dates    dateCache
}

func newRegEnc(p *ListParams, idSensor int) *regEnc {
	e := &regEnc{idSensor: idSensor, dates: newDateCache(p.Location)}
	e.head = append(strconv.AppendInt([]byte{','}, int64(idSensor), 10), ",0,"...)
	return e
}

// appendRegisterRow appends one listregisters row.
func (e *regEnc) appendRegisterRow(b []byte, r *Register) []byte {
	b = append(b, '[')
	b = strconv.AppendUint(b, r.ID, 10)
	b = append(b, e.head...)
	b = e.dates.appendQuoted(b, r.StateAt)
	b = append(b, ',')
	b = appendIP(b, r.SrcIP)
	b = append(b, ',')
	b = appendIP(b, r.DstIP)
	b = append(b, regRowEncaps...)
	b = strconv.AppendUint(b, uint64(r.SrcPort), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.DstPort), 10)
	for _, s := range [...]string{r.From, r.FromName, r.FromDomain, r.To, r.ToDomain,
		r.Contact, r.ContactDomain, r.DigestUser, r.DigestRealm} {
		b = append(b, ',')
		b = appendStrOrNull(b, s)
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.Expires), 10)
	b = append(b, ',')
	b = e.dates.appendQuoted(b, r.ExpiresAt)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.State), 10)
	b = append(b, ',')
	b = appendStrOrNull(b, r.UA)
	b = append(b, ',')
	b = appendRRD(b, r)
	b = append(b, regRowSpool...)
	b = appendRegVLAN(b, r.VLAN)
	b = append(b, regRowCountry...)
	return append(b, ']')
}

// appendRRD is the mean round trip in ms with 6 decimals (VoIPmonitor
// prints its doubles fixed), null when none was measured.
func appendRRD(b []byte, r *Register) []byte {
	if r.RTTSamples == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, float64(r.RTT)/float64(time.Millisecond), 'f', 6, 64)
}

// appendRegVLAN: listregisters shows null when untagged (listcalls 65534).
func appendRegVLAN(b []byte, v int) []byte {
	if v < 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, int64(v), 10)
}

// WriteListRegisters streams VoIPmonitor's listregisters reply: [header,
// [{"total": N}], rows…]; the total and the rows only when at least one
// record passes the filters. Default order is VoIPmonitor's table order
// (to_num), ascending unless sort_dir is desc; limit ≤ 0 lists all.
func WriteListRegisters(w io.Writer, regs []*Register, p ListParams, idSensor int) error {
	if !p.Given {
		p = ListParams{Location: p.Location}
	}
	if p.Limit == 0 {
		p.Limit = -1
	}
	sel, total := registerListing.selectRows(regs, &p, 0)
	defer sel.release()
	cw := newChunkWriter(w)
	cw.buf = append(cw.buf, '[')
	cw.buf = append(cw.buf, registerHeader...)
	if total > 0 {
		cw.buf = append(cw.buf, regTotalPrefix...)
		cw.buf = strconv.AppendInt(cw.buf, int64(total), 10)
		cw.buf = append(cw.buf, "}]"...)
	}
	e := newRegEnc(&p, idSensor)
	registerListing.writeRows(cw, sel.rows, e.appendRegisterRow)
	cw.buf = append(cw.buf, ']')
	return cw.close()
}

// registerField is the filters' view of a registration: f indexes
// regFilterFields.
func registerField(r *Register, f int) (string, netip.Addr) {
	switch f {
	case rfCallerIP:
		return "", r.SrcIP
	case rfCalledIP:
		return "", r.DstIP
	case rfFromNum:
		return r.From, netip.Addr{}
	case rfToNum:
		return r.To, netip.Addr{}
	case rfContactNum:
		return r.Contact, netip.Addr{}
	case rfDigestUser:
		return r.DigestUser, netip.Addr{}
	case rfDigestRealm:
		return r.DigestRealm, netip.Addr{}
	case rfUA:
		return r.UA, netip.Addr{}
	case rfFromDomain:
		return r.FromDomain, netip.Addr{}
	case rfToDomain:
		return r.ToDomain, netip.Addr{}
	case rfContactDomain:
		return r.ContactDomain, netip.Addr{}
	}
	return "", netip.Addr{}
}
