package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// clientTimeout bounds each external client (`timeout 60` in the scripts);
// shellLimit bounds the whole bash process group.
const (
	clientTimeout = 60
	shellLimit    = 90 * time.Second
)

// request is one request as a shell command that writes it to stdout (for
// the external clients) and as raw bytes (for the Go clients).
type request struct {
	shell string // e.g. "echo 'ping'" or "printf 'ping\r\n'"
	raw   string
}

func echoRequest(line string) request {
	return request{shell: "echo " + shellQuote(line), raw: line + "\n"}
}

// transferClient is one way of sending a one-shot request and reading the
// whole reply.
type transferClient struct {
	name      string
	network   string
	big       bool // also fetch 64 MiB
	bigNoRace bool // also fetch 64 MiB, but not under -race (keeps the suite under 3 minutes)
	halfClose bool // sends EOF after the request (can send an unterminated request)
	lineOnly  bool // can only send "line\n" requests
	script    func(s *server, send string) string
	fetch     func(s *server, raw string) ([]byte, error)
}

func tcpScript(format string) func(s *server, send string) string {
	return func(s *server, send string) string {
		return fmt.Sprintf("%s | timeout %d "+format, send, clientTimeout, s.port)
	}
}

func unixScript(format string) func(s *server, send string) string {
	return func(s *server, send string) string {
		return fmt.Sprintf("%s | timeout %d "+format, send, clientTimeout, shellQuote(s.sock))
	}
}

func goFetch(network string) func(s *server, raw string) ([]byte, error) {
	return func(s *server, raw string) ([]byte, error) {
		return oneShot(network, s.target(network), raw, true, clientTimeout*time.Second)
	}
}

// transferClients lists the clients of the transfer matrix. extraClients
// (other files) may add more.
func transferClients() []transferClient {
	cs := []transferClient{
		{name: "nc-N", network: "tcp", big: true, halfClose: true, script: tcpScript("nc -N 127.0.0.1 %d")},
		{name: "nc", network: "tcp", big: true, script: tcpScript("nc 127.0.0.1 %d")},
		// nc -q 1 quits 1 s after stdin EOF even while data flows: no 64 MiB.
		{name: "nc-q1", network: "tcp", halfClose: true, script: tcpScript("nc -q 1 127.0.0.1 %d")},
		{name: "socat", network: "tcp", big: true, halfClose: true, script: tcpScript("socat - TCP:127.0.0.1:%d")},
		{name: "socat-t5", network: "tcp", bigNoRace: true, halfClose: true, script: tcpScript("socat -t 5 - TCP:127.0.0.1:%d")},
		{name: "bash-devtcp", network: "tcp", big: true, script: func(s *server, send string) string {
			return fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d && %s >&3 && timeout %d cat <&3", s.port, send, clientTimeout)
		}},
		{name: "go-net", network: "tcp", big: true, halfClose: true, fetch: goFetch("tcp")},
		{name: "nc-N-U", network: "unix", big: true, halfClose: true, script: unixScript("nc -N -U %s")},
		{name: "nc-U", network: "unix", bigNoRace: true, script: unixScript("nc -U %s")},
		{name: "socat", network: "unix", big: true, halfClose: true, script: unixScript("socat - UNIX-CONNECT:%s")},
		{name: "go-net", network: "unix", bigNoRace: true, halfClose: true, fetch: goFetch("unix")},
	}
	return append(cs, extraClients...)
}

// extraClients is filled by init functions of optional files (the lead's
// clients package).
var extraClients []transferClient

// bigSlots limits concurrent transfers of 1 MiB and more.
var bigSlots = make(chan struct{}, 4)

// fetchWith runs one client and checks every byte of the reply.
func fetchWith(t *testing.T, s *server, c transferClient, req request, want []byte) {
	t.Helper()
	if len(want) >= 1<<20 {
		bigSlots <- struct{}{}
		defer func() { <-bigSlots }()
	}
	label := fmt.Sprintf("%s %s, request %q", c.network, c.name, req.raw)
	start := time.Now()
	if c.fetch != nil {
		got, err := c.fetch(s, req.raw)
		if err != nil {
			t.Errorf("%s: %v", label, err)
		}
		if d := diffBytes(got, want); d != "" {
			t.Errorf("%s: %s", label, d)
		}
	} else {
		out := filepath.Join(t.TempDir(), "reply")
		script := c.script(s, req.shell)
		stderr, err := runShell(shellLimit, script, out)
		if err != nil {
			t.Errorf("%s: `%s` failed: %v; stderr: %q", label, script, err, clip([]byte(stderr), 500))
		}
		compareFile(t, label+" (`"+script+"`)", out, want)
	}
	if len(want) >= 1<<20 {
		t.Logf("%s: %s in %v", label, sizeName(len(want)), time.Since(start).Round(time.Millisecond))
	}
}

// TestTransferMatrix fetches test_blob replies of 1 B to 64 MiB with every
// client over TCP and the Unix socket and checks every byte.
func TestTransferMatrix(t *testing.T) {
	requireTools(t)
	s := startServer(t, serverConfig{})
	sizes := []int{1, 1 << 10, 1 << 20, 64 << 20}
	for _, c := range transferClients() {
		for _, n := range sizes {
			if n > 1<<20 && (testing.Short() || !(c.big || c.bigNoRace && !raceEnabled)) {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s/%s", c.network, c.name, sizeName(n)), func(t *testing.T) {
				t.Parallel()
				fetchWith(t, s, c, echoRequest(fmt.Sprintf("test_blob %d", n)), blobExpect(n))
			})
		}
	}
}

// TestRequestFraming sends requests ended by EOF only, \r\n and \r\n\r\n,
// including a 1 MiB reply produced 50 ms after the request was read.
func TestRequestFraming(t *testing.T) {
	requireTools(t)
	s := startServer(t, serverConfig{})
	type framing struct {
		name, shell, raw string
		needsHalfClose   bool
	}
	framings := []framing{
		{"eof", `printf '%s'`, "%s", true},
		{"crlf", `printf '%s\r\n'`, "%s\r\n", false},
		{"crlfcrlf", `printf '%s\r\n\r\n'`, "%s\r\n\r\n", false},
	}
	cmds := []struct {
		line string
		want []byte
	}{
		{"ping", []byte("pong\n")},
		{"test_blob 1048576 50", blobExpect(1 << 20)},
	}
	for _, c := range transferClients() {
		for _, f := range framings {
			if f.needsHalfClose && !c.halfClose {
				continue // the server would wait for the read timeout
			}
			if c.lineOnly {
				continue
			}
			for _, cmd := range cmds {
				req := request{shell: fmt.Sprintf(f.shell, cmd.line), raw: fmt.Sprintf(f.raw, cmd.line)}
				t.Run(fmt.Sprintf("%s/%s/%s/%s", c.network, c.name, f.name, cmd.line), func(t *testing.T) {
					t.Parallel()
					fetchWith(t, s, c, req, cmd.want)
				})
			}
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
