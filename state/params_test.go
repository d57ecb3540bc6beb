package state

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseListParams(t *testing.T) {
	tests := []struct {
		raw  string
		want ListParams
	}{
		{"", ListParams{Limit: -1}},
		{"  \n", ListParams{Limit: -1}},
		{"{}", ListParams{Given: true, Limit: -1}},
		{`{"limit":"10"}`, ListParams{Given: true, Limit: 10}},
		{`{"limit":25,"offset":"5"}`, ListParams{Given: true, Limit: 25, Offset: 5}},
		{`{"limit":""}`, ListParams{Given: true, Limit: -1}},
		{`{"limit":"0"}`, ListParams{Given: true, Limit: 0}},
		{`{"sort_field":"caller","sort_dir":"ASC"}`, ListParams{Given: true, Limit: -1, SortField: "caller", SortAsc: true}},
		{`{"sort_field":"to_num","sort_dir":"descending"}`, ListParams{Given: true, Limit: -1, SortField: "to_num", SortDesc: true}},
		{`{"zip":"YES"}`, ListParams{Given: true, Limit: -1, Zip: true}},
		{`{"zip":"no"}`, ListParams{Given: true, Limit: -1}},
		{`{"states":"OK,Failed"}`, ListParams{Given: true, Limit: -1, States: []RegState{RegOK, RegFailed}}},
		{`{"states":["Expired"," Unregister"]}`, ListParams{Given: true, Limit: -1, States: []RegState{RegExpired, RegUnregister}}},
		{`{"fields":["callid","caller"]}`, ListParams{Given: true, Limit: -1, Fields: []string{"callid", "caller"}}},
		{`{"filter":{"caller":"12*","called":"","codec":"","vlan":null}}`, ListParams{Given: true, Limit: -1,
			Filters: []Filter{{Conds: []Cond{{Field: "caller", Pattern: "12*"}}}}}},
		{`{"filter":[{"callid":"abc"},{"sipcallerip":"10.0.0.0/8","sipcallerdip_type":"0","OR":1}]}`,
			ListParams{Given: true, Limit: -1, Filters: []Filter{
				{Conds: []Cond{{Field: "callid", Pattern: "abc"}}},
				{Or: true, Conds: []Cond{{Field: "sipcallerip", Pattern: "10.0.0.0/8", Either: true}}}}}},
		{`{"filter":"{\"caller\":\"5*\"}"}`, ListParams{Given: true, Limit: -1,
			Filters: []Filter{{Conds: []Cond{{Field: "caller", Pattern: "5*"}}}}}},
		{`{"params":{"limit":"3"},"id":1}`, ListParams{Given: true, Limit: 3}},
		{`{"ip_map":"yes","sensor_map":"yes","form_filters":{},"state_from_le":""}`, ListParams{Given: true, Limit: -1}},
	}
	for _, tt := range tests {
		got, err := ParseListParams([]byte(tt.raw))
		if err != nil {
			t.Errorf("%s: %v", tt.raw, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.raw, got, tt.want)
		}
	}
}

func TestParseListParamsErrors(t *testing.T) {
	for raw, want := range map[string]string{
		`limit 10`:                  "params: want a JSON object",
		`[1,2]`:                     "params: want a JSON object",
		`{"limit":"ten"}`:           `limit: want an integer >= 0, got "ten"`,
		`{"limit":-1}`:              `limit: want an integer >= 0, got "-1"`,
		`{"offset":"-5"}`:           `offset: want an integer >= 0, got "-5"`,
		`{"limt":"5"}`:              `params: unknown key "limt" (valid: fields, filter, ip_map, limit, offset, params, sensor_map, sort_dir, sort_field, states, zip)`,
		`{"form_filters":{"x":1}}`:  `params: unknown key "form_filters"`,
		`{"filter":{"codec":"99"}}`: `filter: unknown key "codec" (valid: OR, called,`,
		`{"filter":[{"caller":"1"},{"calle":"2"}]}`: `filter: unknown key "calle"`,
		"{\"filter\":{\"x\xff\":1}}":                "filter: unknown key \"x\ufffd\"",
		`{"limit":[1]}`:                             "limit: want a string or a number",
		`{"offset":1.5}`:                            `offset: want an integer >= 0, got "1.5"`,
		`{"sort_field":"nope"}`:                     `sort_field: unknown column "nope"`,
		`{"sort_dir":"sideways"}`:                   `sort_dir: want "asc" or "desc", got "sideways"`,
		`{"states":"OK,Sleeping"}`:                  `states: unknown state "Sleeping"`,
		`{"filter":42}`:                             "filter: want a JSON object",
		`{"filter":[1]}`:                            "filter: want an object or an array of objects",
		`{"filter":{"caller":{}}}`:                  "filter: caller: want a string or a number",
		`{"fields":{"a":1}}`:                        "fields: want a list of strings",
		`{"limit":"1"`:                              "params: want a JSON object",
		`{"params":"{\"limit\":\"x\"}"}`:            `limit: want an integer >= 0, got "x"`,
	} {
		_, err := ParseListParams([]byte(raw))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", raw, err, want)
		}
	}
}

func TestUnknownFieldIsAnError(t *testing.T) {
	var b bytes.Buffer
	err := WriteCallObjects(&b, nil, ListParams{Given: true, Limit: -1, Fields: []string{"callid", "nope"}}, 1)
	if err == nil || b.Len() != 0 {
		t.Fatalf("err %v, wrote %q", err, b.String())
	}
}

func TestGlob(t *testing.T) {
	for _, tt := range []struct {
		pat, s string
		want   bool
	}{
		{"", "", true}, {"*", "", true}, {"*", "abc", true}, {"abc", "ABC", true}, {"a?c", "abc", true},
		{"a?c", "ac", false}, {"12*", "12345", true}, {"*345", "12345", true}, {"1*3*5", "12345", true},
		{"1*3*6", "12345", false}, {"sipp", "sipp2", false}, {"*a*a*a*a*b", strings.Repeat("a", 100), false},
	} {
		if got := glob(tt.pat, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v", tt.pat, tt.s, got)
		}
	}
}

func TestDateLocalTime(t *testing.T) {
	d := newDateCache(time.FixedZone("CET", 3600))
	if got := string(d.appendQuoted(nil, t0)); got != `"2026-11-23 16:59:43"` {
		t.Fatalf("got %s", got)
	}
	if d := newDateCache(nil); d.loc != time.Local {
		t.Fatal("nil location is not time.Local")
	}
}

// FuzzListParams: any input parses or fails cleanly, and whatever parses
// can be listed.
func FuzzListParams(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"limit":"10"}`, `{"limit":0}`, `{"sort_field":"caller","sort_dir":"asc"}`,
		`{"filter":{"caller":"*1?2*","sipcallerip":"10.0.0.0/8"}}`, `{"filter":"[{\"OR\":1,\"callid\":\"x\"}]"}`,
		`{"states":"OK,Failed","fields":["ID","state"],"offset":"2"}`, `{"params":"{}"}`, `{"zip":"yes"}`} {
		f.Add([]byte(s))
	}
	s := goldenStore(f)
	calls, regs := s.Calls(), s.Registers()
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := ParseListParams(raw)
		if err != nil {
			return
		}
		var b bytes.Buffer
		_ = WriteListCalls(&b, calls, p, 1)
		_ = WriteListRegisters(&b, regs, p, 1)
		_ = WriteCallObjects(&b, calls, p, 1)
		_ = WriteRegisterObjects(&b, regs, p, 1)
	})
}
