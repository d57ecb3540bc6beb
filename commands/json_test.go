package commands

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"tapline/sip"
	"tapline/state"
)

// checkJSON fails unless b is one valid JSON text in valid UTF-8: what
// every JSON client of the manager needs, whatever bytes came in.
func checkJSON(t *testing.T, what string, b []byte) {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("%s: not valid JSON: %q", what, b)
	}
	if !utf8.Valid(b) {
		t.Fatalf("%s: not valid UTF-8: %q", what, b)
	}
}

// statJSON runs sniffer_stat on a host with these listeners and counts
// requests under every command, so each encoded name and path is exercised.
func statJSON(listeners []string) *Reply {
	tbl := Default()
	h := stubHost{t: tbl, listeners: listeners}
	rep := &Reply{}
	Run(&Request{Cmd: tbl.Lookup([]byte("sniffer_stat")), Server: h, Env: h.env()}, rep)
	return rep
}

// TestSnifferStatHostileListener: a manager_file path is any bytes a
// client sent. strconv.AppendQuote turned \xff into `\xff` and U+F0000
// into `\U000f0000`, neither of which is JSON, and every GUI polling
// sniffer_stat broke.
func TestSnifferStatHostileListener(t *testing.T) {
	paths := []string{
		"unix /tmp/a\xffb.sock",
		"unix /tmp/\U000f0000.sock",
		"unix /tmp/q\"uote\\back\x01\n.sock",
		"unix /tmp/\xed\xa0\x80\xc3.sock",
	}
	rep := statJSON(append([]string{"tcp 127.0.0.1:5029"}, paths...))
	checkJSON(t, "sniffer_stat", rep.Body)
	var v struct {
		Manager struct {
			Listeners []string `json:"listeners"`
		} `json:"manager"`
	}
	if err := json.Unmarshal(rep.Body, &v); err != nil {
		t.Fatal(err)
	}
	got := v.Manager.Listeners
	if len(got) != 5 || got[1] != "unix /tmp/a\uFFFDb.sock" || got[2] != "unix /tmp/\U000f0000.sock" {
		t.Fatalf("listeners = %q", got)
	}
}

// FuzzStatsJSON: sniffer_stat is valid JSON in valid UTF-8 for any
// listener names.
func FuzzStatsJSON(f *testing.F) {
	f.Add("unix /tmp/a\xffb", "\U000f0000\"\\\x00")
	f.Fuzz(func(t *testing.T, a, b string) {
		checkJSON(t, "sniffer_stat", statJSON([]string{a, b}).Body)
	})
}

// TestJSONRepliesAreValid runs every JSON-producing command and checks
// the bytes.
func TestJSONRepliesAreValid(t *testing.T) {
	for _, line := range []string{"sniffer_stat", "clients", "listcalls", "listregisters", `listcalls {"limit":"1"}`} {
		rep := run(t, line)
		if rep.Failed() {
			t.Fatalf("%s failed: %s", line, rep.Msg)
		}
		if rep.Kind != JSON {
			t.Fatalf("%s: kind %d", line, rep.Kind)
		}
		b := rep.Body
		if rep.Stream != nil {
			var sb strings.Builder
			if err := rep.Stream(&sb); err != nil {
				t.Fatal(err)
			}
			b = []byte(sb.String())
		}
		checkJSON(t, line, b)
	}
}

// runJSON runs line as a JSON-session request with this raw "args" value.
func runJSON(t *testing.T, h stubHost, name, args string) *Reply {
	t.Helper()
	rep := &Reply{}
	c := h.t.Lookup([]byte(name))
	if c == nil {
		t.Fatalf("no command %s", name)
	}
	req := &Request{Cmd: c, JSON: true, Server: h, Env: h.env()}
	if args != "" {
		req.Args = []byte(args)
	}
	Run(req, rep)
	return rep
}

// TestBadArgsRejected: arguments of the wrong type, extra values and
// misspelt names were ignored, so a client got the answer to another
// request (all calls for a filter on "codec"). They are now `invalid`,
// and the message lists the valid names.
func TestBadArgsRejected(t *testing.T) {
	h := stubHost{t: Default()}
	tests := []struct{ cmd, args, msg string }{
		{"help", `5`, "help: args: want a string, an array or an object, not 5"},
		{"manager_file", `true`, "manager_file: args: want a string, an array or an object, not true"},
		{"manager_file", `{"action":"stop","pth":"/tmp/x"}`, `manager_file: args: unknown name "pth" (valid: action, path)`},
		{"manager_file", `["stop","/tmp/x","more"]`, "manager_file: args: 3 values for 2 params (action, path)"},
		{"ping", `["x"]`, "ping: args: 1 values for 0 params (none)"},
		{"listcalls", `{"limit":-1}`, `listcalls: limit: want an integer >= 0, got "-1"`},
		{"listcalls", `{"offset":-5}`, `listcalls: offset: want an integer >= 0, got "-5"`},
		{"listcalls", `{"filter":{"codec":"99"}}`, `listcalls: filter: unknown key "codec" (valid: OR, called, called_agent, called_domain, caller, caller_agent, caller_domain, callerd_type, callid, sipcalledip, sipcallerdip_type, sipcallerip)`},
		{"listcalls", `{"limt":2}`, `listcalls: params: unknown key "limt" (valid: fields, filter, ip_map, limit, offset,`},
		// issue 9 item 11: the valid list names only what this listing accepts.
		{"listcalls", `{"filter":{"from_num":"1"}}`, `listcalls: filter: unknown key "from_num" (valid: OR, called, called_agent, called_domain, caller, caller_agent, caller_domain, callerd_type, callid, sipcalledip, sipcallerdip_type, sipcallerip)`},
		{"listcalls", `{"filter":{"ua":"x","to_num":"1"}}`, `listcalls: filter: unknown key "to_num", "ua" (valid: OR, called, called_agent, called_domain, caller, caller_agent, caller_domain, callerd_type, callid, sipcalledip, sipcallerdip_type, sipcallerip)`},
		{"listregisters", `{"filter":{"callid":"x"}}`, `listregisters: filter: unknown key "callid" (valid: OR, callerd_type, contact_domain, contact_num, digestrealm, digestusername, from_domain, from_num, sipcalledip, sipcallerdip_type, sipcallerip, to_domain, to_num, ua)`},
		// issue 9 item 11: values of known keys are checked.
		{"listcalls", `{"zip":"maybe"}`, `listcalls: zip: invalid value "maybe" (valid: yes, no)`},
		{"listcalls", `{"zip":"1"}`, `listcalls: zip: invalid value "1" (valid: yes, no)`},
		{"listregisters", `{"zip":true}`, `listregisters: zip: invalid value "true" (valid: yes, no)`},
		{"listcalls", `{"filter":{"OR":"maybe","caller":"1"}}`, `listcalls: filter: OR: invalid value "maybe" (valid: 0, 1, false, true)`},
		{"listcalls", `{"filter":{"callerd_type":"bogus","caller":"1"}}`, `listcalls: filter: callerd_type: invalid value "bogus" (valid: 0, 1)`},
		{"listcalls", `{"filter":{"callerd_type":"bogus"}}`, `listcalls: filter: callerd_type: invalid value "bogus" (valid: 0, 1)`},
		{"listregisters", `{"filter":{"sipcallerdip_type":"2","sipcallerip":"10.0.0.1"}}`, `listregisters: filter: sipcallerdip_type: invalid value "2" (valid: 0, 1)`},
		{"active_call_info", `{"callreference":"0x1","zip":"maybe"}`, `active_call_info: zip: invalid value "maybe" (valid: yes, no)`},
		{"listregisters", `5`, "listregisters: args: want a string"},
		{"active_call_info", `{"callreference":"0x1","zipp":"yes"}`, `active_call_info: want {"callreference":"0x…"}`},
	}
	for _, tt := range tests {
		rep := runJSON(t, h, tt.cmd, tt.args)
		if rep.Code != CodeInvalid || !strings.HasPrefix(rep.Msg, tt.msg) {
			t.Errorf("%s %s: code %q msg %q; want invalid %q", tt.cmd, tt.args, rep.Code, rep.Msg, tt.msg)
		}
	}
	for _, tt := range []struct{ cmd, args string }{
		{"help", `"ping"`}, {"help", `{"command":"ping"}`}, {"help", `["ping"]`}, {"help", `null`},
		{"manager_file", `{"action":"stop"}`}, {"listcalls", `{"limit":2,"filter":{"caller":"1*","codec":""}}`},
		{"listcalls", `{"params":{"limit":"1"}}`}, {"listregisters", `{"states":"OK"}`},
		{"listcalls", `{"zip":"YES","filter":{"OR":1,"callerd_type":"0","caller":"1"}}`}, {"listcalls", `{"zip":"no","filter":{"OR":"false","callerd_type":"","caller":"1"}}`},
		{"listregisters", `{"zip":"","filter":{"OR":true,"sipcallerdip_type":1,"sipcallerip":"10.0.0.1"}}`},
	} {
		if rep := runJSON(t, h, tt.cmd, tt.args); rep.Failed() {
			t.Errorf("%s %s: %s", tt.cmd, tt.args, rep.Msg)
		}
	}
}

// TestEmptyListingWithoutCapture: a sensor with no capture source lists
// nothing, in VoIPmonitor's bytes for an idle sniffer (the header row
// only: 1031 and 501 bytes), instead of an error string.
func TestEmptyListingWithoutCapture(t *testing.T) {
	for _, tt := range []struct {
		line, head, tail string
		n                int
	}{
		{"listcalls", `[["callreference","callid",`, `"id_sensor","vlan"]]`, 1031},
		{"listregisters", `[["ID","id_sensor","fname",`, `"to_num_country_code"]]`, 501},
		{`listcalls {"limit":"5"}`, `[["callreference",`, `"vlan"],[{"total":0,"is_receiver":0,"is_server":0,"id_sensor":0}]]`, 0},
	} {
		rep := run(t, tt.line)
		if rep.Failed() || rep.Stream == nil {
			t.Fatalf("%s: %q %s", tt.line, rep.Body, rep.Msg)
		}
		var sb strings.Builder
		if err := rep.Stream(&sb); err != nil {
			t.Fatal(err)
		}
		got := sb.String()
		if !strings.HasPrefix(got, tt.head) || !strings.HasSuffix(got, tt.tail) || (tt.n > 0 && len(got) != tt.n) {
			t.Errorf("%s: %d bytes %.60q…%q", tt.line, len(got), got, got[max(0, len(got)-60):])
		}
	}
	h := stubHost{t: Default()}
	if rep := runJSON(t, h, "listcalls", `{"limit":1}`); rep.Failed() || rep.Stream == nil {
		t.Errorf("JSON listcalls: %s", rep.Msg)
	}
}

// oneCall returns a store holding one call, fed through the real SIP
// parser, and its callreference.
func oneCall(t *testing.T) (*state.Store, string) {
	t.Helper()
	st := state.New(state.Config{FirstRef: 0x55ec92a40000})
	ingestInvite(t, st, "zip-1@127.0.0.1")
	calls := st.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	return st, "0x" + strconv.FormatUint(calls[0].Ref, 16)
}

// ingestInvite feeds st an INVITE of a new call through the real SIP parser.
func ingestInvite(t *testing.T, st *state.Store, callID string) {
	t.Helper()
	raw := "INVITE sip:200@127.0.0.1:5070 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1\r\n" +
		"From: <sip:100@127.0.0.1:5060>;tag=a1\r\nTo: <sip:200@127.0.0.1:5070>\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	var m sip.Msg
	if err := sip.Parse([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	st.Ingest(&sip.Packet{TS: time.Now(), Src: netip.MustParseAddrPort("127.0.0.1:5060"),
		Dst: netip.MustParseAddrPort("127.0.0.1:5070"), VLAN: -1, Payload: []byte(raw)}, &m)
}

// TestQueuedListingPinsNoSnapshot (issue 9, item 3): a listing's reply
// takes its snapshot when it is written, not when the request runs. Replies
// queued behind others (many listcalls in one hardened frame, whose client
// does not read) then hold no copy of the table each: the listing written
// after the table changed shows the change.
func TestQueuedListingPinsNoSnapshot(t *testing.T) {
	st, _ := oneCall(t)
	h := stubHost{t: Default(), store: st}
	for _, json := range []bool{false, true} {
		var rep *Reply
		if json {
			rep = runJSON(t, h, "listcalls", "")
		} else {
			rep = &Reply{}
			Run(&Request{Cmd: h.t.Lookup([]byte("listcalls")), Server: h, Env: h.env()}, rep)
		}
		if rep.Failed() || rep.Stream == nil {
			t.Fatalf("listcalls (json %v): %s", json, rep.Msg)
		}
		ingestInvite(t, st, fmt.Sprintf("queued-%v@127.0.0.1", json))
		var sb strings.Builder
		if err := rep.Stream(&sb); err != nil {
			t.Fatal(err)
		}
		want := len(st.Calls())
		if got := strings.Count(sb.String(), "@127.0.0.1"); got != want {
			t.Errorf("listcalls (json %v) written after a call arrived lists %d calls, want %d: its snapshot was taken when the request ran", json, got, want)
		}
	}
}

// TestActiveCallInfoZip: "zip":"yes" gzips the reply as VoIPmonitor does
// (real gzip, "call not found" included); it used to be ignored.
func TestActiveCallInfoZip(t *testing.T) {
	st, ref := oneCall(t)
	tbl := Default()
	h := stubHost{t: tbl, store: st}
	c := tbl.Lookup([]byte("active_call_info"))
	do := func(args string) []byte {
		rep := &Reply{}
		Run(&Request{Cmd: c, Args: []byte(args), Server: h, Env: h.env()}, rep)
		return rep.Body
	}
	plain := do(ref)
	checkJSON(t, "active_call_info", plain)
	for _, tt := range []struct{ args, want string }{
		{`{"callreference":"` + ref + `","zip":"yes"}`, string(plain)},
		{`{"callreference": "` + ref + `", "zip": "yes"}`, string(plain)},
		{`{"callreference":"0x1","zip":"yes"}`, "call not found"},
	} {
		z := do(tt.args)
		if len(z) < 2 || z[0] != 0x1f || z[1] != 0x8b {
			t.Fatalf("%s: not gzip: %.40q", tt.args, z)
		}
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || string(got) != tt.want {
			t.Fatalf("%s: gunzip %q, %v; want %.60q", tt.args, got, err, tt.want)
		}
	}
	if got := do(`{"callreference":"` + ref + `"}`); !bytes.Equal(got, plain) {
		t.Fatalf("without zip: %.60q", got)
	}
	// A JSON session carries JSON: zip does not apply there.
	if rep := runJSON(t, h, "active_call_info", `{"callreference":"`+ref+`","zip":"yes"}`); rep.Failed() || !bytes.Equal(rep.Body, plain) {
		t.Fatalf("JSON session: %s %.60q", rep.Msg, rep.Body)
	}
}
