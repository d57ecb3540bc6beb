package e2e

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEngineDeathIsFatal: gnet shuts a whole engine down when accept fails
// with EMFILE. tapline must then exit non-zero (so a supervisor restarts
// it) instead of running on without a listener.
func TestEngineDeathIsFatal(t *testing.T) {
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	script := "ulimit -n 40 && exec " + shellQuote(taplineBin) + " serve --managerport " + strconv.Itoa(port) +
		" --manager-max-connections 1000 --log-format json"
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	var logb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 1 {
				t.Fatalf("server exited with %v, want exit code 1\nlog:\n%s", err, logb.String())
			}
			if !strings.Contains(logb.String(), "stopped unexpectedly") {
				t.Errorf("log does not say why:\n%s", logb.String())
			}
			return
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conns = append(conns, c)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	_ = cmd.Process.Kill()
	t.Fatalf("server kept running with %d connections under a 40-fd limit\nlog:\n%s", len(conns), logb.String())
}
