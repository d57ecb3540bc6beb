package state

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenNow is the listing clock of the golden files.
var goldenNow = t0.Add(42*time.Second + 500*ms)

// goldenStore builds a small, fixed population: a sipp call, a cancelled
// IPv6 call on VLAN 100, a call with hostile strings, an answered PBX call,
// and registrations in several states.
func goldenStore(t testing.TB) *Store {
	n := newWire(t, Config{IDSensor: 7, Registers: true, FirstRef: 0x55ec92a40000})
	d1 := sippDialog(1)
	d1.ua, d1.server = "sipp-uac", "sipp-uas"
	n.fullCall(d1, 0, 0)

	d2 := sippDialog(2)
	d2.caller = netip.MustParseAddrPort("[2001:db8::10]:5060")
	d2.callee = netip.MustParseAddrPort("[2001:db8::20]:5060")
	n.vlan = 100
	n.at(time.Second).fromCaller(d2, d2.request("INVITE", 1, false, sippSDP))
	n.at(2*time.Second).fromCallee(d2, d2.response(180, "Ringing", "INVITE", 1, false, ""))
	n.at(40*time.Second).fromCaller(d2, d2.request("CANCEL", 1, false, ""))
	n.vlan = -1

	hostile := "INVITE sip:+420555000111@pbx.example SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-h\r\n" +
		"From: \"Jiří \\\"JJ\\\" \xff\" <sip:+420123456789@pbx.example>;tag=h1\r\n" +
		"To: <sip:+420555000111@pbx.example>\r\n" +
		"Call-ID: weird\"id\\1@192.168.1.10\r\n" +
		"CSeq: 10 INVITE\r\n" +
		"User-Agent: Foo\tPhone <1.0> & co\r\n" +
		"Content-Length: 0\r\n\r\n"
	n.at(3*time.Second).send(netip.MustParseAddrPort("192.168.1.10:5060"),
		netip.MustParseAddrPort("192.168.1.1:5060"), hostile)

	d4 := sippDialog(4)
	d4.callID, d4.ua, d4.server = "a84b4c76e66710@10.0.0.5", "Yealink SIP-T46U", "Asterisk PBX 20.5.0"
	d4.caller = netip.MustParseAddrPort("10.0.0.5:5062")
	d4.callee = netip.MustParseAddrPort("10.0.0.1:5060")
	n.at(5*time.Second).fromCaller(d4, d4.request("INVITE", 1, false, sdpBody("10.0.0.5", 12000, 8)))
	n.at(5*time.Second+30*ms).fromCallee(d4, d4.response(183, "Session Progress", "INVITE", 1, false, ""))
	n.at(7*time.Second).fromCallee(d4, d4.response(200, "OK", "INVITE", 1, false, sdpBody("10.0.0.1", 18000, 8)))
	n.fromCaller(d4, d4.request("ACK", 1, false, ""))

	goldenRegisters(n)
	return n.s
}

func goldenRegisters(n *wire) {
	ok := newRegUA("1001")
	ok.auth, ok.ua = true, "Yealink SIP-T46U"
	n.okRegister(ok, 0, 1234*time.Microsecond, 3600)

	failed := newRegUA("1002")
	failed.addr = netip.MustParseAddrPort("[2001:db8::30]:5060")
	n.at(2*time.Second).regSend(failed, failed.register(600))
	n.at(2*time.Second+ms).regReply(failed, failed.reply(403, "Forbidden", -1))

	n.vlan = 20
	un := newRegUA("1003")
	un.ua = ""
	n.okRegister(un, 3*time.Second, 500*time.Microsecond, 0)
	n.vlan = -1
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	if !json.Valid(got) {
		t.Fatalf("%s: invalid JSON:\n%s", name, got)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\ngot  %s\nwant %s", name, got, want)
	}
}

func params(t *testing.T, raw string) ListParams {
	t.Helper()
	p, err := ParseListParams([]byte(raw))
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	p.Now, p.Location = goldenNow, time.UTC
	return p
}

func TestGoldenListings(t *testing.T) {
	s := goldenStore(t)
	calls, regs := s.Calls(), s.Registers()
	type writer func(io.Writer, ListParams) error
	listCalls := func(w io.Writer, p ListParams) error { return WriteListCalls(w, calls, p, 7) }
	listRegs := func(w io.Writer, p ListParams) error { return WriteListRegisters(w, regs, p, 7) }
	callObjs := func(w io.Writer, p ListParams) error { return WriteCallObjects(w, calls, p, 7) }
	regObjs := func(w io.Writer, p ListParams) error { return WriteRegisterObjects(w, regs, p, 7) }
	noRegs := func(w io.Writer, p ListParams) error { return WriteListRegisters(w, nil, p, 7) }
	tests := []struct {
		file   string
		write  writer
		params string
	}{
		{"listcalls.json", listCalls, ""},
		{"listcalls_limit_sort.json", listCalls, `{"limit":"2","sort_field":"caller","sort_dir":"asc"}`},
		{"listcalls_filter.json", listCalls, `{"filter":[{"sipcallerip":"2001:db8::/64","OR":"1","caller":"sipp"}]}`},
		{"listcalls_limit0.json", listCalls, `{"limit":0}`},
		{"listcalls_empty_params.json", func(w io.Writer, p ListParams) error {
			return WriteListCalls(w, nil, p, 7)
		}, `{}`},
		{"listregisters.json", listRegs, ""},
		{"listregisters_states.json", listRegs, `{"states":"Failed,Unregister","sort_field":"ID","sort_dir":"desc"}`},
		{"listregisters_empty.json", noRegs, ""},
		{"calls_objects.json", callObjs, ""},
		{"calls_objects_fields.json", callObjs,
			`{"fields":["callreference","callid","caller","duration","calledcodec"],"offset":1,"limit":2}`},
		{"registers_objects.json", regObjs, `{"fields":"ID,to_num,state,rrd_avg,vlan"}`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var b bytes.Buffer
			p := ListParams{Now: goldenNow, Location: time.UTC}
			if tt.params != "" {
				p = params(t, tt.params)
			}
			if err := tt.write(&b, p); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.file, b.Bytes())
		})
	}
}

func TestGoldenCallInfo(t *testing.T) {
	s := goldenStore(t)
	for _, c := range s.Calls() {
		if c.CallID == "1-29971@127.0.0.1" {
			c, msgs, _ := s.Call(c.Ref)
			golden(t, "callinfo.json", AppendCallInfo(nil, c, msgs, 7))
			return
		}
	}
	t.Fatal("call 1 not found")
}

// TestObjectsMatchRows: the object form and the array form give each
// column the same bytes.
func TestObjectsMatchRows(t *testing.T) {
	s := goldenStore(t)
	p := ListParams{Now: goldenNow, Location: time.UTC}
	var arr, obj bytes.Buffer
	if err := WriteListCalls(&arr, s.Calls(), p, 7); err != nil {
		t.Fatal(err)
	}
	if err := WriteCallObjects(&obj, s.Calls(), p, 7); err != nil {
		t.Fatal(err)
	}
	compareForms(t, arr.Bytes(), obj.Bytes(), callColumns[:], 1)
	arr.Reset()
	obj.Reset()
	if err := WriteListRegisters(&arr, s.Registers(), p, 7); err != nil {
		t.Fatal(err)
	}
	if err := WriteRegisterObjects(&obj, s.Registers(), p, 7); err != nil {
		t.Fatal(err)
	}
	compareForms(t, arr.Bytes(), obj.Bytes(), registerColumns[:], 2)
}

func compareForms(t *testing.T, arr, obj []byte, cols []string, skip int) {
	t.Helper()
	rows := elements(t, arr)[skip:]
	var o struct {
		Total int
		Rows  []map[string]json.RawMessage
	}
	if err := json.Unmarshal(obj, &o); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(o.Rows) || o.Total != len(rows) {
		t.Fatalf("%d rows vs %d objects (total %d)", len(rows), len(o.Rows), o.Total)
	}
	for i, r := range rows {
		vals := elements(t, r)
		for j, col := range cols {
			if !bytes.Equal(vals[j], o.Rows[i][col]) {
				t.Errorf("row %d %s: array %s, object %s", i, col, vals[j], o.Rows[i][col])
			}
		}
	}
}
