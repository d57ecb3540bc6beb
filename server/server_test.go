package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tapline/access"
	"tapline/clients"
	"tapline/commands"
	"tapline/config"
	"tapline/jsonobj"
	"tapline/keyring"
)

// startServer runs a real server (real gnet engines, loopback) in-process.
func startServer(t testing.TB, mutate func(*config.Config)) (*Server, string, string) {
	t.Helper()
	return startServerTable(t, commands.Default(), mutate)
}

// startServerTable is startServer with a command table of the test's own.
func startServerTable(t testing.TB, table *commands.Table, mutate func(*config.Config)) (*Server, string, string) {
	t.Helper()
	return startServerWith(t, table, nil, mutate, nil)
}

// startServerWith is the one test server constructor: a free loopback port
// and a socket in a temporary directory, mutate applied to that config,
// keys (may be nil) handed to New, setup run on the server before it starts.
func startServerWith(t testing.TB, table *commands.Table, keys *keyring.Ring, mutate func(*config.Config), setup func(*Server)) (*Server, string, string) {
	t.Helper()
	cfg := config.Default()
	cfg.ManagerPort = freePort(t)
	cfg.ManagerSocket = filepath.Join(t.TempDir(), "m.sock")
	if mutate != nil {
		mutate(&cfg)
	}
	s := New(cfg, table, keys, nil)
	if setup != nil {
		setup(s)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s, fmt.Sprintf("127.0.0.1:%d", cfg.ManagerPort), cfg.ManagerSocket
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func do(t testing.TB, network, addr, line string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := clients.Do(ctx, network, addr, line)
	if err != nil {
		t.Fatalf("%s %q: %v", network, line, err)
	}
	return string(b)
}

func TestTextRequests(t *testing.T) {
	_, tcp, sock := startServer(t, nil)
	for _, tt := range []struct{ line, want string }{
		{"ping", "pong\n"},
		{"getversion", "2026.11.0"},
		{"foobar", "command not found\n"},
		{"", "command not found\n"},
	} {
		for _, tr := range [][2]string{{"tcp", tcp}, {"unix", sock}} {
			if got := do(t, tr[0], tr[1], tt.line); got != tt.want {
				t.Errorf("%s %q = %q, want %q", tr[0], tt.line, got, tt.want)
			}
		}
	}
}

// TestRequestTerminators sends each framing VoIPmonitor clients use, without
// half-closing, and expects the reply at once (no 500 ms wait for more).
func TestRequestTerminators(t *testing.T) {
	_, tcp, _ := startServer(t, nil)
	for _, req := range []string{"ping\n", "ping\r\n", "ping\r\n\r\n", "ping\nignored trailing junk"} {
		c, err := net.Dial("tcp", tcp)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(c)
		c.Close()
		if err != nil || buf.String() != "pong\n" {
			t.Errorf("request %q: reply %q, err %v", req, buf.String(), err)
		}
	}
}

func TestJSONSession(t *testing.T) {
	_, tcp, _ := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := clients.Open(ctx, "tcp", tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cases := []struct {
		cmd    string
		args   any
		result string
		code   string
	}{
		{"ping", nil, `"pong"`, ""},
		{"help ping", nil, "", ""},
		{"help", map[string]string{"command": "getversion"}, "", ""},
		{"nosuch", nil, "", "unknown_command"},
		{"manager_file", []string{"bogus"}, "", "unauthenticated"}, // above manager_plain_level: refused before its args are read
	}
	for _, tc := range cases {
		r, err := s.Call(ctx, tc.cmd, tc.args)
		if err != nil {
			t.Fatalf("%s: %v", tc.cmd, err)
		}
		if r.Code != tc.code || (tc.result != "" && string(r.Result) != tc.result) {
			t.Errorf("%s: result %s code %q error %q; want %s %q", tc.cmd, r.Result, r.Code, r.Error, tc.result, tc.code)
		}
	}
	r, err := s.Call(ctx, "sniffer_stat", nil)
	if err != nil || !json.Valid(r.Result) {
		t.Fatalf("sniffer_stat result is not JSON: %s (%v)", r.Result, err)
	}
	if _, err := s.Conn().Write([]byte("not json\n")); err != nil {
		t.Fatal(err)
	}
	r, err = s.Recv()
	if err != nil || r.Code != "invalid" || string(r.ID) != "null" {
		t.Fatalf("invalid JSON: %+v %v", r, err)
	}
	r, err = s.Call(ctx, "quit", nil)
	if err != nil || string(r.Result) != `"bye"` {
		t.Fatalf("quit: %+v %v", r, err)
	}
	if _, err := s.Recv(); err == nil {
		t.Fatal("session still open after quit")
	}
}

func TestClientsListsConnections(t *testing.T) {
	_, tcp, _ := startServer(t, nil)
	idle, err := net.Dial("tcp", tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(50 * time.Millisecond)
	var list []commands.ClientInfo
	if err := json.Unmarshal([]byte(do(t, "tcp", tcp, "clients")), &list); err != nil {
		t.Fatal(err)
	}
	states := map[string]bool{}
	for _, c := range list {
		states[c.State] = true
		if c.Listener != "tcp" || !strings.HasPrefix(c.Peer, "127.0.0.1:") {
			t.Errorf("bad entry %+v", c)
		}
	}
	if len(list) != 2 || !states["reading"] || !states["busy"] {
		t.Fatalf("clients = %+v; want the idle connection and the asking one", list)
	}
}

func TestEnvelope(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{string(appendEnvelopeOK(nil, []byte("7"), commands.Text, []byte("pong\n"))), `{"id":7,"error":"","result":"pong"}` + "\n"},
		{string(appendEnvelopeOK(nil, nil, commands.JSON, []byte("{\"a\":1}\n"))), `{"id":null,"error":"","result":{"a":1}}` + "\n"},
		{string(appendEnvelopeOK(nil, []byte(`"x"`), commands.Binary, []byte("ab"))), `{"id":"x","error":"","binary":2}` + "\nab"},
		{string(appendEnvelopeErr(nil, []byte("1"), "bad \"x\"", "invalid")), `{"id":1,"error":"bad \"x\"","code":"invalid","status":400}` + "\n"},
		{string(jsonobj.AppendString(nil, []byte("a\x00\t\xff€"))), `"a\u0000\t\ufffd€"`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q want %q", tt.got, tt.want)
		}
		if line := strings.SplitN(tt.got, "\n", 2)[0]; !json.Valid([]byte(line)) {
			t.Errorf("not valid JSON: %s", line)
		}
	}
}

// benchConn is a connection object good enough to run jobs without a network.
func benchConn(b *testing.B, mode wireMode) *conn {
	s := New(config.Default(), commands.Default(), nil, nil)
	b.Cleanup(func() { s.pool.close() })
	c := &conn{eng: &engine{srv: s}, mode: mode, listener: "tcp"}
	c.setWho(access.Identity{Level: s.policy().plain, Via: access.ViaPlain}) // as connectIdentity gives a TCP peer
	return c
}

// BenchmarkExecText measures the path of a small text command: split and
// look up (prepare), run, reply into a pooled buffer. Steady state
// allocates nothing.
func BenchmarkExecText(b *testing.B) {
	c := benchConn(b, modeText)
	b.ReportAllocs()
	for b.Loop() {
		j := newJob(c)
		j.add([]byte("ping"))
		c.wire().prepare(c.eng.srv, j)
		c.eng.srv.execJob(j)
		putBuf(j.items[0].pooled)
		j.release()
	}
}

func BenchmarkExecJSONBatch100(b *testing.B) { benchJSONBatch(b, benchConn(b, modeJSON)) }

// benchJSONBatch runs batches of 100 pipelined pings on c through
// prepare, run and the envelopes; a refused request fails it.
func benchJSONBatch(b *testing.B, c *conn) {
	var lines [][]byte
	for i := range 100 {
		lines = append(lines, fmt.Appendf(nil, `{"id":%d,"cmd":"ping"}`, i))
	}
	b.ReportAllocs()
	for b.Loop() {
		j := newJob(c)
		for _, l := range lines {
			j.add(l)
		}
		c.wire().prepare(c.eng.srv, j)
		c.eng.srv.execJob(j)
		if j.rep.Code != "" {
			b.Fatalf("refused: %s", j.rep.Msg)
		}
		putBuf(j.items[0].pooled)
		j.release()
	}
}

func BenchmarkFramerNextLine(b *testing.B) {
	buf := []byte("getversion\r\n\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		_, _, _ = nextLine(buf, 64<<10)
	}
}

// BenchmarkOneShotTCP is a whole VoIPmonitor-style exchange on loopback:
// connect, send ping, read to EOF.
func BenchmarkOneShotTCP(b *testing.B) {
	_, tcp, _ := startServer(b, nil)
	ctx := context.Background()
	for b.Loop() {
		if _, err := clients.Do(ctx, "tcp", tcp, "ping"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOneShotParallel: 16 clients at once, TCP and Unix, as in the
// one-shot comparison of tapline bench (the server's per-connection cost).
func BenchmarkOneShotParallel(b *testing.B) {
	_, tcp, sock := startServer(b, nil)
	for _, tr := range []struct{ network, addr string }{{"tcp", tcp}, {"unix", sock}} {
		b.Run(tr.network, func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := clients.Do(ctx, tr.network, tr.addr, "getversion"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkJSONSessionPing(b *testing.B) {
	_, tcp, _ := startServer(b, nil)
	ctx := context.Background()
	s, err := clients.Open(ctx, "tcp", tcp)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if _, err := s.Call(ctx, "ping", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestJSONSplitRequests: a request line may arrive in pieces, and the last
// one may end with the client's half-close instead of a newline.
func TestJSONSplitRequests(t *testing.T) {
	_, tcp, _ := startServer(t, nil)
	c, err := net.Dial("tcp", tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	for _, piece := range []string{`{"id":1,"cm`, `d":"ping"}` + "\n" + `{"id":2,`, `"cmd":"ping"}` + "\n" + `{"id":3,"cmd":"ping"}`} {
		if _, err := c.Write([]byte(piece)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(c); err != nil {
		t.Fatal(err)
	}
	want := `{"id":1,"error":"","result":"pong"}` + "\n" + `{"id":2,"error":"","result":"pong"}` + "\n" + `{"id":3,"error":"","result":"pong"}` + "\n"
	if buf.String() != want {
		t.Fatalf("got %q\nwant %q", buf.String(), want)
	}
}

// TestMaxRequestBoundary: a line of exactly manager_max_request bytes is
// accepted even when its "\r" and "\n" arrive in separate reads.
func TestMaxRequestBoundary(t *testing.T) {
	_, tcp, _ := startServer(t, func(c *config.Config) { c.MaxRequest = 64 })
	line := "help " + strings.Repeat("x", 59)
	for _, pieces := range [][]string{{line + "\r", "\n"}, {line + "\n"}, {line + "y\n"}} {
		c, err := net.Dial("tcp", tcp)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		for _, p := range pieces {
			_, _ = c.Write([]byte(p))
			time.Sleep(20 * time.Millisecond)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(c)
		c.Close()
		want := "command not found\n" // help for an unknown command
		if len(pieces[len(pieces)-1]) > 1 && strings.HasSuffix(pieces[0], "y\n") {
			want = "error: request too large\n"
		}
		if buf.String() != want {
			t.Errorf("pieces %q: got %q want %q", pieces, buf.String(), want)
		}
	}
}

// TestReusePortRefusesSecondServer: SO_REUSEPORT must not let a second
// server share a port that is already taken, by tapline or anything else.
func TestReusePortRefusesSecondServer(t *testing.T) {
	cfg := config.Default()
	cfg.ManagerPort = freePort(t)
	if !cfg.ReusePort {
		t.Fatal("manager_reuseport should default to yes")
	}
	first := New(cfg, commands.Default(), nil, nil)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown(context.Background())
	second := New(cfg, commands.Default(), nil, nil)
	err := second.Start()
	if err == nil {
		_ = second.Shutdown(context.Background())
		t.Fatal("a second server started on the same port")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("error %q does not say the port is taken", err)
	}
	if out := do(t, "tcp", fmt.Sprintf("127.0.0.1:%d", cfg.ManagerPort), "ping"); out != "pong\n" {
		t.Fatalf("first server after the refused start: %q", out)
	}
	// Something else on the port (no SO_REUSEPORT) also stops a start.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg.ManagerPort = l.Addr().(*net.TCPAddr).Port
	third := New(cfg, commands.Default(), nil, nil)
	if err := third.Start(); err == nil {
		_ = third.Shutdown(context.Background())
		t.Fatal("started on a port another socket holds")
	}
}
