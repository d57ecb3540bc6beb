package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PortSet is a set of TCP/UDP ports, a 64 Kibit bitmap so that the per-packet
// membership test is one load and a mask whatever the number of ranges.
//
// It is written in VoIPmonitor's sipport syntax: "5060", "5060,5061",
// "5060-5070", or any comma-separated mix; blanks around a port, a comma or a
// '-' are ignored. Several config lines merge with Add. The zero value is the
// empty set. Copies share the bitmap (Add on a copy is seen by the original);
// a capture decoder takes its own copy with Clone.
//
// ParsePorts is the one sipport parser: config validates the key with it and
// the sensor builds its decoders' set with it.
type PortSet struct {
	bits *[1024]uint64
}

// ParsePorts parses one sipport value.
func ParsePorts(spec string) (PortSet, error) {
	var p PortSet
	if err := p.Add(spec); err != nil {
		return PortSet{}, err
	}
	return p, nil
}

// Add merges one more sipport value into the set. On error the set is left
// unchanged, so a bad config line does not half-apply.
func (p *PortSet) Add(spec string) error {
	type rng struct{ lo, hi int }
	var rs []rng
	for _, part := range strings.Split(spec, ",") {
		f := strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := parsePort(lo)
		if err != nil {
			return fmt.Errorf("sipport %q: %w", spec, err)
		}
		b := a
		if isRange {
			if b, err = parsePort(hi); err != nil {
				return fmt.Errorf("sipport %q: %w", spec, err)
			}
			if b < a {
				return fmt.Errorf("sipport %q: range %s is reversed", spec, f)
			}
		}
		rs = append(rs, rng{a, b})
	}
	if p.bits == nil {
		p.bits = new([1024]uint64)
	}
	for _, r := range rs {
		for port := r.lo; port <= r.hi; port++ {
			p.bits[port>>6] |= 1 << (port & 63)
		}
	}
	return nil
}

// parsePort parses one port, 1-65535, with blanks around it ignored and an
// optional sign as strconv.Atoi takes it.
func parsePort(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty port")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("bad port %q (want 1-65535)", s)
	}
	return n, nil
}

// Has reports whether port is in the set.
func (p PortSet) Has(port uint16) bool {
	return p.bits != nil && p.bits[port>>6]&(1<<(port&63)) != 0
}

// Empty reports whether the set has no port.
func (p PortSet) Empty() bool {
	if p.bits == nil {
		return true
	}
	for _, w := range p.bits {
		if w != 0 {
			return false
		}
	}
	return true
}

// String renders the set back in sipport syntax, ranges collapsed:
// "5060-5062,5080".
func (p PortSet) String() string {
	var b strings.Builder
	for port := 1; port <= 65535; port++ {
		if !p.Has(uint16(port)) {
			continue
		}
		end := port
		for end < 65535 && p.Has(uint16(end+1)) {
			end++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(port))
		if end > port {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(end))
		}
		port = end
	}
	return b.String()
}

// Clone returns an independent copy, so a decoder is not affected (or raced)
// by later Adds on the caller's set.
func (p PortSet) Clone() PortSet {
	c := PortSet{bits: new([1024]uint64)}
	if p.bits != nil {
		*c.bits = *p.bits
	}
	return c
}
