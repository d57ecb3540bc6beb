package state

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The real sniffer's replies (VoIPmonitor 2026.04.0 with sipp traffic) live
// outside the module; the tests skip when they are absent.
const sampleDir = "../../shared/reference/voipmonitor-samples"

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sampleDir, name))
	if err != nil {
		t.Skipf("VoIPmonitor sample %s not available (%v): skipping the comparison with the real sniffer", name, err)
	}
	return b
}

// elements splits a JSON array into its raw elements, byte for byte.
func elements(t *testing.T, b []byte) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("not a JSON array: %v\n%.300s", err, b)
	}
	return out
}

// Columns whose values differ from the sample by design: the reference is
// a pointer in VoIPmonitor and a counter here; VoIPmonitor fills the RTP
// columns from RTP packets (none with sipp, and calledcodec is then
// uninitialised memory), we from the SDP offer/answer.
var sampleDiffers = map[string]string{
	"callreference": "string", "rtp_src": "number", "rtp_dst": "number",
	"callercodec": "number", "calledcodec": "number",
}

func TestListCallsMatchesSample(t *testing.T) {
	sample := elements(t, readSample(t, "listcalls_unix_active.json"))
	if len(sample) != 201 {
		t.Fatalf("sample has %d elements", len(sample))
	}
	var header []string
	if err := json.Unmarshal(sample[0], &header); err != nil || !slices.Equal(header, CallColumns()) {
		t.Fatalf("header differs:\n%s\n%q", sample[0], CallColumns())
	}
	// The sample's two newest calls: 199 answered, 200 just sent its INVITE.
	n := newWire(t, Config{IDSensor: 1})
	start := time.Duration(1795449593-t0.Unix())*time.Second + 100*ms
	n.fullCall(sippDialog(199), start, 0)
	n.at(start+50*ms).fromCaller(sippDialog(200), sippDialog(200).request("INVITE", 1, false, sippSDP))
	var out bytes.Buffer
	now := time.Unix(1795449594, int64(300*ms))
	if err := WriteListCalls(&out, n.s.Calls(), ListParams{Now: now, Location: time.UTC}, 1); err != nil {
		t.Fatal(err)
	}
	ours := elements(t, out.Bytes())
	if len(ours) != 3 || !bytes.Equal(ours[0], sample[0]) {
		t.Fatalf("structure: %d elements, header %s", len(ours), ours[0])
	}
	for i := 1; i <= 2; i++ {
		compareRow(t, header, elements(t, ours[i]), elements(t, sample[i]))
	}
}

func compareRow(t *testing.T, cols []string, ours, theirs []json.RawMessage) {
	t.Helper()
	if len(ours) != len(cols) || len(theirs) != len(cols) {
		t.Fatalf("row lengths %d, %d; header %d", len(ours), len(theirs), len(cols))
	}
	for i, col := range cols {
		if kind, ok := sampleDiffers[col]; ok && !bytes.Equal(ours[i], theirs[i]) {
			if jsonKind(ours[i]) != kind {
				t.Errorf("%s: %s, want a %s", col, ours[i], kind)
			}
			continue
		}
		if !bytes.Equal(ours[i], theirs[i]) {
			t.Errorf("%s: ours %s, sample %s", col, ours[i], theirs[i])
		}
	}
}

func jsonKind(v json.RawMessage) string {
	switch c := v[0]; {
	case c == '"':
		return "string"
	case c == 'n':
		return "null"
	case c == 't' || c == 'f':
		return "bool"
	case c == '[' || c == '{':
		return "container"
	}
	return "number"
}

// TestListCallsSampleShape lists as many sipp calls as the sample and
// checks every row's column kinds against it.
func TestListCallsSampleShape(t *testing.T) {
	sample := elements(t, readSample(t, "listcalls_unix_active.json"))
	n := newWire(t, Config{IDSensor: 1})
	for i := 1; i <= 200; i++ {
		n.fullCall(sippDialog(i), time.Duration(i)*50*ms, 0)
	}
	var out bytes.Buffer
	if err := WriteListCalls(&out, n.s.Calls(), ListParams{}, 1); err != nil {
		t.Fatal(err)
	}
	ours := elements(t, out.Bytes())
	if len(ours) != len(sample) {
		t.Fatalf("%d elements, sample %d", len(ours), len(sample))
	}
	for i := 1; i < len(ours); i++ {
		o, s := elements(t, ours[i]), elements(t, sample[i])
		for j, col := range callColumns {
			if k, ok := sampleDiffers[col]; ok && jsonKind(o[j]) == k {
				continue
			}
			if jsonKind(o[j]) != jsonKind(s[j]) {
				t.Fatalf("row %d %s: %s vs sample %s", i, col, o[j], s[j])
			}
		}
	}
	if !bytes.HasSuffix(out.Bytes(), []byte(",1,65534]]")) {
		t.Fatalf("ending %q", out.Bytes()[out.Len()-20:])
	}
}

// TestListRegistersMatchesSample replays traffic equivalent to the
// sample's 50 registrations (47 OK, 2 failed after an expired binding, one
// flooding) and expects VoIPmonitor's reply byte for byte.
func TestListRegistersMatchesSample(t *testing.T) {
	raw := readSample(t, "listregisters_unix.json")
	sample := elements(t, raw)
	type row struct {
		user    string
		at      time.Time
		state   int
		rrd     time.Duration
		expires int
	}
	var rows []row
	for _, e := range sample[2:] {
		var v []any
		if err := json.Unmarshal(e, &v); err != nil {
			t.Fatal(err)
		}
		at, err := time.ParseInLocation(time.DateTime, v[3].(string), time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row{v[12].(string), at, int(v[23].(float64)),
			time.Duration(v[25].(float64)*1e6+0.5) * time.Nanosecond, int(v[21].(float64))})
	}
	// Keys are created in ID order (user1…user50), as sipp registered them.
	slices.SortFunc(rows, func(a, b row) int { return num(a.user) - num(b.user) })
	n := newWire(t, Config{IDSensor: 1, Registers: true})
	base := rows[0].at.Add(-3 * time.Minute)
	uas := map[string]*regUA{}
	for i, r := range rows {
		u := newRegUA(r.user)
		uas[r.user] = u
		exp := r.expires
		if r.state == int(RegFailed) {
			exp = 10 // expires before its failed refresh
		}
		n.okRegister(u, base.Add(time.Duration(i)*10*ms).Sub(t0), r.rrd, exp)
	}
	n.s.Advance(base.Add(time.Minute))
	var later []row
	for _, r := range rows {
		u := uas[r.user]
		switch RegState(r.state) {
		case RegFailed:
			later = append(later, r)
		case RegManyRegMessages:
			for k := 10; k >= 0; k-- {
				n.okRegister(u, r.at.Add(-time.Duration(k)*900*ms).Sub(t0), r.rrd, r.expires)
			}
		}
	}
	for _, r := range rows {
		if r.state == int(RegOK) {
			later = append(later, r)
		}
	}
	slices.SortStableFunc(later, func(a, b row) int { return a.at.Compare(b.at) })
	for _, r := range later {
		u, at := uas[r.user], r.at.Add(400*ms).Sub(t0)
		if r.state == int(RegOK) {
			n.okRegister(u, at-r.rrd, r.rrd, r.expires)
			continue
		}
		n.at(at).regSend(u, u.register(r.expires))
		n.at(at+ms).regReply(u, u.reply(403, "Forbidden", -1))
	}
	var out bytes.Buffer
	if err := WriteListRegisters(&out, n.s.Registers(), ListParams{Location: time.UTC}, 1); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), raw) {
		diffRows(t, elements(t, out.Bytes()), sample)
	}
}

func num(user string) int {
	n := 0
	for _, c := range strings.TrimPrefix(user, "user") {
		n = n*10 + int(c-'0')
	}
	return n
}

func diffRows(t *testing.T, ours, sample []json.RawMessage) {
	t.Helper()
	if len(ours) != len(sample) {
		t.Fatalf("%d elements, sample %d", len(ours), len(sample))
	}
	for i := range ours {
		if !bytes.Equal(ours[i], sample[i]) {
			t.Errorf("element %d:\nours   %s\nsample %s", i, ours[i], sample[i])
		}
	}
	t.Fatal("output differs from the sample")
}
