package server

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"tapline/commands"
	"tapline/config"
)

// TestOutputLimit (issue 9, item 3): a client that stops reading a reply
// larger than manager_output_limit is reset after
// manager_output_limit_seconds (long before manager_write_timeout) and
// counted in sniffer_stat.
func TestOutputLimit(t *testing.T) {
	table := commands.Default()
	table.Register(commands.Command{Name: "test_flood", Level: commands.LimitedRead, Plaintext: true, Hidden: true,
		Handler: func(_ *commands.Request, rep *commands.Reply) {
			rep.Kind = commands.JSON
			rep.Stream = func(w io.Writer) error { // endless: only the limit ends it
				chunk := []byte(strings.Repeat("x", 64<<10))
				for {
					if _, err := w.Write(chunk); err != nil {
						return err
					}
				}
			}
		}})
	srv, tcp, sock := startServerTable(t, table, func(c *config.Config) {
		c.OutputLimit = 64 << 10
		c.OutputLimitTime = time.Second
		c.WriteTimeout = 5 * time.Minute
	})
	for i, tc := range []struct{ network, addr, req string }{
		{"tcp", tcp, "test_flood\n"},
		{"unix", sock, `{"id":1,"cmd":"test_flood"}` + "\n"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			c, err := net.Dial(tc.network, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			want := int64(i + 1)
			for deadline := time.Now().Add(20 * time.Second); srv.Stats().ConnsOutputLimited < want; {
				if time.Now().After(deadline) {
					t.Fatalf("a client not reading an endless reply was not reset within 20 s (limit 64 KiB for 1 s); output-limited connections: %d",
						srv.Stats().ConnsOutputLimited)
				}
				time.Sleep(50 * time.Millisecond)
			}
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, err = io.Copy(io.Discard, c)
			if tc.network == "tcp" && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("reading after the limit: %v; want a connection reset (the reply is incomplete)", err)
			}
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("reading after the limit: %v; want the end of the connection", err)
			}
		})
	}
	if st := do(t, "tcp", tcp, "sniffer_stat"); !strings.Contains(st, `"connections_output_limited":2`) {
		t.Fatalf("sniffer_stat does not count the two reset clients: %s", st)
	}
}
