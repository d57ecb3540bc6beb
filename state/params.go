package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
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
// input means no params. Other keys are ignored.
func ParseListParams(raw []byte) (ListParams, error) {
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
	for _, f := range paramFields {
		if v, ok := obj[f.key]; ok {
			if err := f.set(&p, v); err != nil {
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
	{"sort_field", setSortField},
	{"sort_dir", setSortDir},
	{"zip", setZip},
	{"filter", setFilters},
	{"states", setStates},
	{"fields", setFields},
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

// intParam reads an integer; negative values clamp to neg.
func intParam(v json.RawMessage, neg int) (int, error) {
	s, err := scalar(v)
	if err != nil {
		return 0, err
	}
	if s == "" {
		return neg, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("want an integer, got %q", s)
	}
	if n < 0 {
		n = neg
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
	p.Zip = strings.EqualFold(s, "yes") || s == "true" || s == "1"
	return err
}

func setStates(p *ListParams, v json.RawMessage) error {
	names, err := stringList(v)
	if err != nil {
		return err
	}
	for _, n := range names {
		st, ok := ParseRegState(n)
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
