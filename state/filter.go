package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// setFilters reads "filter": an object, an array of objects, or a JSON
// string holding either (VoIPmonitor accepts all three).
func setFilters(p *ListParams, v json.RawMessage, keys []string) error {
	raw := bytes.TrimSpace(unwrapString(v))
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var objs []map[string]json.RawMessage
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &objs); err != nil {
			return errors.New("want an object or an array of objects")
		}
	} else {
		obj, err := parseObject(raw)
		if err != nil {
			return err
		}
		objs = append(objs, obj)
	}
	for _, obj := range objs {
		f, err := parseFilter(obj, keys)
		if err != nil {
			return err
		}
		if len(f.Conds) > 0 {
			p.Filters = append(p.Filters, f)
		}
	}
	return nil
}

// filterFlags are the filter keys that modify conditions instead of
// being one: "OR":"1" ORs the object's conditions, a "0" type makes
// caller / sipcallerip match either side.
var filterFlags = []string{"OR", "callerd_type", "sipcallerdip_type"}

// filterNames are every filter key either table understands. A filter key
// outside them (a misspelling, or one of VoIPmonitor's that tapline does
// not implement, such as codec) is an error when it has a value: ignoring
// it listed every call as if it matched.
var filterNames = sortedNames(filterFlags, callFilterFields, regFilterFields)

// callFilterNames and regFilterNames are the filter keys of one listing.
var (
	callFilterNames = sortedNames(filterFlags, callFilterFields)
	regFilterNames  = sortedNames(filterFlags, regFilterFields)
)

func sortedNames(lists ...[]string) []string {
	names := slices.Concat(lists...)
	slices.Sort(names)
	return slices.Compact(names)
}

// flagValues are the values each flag takes (an empty value is skipped):
// "OR" a boolean, the types "0" (either side) or "1" (this side only),
// as VoIPmonitor's call filter compares them. Any other value is an
// error: read as a default, "OR":"maybe" would AND the conditions and
// list other calls than asked for.
var flagValues = map[string][]string{
	"OR":                {"0", "1", "false", "true"},
	"callerd_type":      {"0", "1"},
	"sipcallerdip_type": {"0", "1"},
}

// parseFilter reads one filter object; empty values are skipped, as
// VoIPmonitor skips them.
func parseFilter(obj map[string]json.RawMessage, names []string) (Filter, error) {
	var f Filter
	if err := checkNames(obj, names); err != nil {
		return f, err
	}
	flags := make(map[string]string, len(filterFlags))
	for _, k := range filterFlags {
		v, ok := obj[k]
		if !ok {
			continue
		}
		s, err := scalar(v)
		if err != nil {
			return f, fmt.Errorf("%s: %w", k, err)
		}
		if s != "" && !slices.Contains(flagValues[k], strings.ToLower(s)) {
			return f, fmt.Errorf("%s: invalid value %s (valid: %s)", k, quoteList([]string{s}), strings.Join(flagValues[k], ", "))
		}
		flags[k] = strings.ToLower(s)
	}
	f.Or = flags["OR"] == "1" || flags["OR"] == "true"
	callerd, ipd := flags["callerd_type"], flags["sipcallerdip_type"]
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic condition order
	for _, k := range keys {
		if slices.Contains(filterFlags, k) || !slices.Contains(names, k) {
			continue // flags, and unknown keys with empty values
		}
		s, err := scalar(obj[k])
		if err != nil {
			return f, fmt.Errorf("%s: %w", k, err)
		}
		if s == "" {
			continue
		}
		either := (k == "caller" && callerd == "0") || (k == "sipcallerip" && ipd == "0")
		f.Conds = append(f.Conds, Cond{Field: k, Pattern: s, Either: either})
	}
	return f, nil
}

// matcher is a compiled Cond. field and other (the other side's field,
// for either; -1 if the table has none) index the table's filter fields.
type matcher struct {
	field  int
	other  int
	either bool
	pat    string
	prefix netip.Prefix // IP fields: an address or CIDR pattern
}

type compiledFilter struct {
	or    bool
	conds []matcher
}

// compileFilters keeps the conditions whose field the table has (fields
// lists them); a filter left without conditions matches everything.
func compileFilters(fs []Filter, fields []string) []compiledFilter {
	var out []compiledFilter
	for _, f := range fs {
		cf := compiledFilter{or: f.Or}
		for _, c := range f.Conds {
			i := slices.Index(fields, c.Field)
			if i < 0 {
				continue
			}
			m := matcher{field: i, other: -1, either: c.Either, pat: c.Pattern}
			if c.Either {
				m.other = slices.Index(fields, otherSide[c.Field])
			}
			if strings.HasSuffix(c.Field, "ip") {
				m.prefix = ipPattern(c.Pattern)
			}
			cf.conds = append(cf.conds, m)
		}
		if len(cf.conds) > 0 {
			out = append(out, cf)
		}
	}
	return out
}

func ipPattern(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen())
	}
	return netip.Prefix{}
}

// fieldFunc returns a record's field, by its index in the table's filter
// fields, as a string or an address (zero for an index out of the list).
type fieldFunc[T any] func(rec T, field int) (string, netip.Addr)

// matchAll reports whether rec passes every filter.
func matchAll[T any](fs []compiledFilter, rec T, get fieldFunc[T]) bool {
	for i := range fs {
		if !matchFilter(&fs[i], rec, get) {
			return false
		}
	}
	return true
}

func matchFilter[T any](f *compiledFilter, rec T, get fieldFunc[T]) bool {
	for i := range f.conds {
		m := &f.conds[i]
		ok := m.matchField(get(rec, m.field))
		if !ok && m.either {
			ok = m.matchField(get(rec, m.other))
		}
		if ok && f.or {
			return true
		}
		if !ok && !f.or {
			return false
		}
	}
	return !f.or
}

var otherSide = map[string]string{"caller": "called", "sipcallerip": "sipcalledip"}

func (m *matcher) matchField(s string, a netip.Addr) bool {
	if m.prefix.IsValid() {
		return a.IsValid() && m.prefix.Contains(a.Unmap())
	}
	if a.IsValid() {
		var buf [64]byte
		return glob(m.pat, string(a.Unmap().AppendTo(buf[:0])))
	}
	return glob(m.pat, s)
}

// glob matches s against pattern: * any run, ? one byte, other bytes
// ASCII case-insensitively. Iterative with one backtrack point: linear in
// practice, never exponential.
func glob(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || lower(pattern[p]) == lower(s[i])):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
