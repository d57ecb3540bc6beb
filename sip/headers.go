package sip

// header dispatches one header field by its case-insensitive name (long or
// compact form). Headers the sensor does not need are skipped. For headers
// that should appear once, the first occurrence wins.
func (p *parser) header(name, v []byte) {
	switch len(name) {
	case 1:
		p.compact(lower(name[0]), v)
	case 2:
		if eqFold(name, "to") {
			p.nameAddr(v, &p.m.To)
		}
	case 3:
		if eqFold(name, "via") {
			p.via(v)
		}
	case 4:
		if eqFold(name, "from") {
			p.nameAddr(v, &p.m.From)
		} else if eqFold(name, "cseq") {
			p.cseq(v)
		}
	default:
		p.long(name, v)
	}
}

// compact handles the one-letter forms of RFC 3261 §7.3.3 (k, Supported,
// and the others are ignored).
func (p *parser) compact(c byte, v []byte) {
	switch c {
	case 'i':
		p.callID(v)
	case 'f':
		p.nameAddr(v, &p.m.From)
	case 't':
		p.nameAddr(v, &p.m.To)
	case 'v':
		p.via(v)
	case 'm':
		p.contact(v)
	case 'l':
		p.contentLength(v)
	case 'c':
		p.contentType(v)
	}
}

// long handles the header names longer than four bytes.
func (p *parser) long(name, v []byte) {
	m := p.m
	switch len(name) {
	case 6:
		if eqFold(name, "server") && p.server == nil {
			p.server = v
		}
	case 7:
		switch lower(name[0]) {
		case 'c':
			if eqFold(name, "call-id") {
				p.callID(v)
			} else if eqFold(name, "contact") {
				p.contact(v)
			}
		case 'e':
			if eqFold(name, "expires") && m.Expires < 0 {
				if n, ok := atoi(v); ok {
					m.Expires = n
				}
			}
		}
	case 10:
		if eqFold(name, "user-agent") && p.userAgent == nil {
			p.userAgent = v
		}
	case 12:
		if eqFold(name, "content-type") {
			p.contentType(v)
		}
	case 13:
		if eqFold(name, "authorization") {
			p.digest(v)
		}
	case 14:
		if eqFold(name, "content-length") {
			p.contentLength(v)
		}
	case 19:
		if eqFold(name, "proxy-authorization") {
			p.digest(v)
		}
	}
}

func (p *parser) callID(v []byte) {
	if p.m.CallID != nil {
		return
	}
	if len(v) == 0 {
		p.fail(errMalformed)
		return
	}
	p.m.CallID = v
}

// nameAddr parses a From or To value into a (first one wins).
func (p *parser) nameAddr(v []byte, a *NameAddr) {
	if a.URI != nil {
		return
	}
	if _, ok := parseNameAddr(v, a, false); !ok {
		p.fail(errMalformed)
	}
}

// contact parses the first value of the first Contact header.
func (p *parser) contact(v []byte) {
	m := p.m
	if m.Contact.URI != nil {
		return
	}
	exp, ok := parseNameAddr(v, &m.Contact, true)
	if !ok {
		p.fail(errMalformed)
		return
	}
	m.ContactExpires = exp
}

// via keeps the first Via value and its branch parameter. sent-protocol
// and sent-by contain no ';' or ',', so the parameters start at the first
// ';' and the value ends at the first ',' after them.
func (p *parser) via(v []byte) {
	if p.m.Via != nil { // a value is never nil, so only the first Via is kept
		return
	}
	i := 0
	for i < len(v) && v[i] != ';' && v[i] != ',' {
		i++
	}
	for i < len(v) && v[i] == ';' {
		name, val, next := nextParam(v, i)
		if p.m.ViaBranch == nil && eqFold(name, "branch") {
			p.m.ViaBranch = val
		}
		i = next
	}
	p.m.Via = trim(v[:i])
}

// cseq parses "CSeq: 1*DIGIT LWS Method".
func (p *parser) cseq(v []byte) {
	if p.haveCSeq {
		return
	}
	p.haveCSeq = true
	n, i, ok := digits(v, 0)
	if !ok {
		p.fail(errMalformed)
		return
	}
	s := skipWS(v, i)
	e := skipTok(v, s)
	if s == i || e == s || e != len(v) {
		p.fail(errMalformed)
		return
	}
	p.m.CSeq, p.m.CSeqMethod = uint32(n), v[s:e]
}

func (p *parser) contentType(v []byte) {
	if p.m.ContentType == nil {
		p.m.ContentType = v
	}
}

func (p *parser) contentLength(v []byte) {
	if p.m.ContentLength >= 0 {
		return
	}
	n, ok := atoi(v)
	if !ok {
		p.fail(errMalformed)
		return
	}
	p.m.ContentLength = n
}

// isSDP reports whether a Content-Type value is application/sdp, with or
// without parameters.
func isSDP(ct []byte) bool {
	const t = "application/sdp"
	if !prefixFold(ct, t) {
		return false
	}
	return len(ct) == len(t) || ct[len(t)] == ';' || isWS(ct[len(t)])
}

// isContentLength reports whether a header name is Content-Length or l.
func isContentLength(name []byte) bool {
	if len(name) == 1 {
		return lower(name[0]) == 'l'
	}
	return eqFold(name, "content-length")
}

// digest takes username and realm from the first Authorization or
// Proxy-Authorization header with the Digest scheme:
// Digest username="alice", realm="example.com", nonce="...", ...
func (p *parser) digest(v []byte) {
	if p.haveDigest {
		return
	}
	s := skipTok(v, 0)
	if !eqFold(v[:s], "digest") || s == len(v) || !isWS(v[s]) {
		return
	}
	p.haveDigest = true
	for i := s; i < len(v); {
		name, val, next, ok := authParam(v, i)
		if !ok {
			return
		}
		if eqFold(name, "username") {
			p.m.DigestUser = val
		} else if eqFold(name, "realm") {
			p.m.DigestRealm = val
		}
		if p.m.DigestUser != nil && p.m.DigestRealm != nil {
			return
		}
		i = next
	}
}

// authParam scans one [,] name = (token | quoted-string) at v[i:] and
// returns the offset after it.
func authParam(v []byte, i int) (name, val []byte, next int, ok bool) {
	i = skipWS(v, i)
	if i < len(v) && v[i] == ',' {
		i = skipWS(v, i+1)
	}
	e := skipTok(v, i)
	name = v[i:e]
	i = skipWS(v, e)
	if len(name) == 0 || i >= len(v) || v[i] != '=' {
		return nil, nil, 0, false
	}
	i = skipWS(v, i+1)
	if i < len(v) && v[i] == '"' {
		val, next = quoted(v, i)
		return name, val, next, next >= 0
	}
	e = i
	for e < len(v) && v[e] != ',' && !isWS(v[e]) {
		e++
	}
	return name, v[i:e], e, true
}
