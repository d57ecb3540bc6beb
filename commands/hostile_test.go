package commands

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"tapline/jsonobj"
	"tapline/sip"
	"tapline/state"
)

// hostile are the texts a client or a SIP peer may send: quotes,
// backslashes, control bytes, invalid UTF-8 (a lone continuation byte, a
// surrogate, a cut sequence), a plane-15 rune, and (the last) a megabyte
// string of all of them.
var hostile = []string{
	`q"uote`, `back\slash\`, "ctl\x00\x01\x08\x1b\x1f\x7f\t\r", "bad\xff\xfe\x80utf8\xc3",
	"\xed\xa0\x80surrogate", "\U000f0000plane15", "<html>&\u2028\u2029",
	strings.Repeat("A\"\\\x01\xff\xed\xa0\x80 ", 1<<20/9),
}

// small is hostile without the megabyte string.
var small = hostile[:len(hostile)-1]

// sipSafe makes s usable inside one SIP header: the parser ends a header
// at CR or LF, so those become spaces (everything else goes through).
func sipSafe(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// sipQuoted is s as a SIP quoted-string's contents (a display name).
func sipQuoted(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// ingestRaw feeds st one SIP message through the real parser.
func ingestRaw(t *testing.T, st *state.Store, raw string, from, to string) {
	t.Helper()
	var m sip.Msg
	if err := sip.Parse([]byte(raw), &m); err != nil {
		t.Fatalf("parse %.80q: %v", raw, err)
	}
	st.Ingest(&sip.Packet{TS: time.Now(), Src: netip.MustParseAddrPort(from),
		Dst: netip.MustParseAddrPort(to), VLAN: -1, Payload: []byte(raw)}, &m)
}

// hostileStore holds a call and a registration for each hostile text, in
// its From display name and user, its To user and its User-Agent.
func hostileStore(t *testing.T) (*state.Store, []string) {
	t.Helper()
	st := state.New(state.Config{FirstRef: 0x55ec92a40000, Registers: true})
	const a, b = "127.0.0.1:5060", "127.0.0.1:5070"
	for i, h := range hostile {
		h = sipSafe(h)
		n := strconv.Itoa(i)
		head := "Via: SIP/2.0/UDP " + a + ";branch=z9hG4bK-" + n + "\r\n" +
			"From: \"" + sipQuoted(h) + "\" <sip:" + h + "@127.0.0.1>;tag=t" + n + "\r\n" +
			"To: <sip:" + h + "@127.0.0.1>\r\nCall-ID: hostile-" + n + "@127.0.0.1\r\n"
		ingestRaw(t, st, "INVITE sip:"+n+"@127.0.0.1 SIP/2.0\r\n"+head+"CSeq: 1 INVITE\r\nUser-Agent: "+h+
			"\r\nContent-Length: 0\r\n\r\n", a, b)
		reg := strings.Replace(head, "hostile-", "reg-", 1)
		ingestRaw(t, st, "REGISTER sip:127.0.0.1 SIP/2.0\r\n"+reg+"CSeq: 1 REGISTER\r\nContact: <sip:"+h+
			"@127.0.0.1:5060>;expires=60\r\nUser-Agent: "+h+"\r\nContent-Length: 0\r\n\r\n", a, b)
		ingestRaw(t, st, "SIP/2.0 200 OK\r\n"+reg+"CSeq: 1 REGISTER\r\nContact: <sip:"+h+
			"@127.0.0.1:5060>;expires=60\r\nContent-Length: 0\r\n\r\n", b, a)
	}
	c := st.Counts()
	if c.Calls != len(hostile) || c.Registers == 0 {
		t.Fatalf("store holds %d calls, %d registrations; want %d calls and some", c.Calls, c.Registers, len(hostile))
	}
	var refs []string
	for _, call := range st.Calls() {
		refs = append(refs, "0x"+strconv.FormatUint(call.Ref, 16))
	}
	return st, refs
}

// hostileHost is a server whose listeners and clients carry the texts
// as names, beside an Env whose key status does.
func hostileHost(st *state.Store, texts []string) (stubHost, *Env) {
	h := stubHost{t: Default()}
	for i, s := range texts {
		h.listeners = append(h.listeners, "unix "+s)
		h.clients = append(h.clients, ClientInfo{ID: uint64(i), Peer: s, Listener: small[i%len(small)],
			Mode: small[(i+1)%len(small)], State: small[(i+2)%len(small)]})
	}
	last := texts[len(texts)-1]
	env := &Env{Store: st, IDSensor: 7,
		Keys: func() KeyStatus {
			return KeyStatus{Source: "redis", State: hostile[0], Fingerprint: hostile[3], LoadedAt: time.Now(),
				LastError: last, Reason: hostile[2], StateError: hostile[4]}
		},
		Capture: func() CaptureStats {
			return CaptureStats{Drops: 3, Counters: []Counter{{hostile[0], 1}, {hostile[3], 2}}}
		},
	}
	return h, env
}

// textArgs are the text-mode argument lines every command is run with:
// well-formed ones, then each text in each place a command reads one (the
// megabyte string in the first only, to keep the run short: under -race
// each megabyte costs).
func textArgs(refs []string) (plain, hostileArgs []string) {
	plain = []string{"", "plain", "start", "stop", "0", refs[0], `{"limit":"3"}`, `{"zip":"yes"}`,
		`{"callreference":"` + refs[1] + `","zip":"yes"}`, `{"callreference":"` + refs[2] + `"}`}
	for i, h := range hostile {
		forms := []string{h, "start /tmp/" + h, `{"filter":{"caller":"` + h + `"}}`, `{"sort_field":"` + h + `"}`}
		hostileArgs = append(hostileArgs, forms[:map[bool]int{true: 1, false: len(forms)}[i == len(small)]]...)
	}
	return plain, hostileArgs
}

// jsonArgs are the JSON-session "args" values, as textArgs: valid JSON
// (the server validated the request), hostile inside.
func jsonArgs(refs []string) (plain, hostileArgs []string) {
	q := func(s string) string { return string(jsonobj.AppendStringS(nil, s)) }
	plain = []string{"", "null", `"plain"`, `["start"]`, `{"limit":2,"fields":["callreference","caller"]}`,
		`{"callreference":"` + refs[0] + `"}`, `[` + q(refs[1]) + `]`, `{"params":{"limit":"1"}}`}
	for i, h := range hostile {
		forms := []string{q(h), "[" + q("start") + "," + q("/tmp/"+h) + "]", "{" + q(h) + ":1}",
			`{"command":` + q(h) + `}`, `{"filter":{"caller":` + q(h) + `}}`, `{"sort_field":` + q(h) + `,"limit":1}`,
			`{"callreference":` + q(h) + `}`, "[" + q(h) + "," + q(h) + "," + q(h) + "]"}
		hostileArgs = append(hostileArgs, forms[:map[bool]int{true: 1, false: len(forms)}[i == len(small)]]...)
	}
	return plain, hostileArgs
}

// TestEveryCommandHostile runs every command of the table, hidden test
// commands included, in text and JSON modes, with hostile arguments, on a
// server and a sensor whose names and SIP fields are hostile: every reply
// of kind JSON is valid JSON in valid UTF-8, as is every error message a
// JSON session quotes.
func TestEveryCommandHostile(t *testing.T) {
	st, refs := hostileStore(t)
	// Every argument against small hostile names; no arguments (or "plain")
	// against megabyte names too (each such reply is megabytes to check).
	names, huge := hostileHost(st, small)
	namesHuge, hugeEnv := hostileHost(st, hostile)
	textPlain, textHostile := textArgs(refs)
	jsonPlain, jsonHostile := jsonArgs(refs)
	type run struct {
		json bool
		args []string
		h    stubHost
		env  *Env
	}
	runs := []run{{false, append(textPlain, textHostile...), names, huge}, {true, append(jsonPlain, jsonHostile...), names, huge},
		{false, textPlain[:2], namesHuge, hugeEnv}, {true, jsonPlain[:3], namesHuge, hugeEnv}}
	ran := map[string]int{}
	for _, c := range names.t.list {
		for _, r := range runs {
			for _, args := range r.args {
				req := &Request{Cmd: c, Args: []byte(args), JSON: r.json, Server: r.h, Env: r.env, Ctx: t.Context()}
				rep := &Reply{}
				Run(req, rep)
				checkReply(t, c.Name, r.json, args, rep)
				ran[c.Name+map[bool]string{false: " text", true: " json"}[r.json]]++
			}
		}
	}
	for _, c := range names.t.list {
		for _, mode := range []string{" text", " json"} {
			if ran[c.Name+mode] == 0 {
				t.Errorf("%s%s was not run", c.Name, mode)
			}
		}
	}
}

// checkReply fails unless rep's JSON (its body or its stream, gunzipped
// when gzip) is valid, and its error text survives JSON quoting.
func checkReply(t *testing.T, name string, jsonMode bool, args string, rep *Reply) {
	t.Helper()
	what := name + " " + clipArgs(args)
	if rep.Failed() || rep.Kind != JSON {
		if q := jsonobj.AppendStringS(nil, rep.Msg); !json.Valid(q) {
			t.Errorf("%s (json %v): error message not quotable: %q", what, jsonMode, q)
		}
		return
	}
	b := rep.Body
	if rep.Stream != nil {
		var out bytes.Buffer
		if err := rep.Stream(&out); err != nil {
			t.Errorf("%s (json %v): stream: %v", what, jsonMode, err)
			return
		}
		b = out.Bytes()
	}
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err == nil {
			b, err = io.ReadAll(zr)
		}
		if err != nil {
			t.Errorf("%s (json %v): gunzip: %v", what, jsonMode, err)
			return
		}
	}
	if !json.Valid(b) || !utf8.Valid(b) {
		t.Errorf("%s (json %v): not valid JSON in UTF-8: %q", what, jsonMode, b[:min(len(b), 300)])
	}
}

func clipArgs(s string) string {
	if len(s) > 60 {
		return strconv.Quote(s[:60]) + "…"
	}
	return strconv.Quote(s)
}
