package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestOutputLimitResets (issue 9, item 3): with --manager-output-limit 64KiB
// and --manager-output-limit-seconds 1, a client that asks for 1 GiB and
// never reads is reset (not closed cleanly: its reply is incomplete), the
// reset is counted in sniffer_stat and logged once at WARN, and other
// clients are served meanwhile.
func TestOutputLimitResets(t *testing.T) {
	s := startTestServer(t, serverConfig{flags: []string{
		"--manager-output-limit", "64KiB", "--manager-output-limit-seconds", "1", "--manager-write-timeout", "300s"}})
	c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "test_blob 1073741824\n"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "a client not reading 1 GiB reset (limit 64 KiB for 1 s)", func() (bool, string) {
		var st struct {
			Manager struct {
				Limited int64 `json:"connections_output_limited"`
			} `json:"manager"`
		}
		if err := json.Unmarshal([]byte(s.request(t, "tcp", "sniffer_stat\n")), &st); err != nil {
			t.Fatalf("sniffer_stat: %v", err)
		}
		return st.Manager.Limited >= 1, fmt.Sprintf("connections_output_limited %d", st.Manager.Limited)
	})
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, c); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading the cut reply: %v; want a connection reset", err)
	}
	log, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	var resets [][]byte
	for _, line := range bytes.Split(log, []byte("\n")) {
		if bytes.Contains(line, []byte("leaves its replies unread")) {
			resets = append(resets, line)
		}
	}
	if len(resets) != 1 || !bytes.Contains(resets[0], []byte(`"level":"WARN"`)) {
		t.Fatalf("the server log has %d lines about the reset, want one at WARN:\n%s", len(resets), s.logTail(20))
	}
}
