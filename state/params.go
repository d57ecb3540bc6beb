package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"tapline/jsonobj"
)

// ListParams are the options of listcalls / listregisters. The zero value
// means "no params": VoIPmonitor then lists everything in the default order
// without the summary element, and ignores every other field; the fields
// only apply when Given is set (ParseListParams sets it for any params).
type ListParams struct {
	Given bool // params were sent: listcalls adds the [summary] element

	Limit  int // rows to list, -1 none; 0: listcalls gives only the summary object, listregisters all rows (as VoIPmonitor), the objects no rows
	Offset int // rows to skip (JSON-session objects only)

	SortField string // a column name; "" or one the table lacks = default order
	SortAsc   bool   // listcalls: ascending (default descending)
	SortDesc  bool   // listregisters: descending (default ascending)

	Filters []Filter   // all must match (VoIPmonitor ANDs its filter objects)
	States  []RegState // listregisters: only these states (none = all)
	Fields  []string   // JSON-session objects: columns to include (none = all)
	Zip     bool       // "zip":"yes": the caller gzips the reply

	Now      time.Time      // clock for duration columns (Store.Now()); zero = newest LastPacket listed
	Location *time.Location // zone of datetime columns; nil = time.Local
}

// Filter is one VoIPmonitor filter object: its conditions are ANDed, or
// ORed with "OR":"1".
type Filter struct {
	Or    bool
	Conds []Cond
}

// Cond matches one field against a pattern: * and ? globs, ASCII
// case-insensitive; IP fields also take an address or a CIDR prefix.
// Either (VoIPmonitor's callerd_type/sipcallerdip_type "0") matches the
// caller or the called side.
type Cond struct {
	Field   string
	Pattern string
	Either  bool
}

// Filter fields per table; filter keys outside both are ignored, as
// VoIPmonitor ignores keys it does not know (GUIs send form state too).
// A compiled condition refers to its field by its index in the table's
// list (callField, registerField).
var (
	callFilterFields = []string{cfCaller: "caller", cfCalled: "called", cfCallID: "callid",
		cfCallerIP: "sipcallerip", cfCalledIP: "sipcalledip", cfCallerDomain: "caller_domain",
		cfCalledDomain: "called_domain", cfCallerAgent: "caller_agent", cfCalledAgent: "called_agent"}
	regFilterFields = []string{rfFromNum: "from_num", rfToNum: "to_num", rfContactNum: "contact_num",
		rfDigestUser: "digestusername", rfDigestRealm: "digestrealm", rfUA: "ua",
		rfCallerIP: "sipcallerip", rfCalledIP: "sipcalledip", rfFromDomain: "from_domain",
		rfToDomain: "to_domain", rfContactDomain: "contact_domain"}
)

// Indexes into callFilterFields.
const (
	cfCaller = iota
	cfCalled
	cfCallID
	cfCallerIP
	cfCalledIP
	cfCallerDomain
	cfCalledDomain
	cfCallerAgent
	cfCalledAgent
)

// Indexes into regFilterFields.
const (
	rfFromNum = iota
	rfToNum
	rfContactNum
	rfDigestUser
	rfDigestRealm
	rfUA
	rfCallerIP
	rfCalledIP
	rfFromDomain
	rfToDomain
	rfContactDomain
)

// ParseListParams reads VoIPmonitor's JSON params: {"limit":"10"} (strings
// or numbers), "sort_field", "sort_dir" ("desc"/"asc"), "zip":"yes",
// "filter" (an object, an array of objects, or either as a JSON string),
// "states" ("OK,Failed,…" or an array); JSON-session extras "fields" and
// "offset". A JSON-session args object may carry them in "params". Empty
// input means no params. A negative limit or offset is an error, and so is
// any other key with a value (see checkNames): a misspelt or unsupported
// key must not return rows the client did not ask for.
func ParseListParams(raw []byte) (ListParams, error) { return parseListParams(raw, filterNames) }

// ParseCallParams is ParseListParams for listcalls: a filter key must be a
// flag or a call filter field, and an unknown one's error lists only those.
func ParseCallParams(raw []byte) (ListParams, error) { return parseListParams(raw, callFilterNames) }

// ParseRegisterParams is ParseCallParams for listregisters.
func ParseRegisterParams(raw []byte) (ListParams, error) { return parseListParams(raw, regFilterNames) }

// parseListParams reads the params; filterKeys are the filter keys the
// listing accepts.
func parseListParams(raw []byte, filterKeys []string) (ListParams, error) {
	p := ListParams{Limit: -1}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return p, nil
	}
	obj, err := parseObject(raw)
	if err != nil {
		return p, fmt.Errorf("params: %w", err)
	}
	if inner, ok := obj["params"]; ok && isObjectOrString(inner) {
		if obj, err = parseObject(unwrapString(inner)); err != nil {
			return p, fmt.Errorf("params: %w", err)
		}
	}
	p.Given = true
	if err := checkNames(obj, paramNames); err != nil {
		return ListParams{Limit: -1}, fmt.Errorf("params: %w", err)
	}
	for _, f := range paramFields {
		if v, ok := obj[f.key]; ok {
			set := f.set
			if f.key == "filter" {
				set = func(p *ListParams, v json.RawMessage) error { return setFilters(p, v, filterKeys) }
			}
			if err := set(&p, v); err != nil {
				return ListParams{Limit: -1}, fmt.Errorf("%s: %w", f.key, err)
			}
		}
	}
	return p, nil
}

var paramFields = []struct {
	key string
	set func(*ListParams, json.RawMessage) error
}{
	{"limit", func(p *ListParams, v json.RawMessage) (err error) { p.Limit, err = intParam(v, -1); return }},
	{"offset", func(p *ListParams, v json.RawMessage) (err error) { p.Offset, err = intParam(v, 0); return }},
	// VoIPmonitor's summary extras: tapline is one sensor and keeps no
	// per-IP maps, so they add nothing, but they never change the rows.
	{"sensor_map", func(*ListParams, json.RawMessage) error { return nil }},
	{"ip_map", func(*ListParams, json.RawMessage) error { return nil }},
	{"sort_field", setSortField},
	{"sort_dir", setSortDir},
	{"zip", setZip},
	{"filter", nil}, // setFilters, with the listing's filter keys
	{"states", setStates},
	{"fields", setFields},
}

// paramNames are the keys ParseListParams understands ("params" wraps them).
var paramNames = func() []string {
	names := []string{"params"}
	for _, f := range paramFields {
		names = append(names, f.key)
	}
	slices.Sort(names)
	return names
}()

// checkNames rejects a key of obj that is not in valid, naming the valid
// ones. A key whose value is empty ("", null, {} or []) is let through:
// VoIPmonitor skips empty values, GUIs send whole forms, and an empty
// condition selects nothing, so ignoring it cannot change the answer.
func checkNames(obj map[string]json.RawMessage, valid []string) error {
	var bad []string
	for k, v := range obj {
		if !slices.Contains(valid, k) && !isEmptyValue(v) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("unknown key %s (valid: %s)", quoteList(bad), strings.Join(valid, ", "))
}

// isEmptyValue reports whether v is "", a blank string, null, {} or [].
func isEmptyValue(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	switch string(v) {
	case "null", "{}", "[]", `""`:
		return true
	}
	var s string
	return json.Unmarshal(v, &s) == nil && strings.TrimSpace(s) == ""
}

// quoteList quotes hostile names for an error message (valid JSON text,
// so the message reads the same in a JSON reply).
func quoteList(names []string) string {
	var b []byte
	for i, n := range names {
		if i > 0 {
			b = append(b, ", "...)
		}
		if len(n) > 64 {
			n = n[:64]
		}
		b = jsonobj.AppendStringS(b, n)
	}
	return string(b)
}

func parseObject(raw []byte) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, errors.New("want a JSON object")
	}
	return obj, nil
}

func isObjectOrString(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && (v[0] == '{' || v[0] == '"')
}

// unwrapString returns the content of a JSON string (VoIPmonitor's GUI may
// send nested JSON as a string), else v itself.
func unwrapString(v json.RawMessage) []byte {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return []byte(s)
	}
	return v
}

// scalar reads a string, number or bool as text.
func scalar(v json.RawMessage) (string, error) {
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return "", errors.New("invalid JSON")
	}
	switch t := x.(type) {
	case string:
		return strings.TrimSpace(t), nil
	case float64, bool:
		return strings.TrimSpace(string(v)), nil
	case nil:
		return "", nil
	}
	return "", errors.New("want a string or a number")
}

// intParam reads an integer >= 0; an empty value means unset (def).
// A negative one is an error: clamping it silently answered "limit":-5
// with every row.
func intParam(v json.RawMessage, def int) (int, error) {
	s, err := scalar(v)
	if err != nil {
		return 0, err
	}
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want an integer >= 0, got %s", quoteList([]string{s}))
	}
	return n, nil
}

func setSortField(p *ListParams, v json.RawMessage) error {
	s, err := scalar(v)
	if err != nil {
		return err
	}
	if s != "" && columnIndex(callColumns[:], s) < 0 && columnIndex(registerColumns[:], s) < 0 {
		return fmt.Errorf("unknown column %q", s)
	}
	p.SortField = s
	return nil
}

func setSortDir(p *ListParams, v json.RawMessage) error {
	s, err := scalar(v)
	if err != nil {
		return err
	}
	switch s = strings.ToLower(s); {
	case s == "":
	case strings.HasPrefix(s, "desc"):
		p.SortDesc = true
	case strings.HasPrefix(s, "asc"):
		p.SortAsc = true
	default:
		return fmt.Errorf("want \"asc\" or \"desc\", got %q", s)
	}
	return nil
}

func setZip(p *ListParams, v json.RawMessage) error {
	s, err := scalar(v)
	if err != nil {
		return err
	}
	p.Zip, err = ParseYesNo(s)
	return err
}

// ParseYesNo reads VoIPmonitor's "zip" flag: "yes" or "no" (any case), or
// empty for no. Anything else is an error: reading "maybe" as no would
// send a client that meant yes a reply it cannot parse.
func ParseYesNo(s string) (bool, error) {
	switch s = strings.TrimSpace(s); {
	case s == "" || strings.EqualFold(s, "no"):
		return false, nil
	case strings.EqualFold(s, "yes"):
		return true, nil
	}
	return false, fmt.Errorf("invalid value %s (valid: yes, no)", quoteList([]string{s}))
}

func setStates(p *ListParams, v json.RawMessage) error {
	names, err := stringList(v)
	if err != nil {
		return err
	}
	for _, n := range names {
		st, ok := parseRegState(n)
		if !ok {
			return fmt.Errorf("unknown state %q (OK, Failed, UnknownMessageOK, ManyRegMessages, Expired, Unregister)", n)
		}
		p.States = append(p.States, st)
	}
	return nil
}

func setFields(p *ListParams, v json.RawMessage) error {
	names, err := stringList(v)
	p.Fields = names
	return err
}

// stringList reads ["a","b"] or "a,b".
func stringList(v json.RawMessage) ([]string, error) {
	var list []string
	if json.Unmarshal(v, &list) != nil {
		s, err := scalar(v)
		if err != nil {
			return nil, errors.New("want a list of strings or a comma-separated string")
		}
		list = strings.Split(s, ",")
	}
	out := list[:0]
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}
