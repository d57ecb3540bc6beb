package commands

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"tapline/state"
)

var update = flag.Bool("update", false, "rewrite docs/COMMANDS.md from the command table")

// stubHost is a real Server over fixed data, and the Env beside it:
// handlers only read from them.
type stubHost struct {
	t         *Table
	listeners []string
	clients   []ClientInfo
	store     *state.Store
}

func (h stubHost) Table() *Table { return h.t }
func (h stubHost) Stats() Stats {
	return Stats{Started: time.Now().Add(-3 * time.Second), ConnsOpen: 2, ConnsTotal: 5, Requests: make([]int64, h.t.Len()),
		Listeners: h.listeners}
}
func (h stubHost) Clients() []ClientInfo                             { return h.clients }
func (h stubHost) ManagerFileStart(string, ConnInfo) (string, error) { return "OK (x)\n", nil }
func (h stubHost) ManagerFileStop(ConnInfo) (string, error)          { return "not running\n", nil }
func (h stubHost) Allowlist(string, string) (AllowlistState, error) {
	return AllowlistState{Store: "memory"}, nil
}
func (h stubHost) ReloadAccess() (ReloadResult, error) { return ReloadResult{}, nil }
func (h stubHost) Auth([]byte, ConnInfo) (AuthResult, error) {
	return AuthResult{}, errors.New("no tokens")
}

// env is the Env of a sensor with h's store (nil: no capture source).
func (h stubHost) env() *Env { return &Env{Store: h.store} }

func run(t *testing.T, line string) *Reply {
	t.Helper()
	tbl := Default()
	name, args := Split([]byte(line))
	rep := &Reply{}
	c := tbl.Lookup(name)
	if c == nil {
		NotFound(rep)
		return rep
	}
	Run(&Request{Cmd: c, Args: args, Server: stubHost{t: tbl}}, rep)
	return rep
}

func TestSplit(t *testing.T) {
	tests := []struct{ in, name, args string }{
		{"ping", "ping", ""},
		{"  help   ping  ", "help", "ping"},
		{"manager_file start /tmp/a b", "manager_file", "start /tmp/a b"},
		{"\tsniffer_stat\tplain", "sniffer_stat", "plain"},
		{"", "", ""},
	}
	for _, tt := range tests {
		n, a := Split([]byte(tt.in))
		if string(n) != tt.name || string(a) != tt.args {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tt.in, n, a, tt.name, tt.args)
		}
	}
}

func TestArgs(t *testing.T) {
	cmd := &Command{Name: "x", Params: []Param{{Name: "action"}, {Name: "path", Rest: true}}}
	tests := []struct {
		args string
		json bool
		a0   string
		a1   string
	}{
		{"start /tmp/my socket", false, "start", "/tmp/my socket"},
		{"  stop ", false, "stop", ""},
		{`"start /tmp/s"`, true, "start", "/tmp/s"},
		{`["start","/tmp/s"]`, true, "start", "/tmp/s"},
		{`{"action":"start","path":"/tmp/s"}`, true, "start", "/tmp/s"},
		{`{"action":7}`, true, "7", ""},
		{`null`, true, "", ""},
		{`"  start   /tmp/my socket  "`, true, "start", "/tmp/my socket"},
		{`"start /tmp/q\"uote"`, true, "start", `/tmp/q"uote`},
		{`["st\u0061rt","/tmp/\\s"]`, true, "start", `/tmp/\s`},
		{`["start",null]`, true, "start", ""},
		{`[{"a":1},[2]]`, true, `{"a":1}`, "[2]"},
		{`{"path":"/p","action":"start","action":"stop"}`, true, "start", "/p"},
		{`{"action":null,"action":"stop"}`, true, "", ""},
		{`{"\u0061ction":"start"}`, true, "start", ""},
	}
	for _, tt := range tests {
		r := &Request{Cmd: cmd, Args: []byte(tt.args), JSON: tt.json}
		if a0, a1 := string(r.Arg(0)), string(r.Arg(1)); a0 != tt.a0 || a1 != tt.a1 {
			t.Errorf("args %s: Arg(0)=%q Arg(1)=%q; want %q %q", tt.args, a0, a1, tt.a0, tt.a1)
		}
	}
}

func TestReplies(t *testing.T) {
	tests := []struct{ line, want string }{
		{"ping", "pong\n"},
		{"getversion", "2026.11.0"},
		{"nosuch", "command not found\n"},
		{"help nosuch", "command not found\n"},
		{"manager_file", "error: usage: manager_file start [path] | manager_file stop\n"},
		{"manager_file stop", "not running\n"},
		{"clients", "[]\n"},
	}
	for _, tt := range tests {
		if got := string(run(t, tt.line).Body); got != tt.want {
			t.Errorf("%q → %q; want %q", tt.line, got, tt.want)
		}
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	body := string(run(t, "help").Body)
	if !strings.HasPrefix(body, "List of commands:\n\n") {
		t.Fatalf("help does not start like VoIPmonitor's: %q", body[:min(40, len(body))])
	}
	for _, c := range Default().sorted() {
		if !strings.Contains(body, "\n"+c.Name+" ... ") {
			t.Errorf("help misses %s", c.Name)
		}
	}
	one := string(run(t, "help sniffer_stat").Body)
	if !strings.Contains(one, "usage: sniffer_stat [format]") || !strings.Contains(one, "access: limited_read") {
		t.Errorf("help sniffer_stat = %q", one)
	}
}

func TestSnifferStat(t *testing.T) {
	rep := run(t, "sniffer_stat")
	b := rep.Body
	if rep.Kind != JSON || !bytes.HasPrefix(b, []byte(`{"version": "`)) || !bytes.HasSuffix(b, []byte("}\n")) {
		t.Fatalf("sniffer_stat shape: %s", b)
	}
	for _, k := range []string{`"uptime": "3"`, `"pbCountPacketDrop": "0"`, `"connections_open":2`, `"rss_bytes":`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("sniffer_stat lacks %s: %s", k, b)
		}
	}
	plain := string(run(t, "sniffer_stat plain").Body)
	if !strings.Contains(plain, "\nuptime=3\n") || !strings.Contains(plain, "connections_total=5\n") {
		t.Errorf("sniffer_stat plain = %q", plain)
	}
}

func TestPanicBecomesError(t *testing.T) {
	c := &Command{Name: "boom", Handler: func(*Request, *Reply) { panic("x") }}
	rep := &Reply{}
	Run(&Request{Cmd: c}, rep)
	if rep.Code != CodeFailed {
		t.Fatalf("panic not turned into failed reply: %+v", rep)
	}
}

func TestRegisterRejectsDuplicates(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("duplicate registration did not panic")
		}
	}()
	tbl := newTable()
	tbl.Register(Command{Name: "a", Level: LimitedRead, Handler: ping})
	tbl.Register(Command{Name: "a", Level: LimitedRead, Handler: ping})
}

// TestRegisterRejectsNoLevel: a command without a level cannot be
// registered, so every command in the table has one.
func TestRegisterRejectsNoLevel(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a command without a level was registered")
		}
	}()
	newTable().Register(Command{Name: "a", Handler: ping})
}

func TestCommandsDoc(t *testing.T) {
	const path = "../docs/COMMANDS.md"
	want := markdown(Default())
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (run make docs)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `make docs`", path)
	}
}

// FuzzJSONArgs: any args value must be answered without a panic.
func FuzzJSONArgs(f *testing.F) {
	for _, s := range []string{`"a b"`, `["x",1,null]`, `{"action":"start"}`, `[`, `{"a":`, `"\u0000"`} {
		f.Add([]byte(s), uint8(1))
	}
	cmd := &Command{Name: "x", Params: []Param{{Name: "action"}, {Name: "path", Rest: true}, {Name: "z"}}}
	f.Fuzz(func(t *testing.T, args []byte, i uint8) {
		r := &Request{Cmd: cmd, Args: args, JSON: true}
		_ = r.Arg(int(i % 5))
		r.JSON = false
		_ = r.Arg(int(i % 5))
	})
}

func BenchmarkDispatchPing(b *testing.B) {
	tbl := Default()
	line := []byte("ping")
	req := &Request{Server: stubHost{t: tbl}}
	rep := &Reply{Body: make([]byte, 0, 64)}
	b.ReportAllocs()
	for b.Loop() {
		name, args := Split(line)
		rep.Reset()
		req.Cmd = tbl.Lookup(name)
		req.Args = args
		Run(req, rep)
	}
}

// BenchmarkArgs: a request's arguments are split once (as Run does) and
// read by position, without allocating, in each form they come in.
func BenchmarkArgs(b *testing.B) {
	cmd := &Command{Name: "x", Params: []Param{{Name: "action"}, {Name: "path", Rest: true}}}
	for _, bc := range []struct {
		name, args string
		json       bool
	}{
		{"text", "start /run/tapline.sock", false},
		{"json-string", `"start /run/tapline.sock"`, true},
		{"json-array", `["start","/run/tapline.sock"]`, true},
		{"json-object", `{"action":"start","path":"/run/tapline.sock"}`, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := &Request{Cmd: cmd, Args: []byte(bc.args), JSON: bc.json}
			b.ReportAllocs()
			for b.Loop() {
				r.splitArgs()
				if len(r.Arg(0)) != 5 || len(r.Arg(1)) != 17 {
					b.Fatal("bad split")
				}
			}
		})
	}
}
