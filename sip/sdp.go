package sip

import "bytes"

// parseSDP fills s from an application/sdp body. It reads only v=, c= and
// m= lines. The body is valid SDP if its first line is v=; otherwise s is
// left empty. At most len(s.Media) m= lines are kept; c= lines of dropped
// media are ignored.
func parseSDP(body []byte, s *SDP) {
	cur := -1 // media the next c= belongs to: -1 session, -2 a dropped m=
	for i := 0; i < len(body); {
		line := body[i:]
		if e := bytes.IndexByte(line, '\n'); e >= 0 {
			line, i = line[:e], i+e+1
		} else {
			i = len(body)
		}
		line = trim(line)
		if len(line) < 2 || line[1] != '=' {
			if !s.Valid {
				return
			}
			continue
		}
		if !s.Valid {
			if line[0] != 'v' {
				return
			}
			s.Valid = true
			continue
		}
		cur = s.line(line[0], line[2:], cur)
	}
	s.finish()
}

// line handles one "x=value" line and returns the new current media index.
func (s *SDP) line(typ byte, v []byte, cur int) int {
	switch typ {
	case 'c':
		ip := connAddr(v)
		switch {
		case ip == nil:
		case cur == -1:
			s.ConnIP = ip
		case cur >= 0:
			s.Media[cur].ConnIP = ip
		}
	case 'm':
		if s.NMedia == len(s.Media) {
			return -2
		}
		cur = s.NMedia
		s.NMedia++
		parseMedia(v, &s.Media[cur])
	}
	return cur
}

// finish gives media without their own c= the session address, and the
// session without a c= the first audio (else first) media address.
func (s *SDP) finish() {
	for k := 0; k < s.NMedia; k++ {
		if s.Media[k].ConnIP == nil {
			s.Media[k].ConnIP = s.ConnIP
		}
	}
	if s.ConnIP != nil {
		return
	}
	for k := 0; k < s.NMedia; k++ {
		if s.Media[k].ConnIP != nil && eqFold(s.Media[k].Type, "audio") {
			s.ConnIP = s.Media[k].ConnIP
			return
		}
	}
	for k := 0; k < s.NMedia; k++ {
		if s.Media[k].ConnIP != nil {
			s.ConnIP = s.Media[k].ConnIP
			return
		}
	}
}

// connAddr returns the address of "IN IP4 a.b.c.d" or "IN IP6 ::1", without
// a multicast /ttl suffix, or nil.
func connAddr(v []byte) []byte {
	f, i := field(v, 0)
	if !eqFold(f, "in") {
		return nil
	}
	f, i = field(v, i)
	if !eqFold(f, "ip4") && !eqFold(f, "ip6") {
		return nil
	}
	f, _ = field(v, i)
	if k := index(f, '/'); k >= 0 {
		f = f[:k]
	}
	if len(f) == 0 {
		return nil
	}
	return f
}

// parseMedia parses "audio 6000 RTP/AVP 0 8 101" (the port may carry a
// /count suffix). Non-numeric formats are skipped; an invalid port is 0.
func parseMedia(v []byte, md *Media) {
	f, i := field(v, 0)
	md.Type = f
	f, i = field(v, i)
	if n, e, ok := digits(f, 0); ok && n <= 65535 && (e == len(f) || f[e] == '/') {
		md.Port = n
	}
	_, i = field(v, i) // proto
	for md.NPayload < len(md.Payloads) {
		if f, i = field(v, i); len(f) == 0 {
			return
		}
		if n, ok := atoi(f); ok {
			md.Payloads[md.NPayload] = n
			md.NPayload++
		}
	}
}

// field returns the whitespace-separated field at or after v[i] and the
// offset after it.
func field(v []byte, i int) ([]byte, int) {
	i = skipWS(v, i)
	s := i
	for i < len(v) && !isWS(v[i]) {
		i++
	}
	return v[s:i], i
}
