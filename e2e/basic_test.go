package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"tapline/version"
)

// TestBlobExpectFormat checks the test's own model of test_blob.
func TestBlobExpectFormat(t *testing.T) {
	var want strings.Builder
	for k := 0; k < 1000; k++ {
		fmt.Fprintf(&want, "%015d\n", k)
	}
	w := want.String()[:16*999+5]
	if got := string(blobExpect(len(w))); got != w {
		t.Fatalf("blobExpect: %s", diffBytes([]byte(got), []byte(w)))
	}
}

// TestTextCommands checks the exact bytes of the simple one-shot replies on
// both transports.
func TestTextCommands(t *testing.T) {
	s := startServer(t, serverConfig{})
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			s.expectReply(t, network, "ping\n", "pong\n")
			s.expectReply(t, network, "foobar\n", "command not found\n")
			s.expectReply(t, network, "getversion\n", version.Version)

			stat := s.request(t, network, "sniffer_stat\n")
			body, ok := strings.CutSuffix(stat, "\n")
			if !ok || strings.Contains(body, "\n") {
				t.Errorf("sniffer_stat: want one line ending in \\n, got %q", clip([]byte(stat), 300))
			}
			var obj map[string]any
			if err := json.Unmarshal([]byte(body), &obj); err != nil {
				t.Errorf("sniffer_stat: not a JSON object (%v): %q", err, clip([]byte(stat), 300))
			}

			list := s.request(t, network, "clients\n")
			var arr []json.RawMessage
			if err := json.Unmarshal([]byte(list), &arr); err != nil {
				t.Errorf("clients: not a JSON array (%v): %q", err, clip([]byte(list), 300))
			}
			t.Logf("clients over %s: %s", network, clip([]byte(list), 300))
		})
	}
}

// TestSocketFileMode checks that the --managersocket file is a socket with
// mode 0600.
func TestSocketFileMode(t *testing.T) {
	s := startServer(t, serverConfig{})
	fi, err := os.Lstat(s.sock)
	if err != nil {
		t.Fatalf("lstat %s: %v", s.sock, err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: mode %v, want a socket with permissions 0600 (Srw-------)", s.sock, fi.Mode())
	}
}

// TestJSONSession checks the JSON mode replies: text results, errors, binary
// replies interleaved with text ones, and quit.
func TestJSONSession(t *testing.T) {
	s := startServer(t, serverConfig{})
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			j := dialSession(t, network, s.target(network))
			j.send(`{"id":7,"cmd":"ping"}`)
			j.expectLine(`{"id":7,"error":"","result":"pong"}`, 5*time.Second)
			j.send(`{"id":8,"cmd":"foobar"}`)
			j.expectLine(`{"id":8,"error":"command not found","code":"unknown_command","status":404}`, 5*time.Second)
			j.send(`{"id":9,"cmd":"getversion"}`)
			j.expectLine(fmt.Sprintf(`{"id":9,"error":"","result":%q}`, version.Version), 5*time.Second)

			// Pipelined: binary, text, binary, text.
			sizes := []int{1 << 20, 0, 1, 0, 16 << 20, 0}
			for i, n := range sizes {
				if n == 0 {
					j.send(fmt.Sprintf(`{"id":%d,"cmd":"ping"}`, 100+i))
				} else {
					j.send(fmt.Sprintf(`{"id":%d,"cmd":"test_blob","args":["%d"]}`, 100+i, n))
				}
			}
			for i, n := range sizes {
				if n == 0 {
					j.expectLine(fmt.Sprintf(`{"id":%d,"error":"","result":"pong"}`, 100+i), 10*time.Second)
					continue
				}
				j.expectLine(fmt.Sprintf(`{"id":%d,"error":"","binary":%d}`, 100+i, n), 10*time.Second)
				got, err := j.readFull(n, 30*time.Second)
				if d := diffBytes(got, blobExpect(n)); d != "" || err != nil {
					t.Fatalf("binary reply id %d (%s): read error %v; %s", 100+i, sizeName(n), err, d)
				}
			}

			j.send(`{"id":10,"cmd":"quit"}`)
			line, err := j.readLine(5 * time.Second)
			if err != nil {
				t.Fatalf("quit: no reply line: %v (partial %q)", err, line)
			}
			var r struct {
				ID    *int    `json:"id"`
				Error *string `json:"error"`
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil || r.ID == nil || *r.ID != 10 || r.Error == nil || *r.Error != "" {
				t.Fatalf("quit: got %q, want a JSON object with id 10 and error \"\" (unmarshal: %v)", line, err)
			}
			t.Logf("quit reply: %s", line)
			j.expectEOF(5 * time.Second)
		})
	}
}
