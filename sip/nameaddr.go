package sip

import "bytes"

// parseNameAddr parses a From, To or Contact value into a:
//
//	"Display Name" <sip:user@host:port;uri-params>;tag=abc
//	Display Name <sips:user@host>;tag=abc
//	sip:user@host;tag=abc        (no angle brackets: ;params are header params)
//	*                            (Contact only)
//
// With multi (Contact), a ',' outside quotes and brackets ends the value.
// It returns the expires header parameter (-1 when absent or invalid) and
// false if the value is not a name-addr or addr-spec.
func parseNameAddr(v []byte, a *NameAddr, multi bool) (expires int, ok bool) {
	if len(v) > 0 && v[0] == '*' && (len(v) == 1 || v[1] == ',' || isWS(v[1])) {
		v = v[:1]
		a.URI = v
		return -1, true
	}
	uri, i, ok := addrURI(v, a, multi)
	if !ok || len(uri) == 0 {
		return -1, false
	}
	a.URI = uri
	parseURI(uri, a)
	return headerParams(v, i, a), true
}

// addrURI finds the URI of a name-addr or addr-spec in v, sets a.Display,
// and returns the URI and the offset where the header parameters start.
// With multi, an addr-spec also ends at ','.
func addrURI(v []byte, a *NameAddr, multi bool) (uri []byte, next int, ok bool) {
	i := 0
	if len(v) > 0 && v[0] == '"' {
		d, n := quoted(v, 0)
		if n < 0 {
			return nil, 0, false
		}
		a.Display = d
		i = skipWS(v, n)
		if i >= len(v) || v[i] != '<' {
			return nil, 0, false
		}
	} else {
		ws := -1 // first blank: where an addr-spec ends
		for ; i < len(v); i++ {
			if c := v[i]; class[c]&cAddr != 0 {
				if c == '<' || c == ';' || (c == ',' && multi) {
					break
				}
				if ws < 0 && isWS(c) {
					ws = i
				}
			}
		}
		if i == len(v) || v[i] != '<' {
			// addr-spec: the URI ends at ';', ',' (multi) or whitespace.
			if ws >= 0 {
				i = ws
			}
			return v[:i], i, true
		}
		a.Display = trim(v[:i])
	}
	e := bytes.IndexByte(v[i+1:], '>')
	if e < 0 {
		return nil, 0, false
	}
	return trim(v[i+1 : i+1+e]), i + e + 2, true
}

// headerParams scans the ;name=value parameters after the URI, sets a.Tag
// and returns the expires parameter (-1 when absent or invalid).
func headerParams(v []byte, i int, a *NameAddr) int {
	expires := -1
	i = skipWS(v, i)
	for i < len(v) && v[i] == ';' {
		name, val, next := nextParam(v, i)
		switch len(name) {
		case 3:
			if a.Tag == nil && eqFold(name, "tag") {
				a.Tag = val
			}
		case 7:
			if eqFold(name, "expires") {
				if n, ok := atoi(val); ok {
					expires = n
				}
			}
		}
		i = next
	}
	return expires
}

// parseURI sets a.User and a.Domain from a sip:, sips: or tel: URI. Other
// schemes leave both empty.
//
//	sip:user:password@host:port;params?headers -> user, host
//	sip:[::1]:5060                               -> "", ::1
//	tel:+123;phone-context=x                     -> +123, ""
func parseURI(uri []byte, a *NameAddr) {
	c := index(uri, ':')
	if c <= 0 {
		return
	}
	scheme, rest := uri[:c], uri[c+1:]
	switch {
	case eqFold(scheme, "sip") || eqFold(scheme, "sips"):
		// The user part may contain ';' and '?', but '@' only there.
		if at := bytes.IndexByte(rest, '@'); at >= 0 {
			user := rest[:at]
			if k := index(user, ':'); k >= 0 {
				user = user[:k]
			}
			a.User, rest = user, rest[at+1:]
		}
		a.Domain = host(rest)
	case eqFold(scheme, "tel"):
		e := 0
		for e < len(rest) && rest[e] != ';' && rest[e] != '?' {
			e++
		}
		a.User = rest[:e]
	}
}

// host returns the host of hostport[;params][?headers]; an IPv6 reference
// is returned without its brackets.
func host(b []byte) []byte {
	if len(b) > 0 && b[0] == '[' {
		if e := index(b, ']'); e > 0 {
			return b[1:e]
		}
		return nil
	}
	e := 0
	for e < len(b) && class[b[e]]&cHost == 0 {
		e++
	}
	return b[:e]
}
