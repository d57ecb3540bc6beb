package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"tapline/clients"
)

// The lead's Go client joins the transfer matrix. clients.Do adds the "\n"
// itself, so it only takes plain line requests (lineOnly).
func init() {
	for _, network := range []string{"tcp", "unix"} {
		extraClients = append(extraClients, transferClient{
			name: "clients.Do", network: network, bigNoRace: true, halfClose: true, lineOnly: true,
			fetch: func(s *server, raw string) ([]byte, error) {
				ctx, cancel := context.WithTimeout(context.Background(), clientTimeout*time.Second)
				defer cancel()
				return clients.Do(ctx, network, s.target(network), strings.TrimSuffix(raw, "\n"))
			},
		})
	}
}

// TestClientsSession drives a JSON session through clients.Session: text,
// error and binary replies, pipelined.
func TestClientsSession(t *testing.T) {
	s := startServer(t, serverConfig{})
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			j, err := clients.Open(ctx, network, s.target(network))
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			_ = j.Conn().SetDeadline(time.Now().Add(30 * time.Second))
			r, err := j.Call(ctx, "ping", nil)
			if err != nil || r.Err() != nil || string(r.Result) != `"pong"` {
				t.Fatalf("Call(ping): reply %+v, err %v; want result \"pong\"", r, err)
			}
			r, err = j.Call(ctx, "foobar", nil)
			if err != nil || r.Code != "unknown_command" || r.Error != "command not found" {
				t.Fatalf("Call(foobar): reply %+v, err %v; want code unknown_command, error \"command not found\"", r, err)
			}
			sizes := []int{1 << 20, 1, 4 << 20}
			for _, n := range sizes {
				if _, err := j.Send("test_blob", []string{itoa(n)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := j.Flush(); err != nil {
				t.Fatal(err)
			}
			for _, n := range sizes {
				r, err := j.Recv()
				if err != nil || r.Err() != nil {
					t.Fatalf("test_blob %d: reply %+v, err %v", n, r, err)
				}
				if d := diffBytes(r.Binary, blobExpect(n)); d != "" {
					t.Fatalf("test_blob %d via clients.Session: %s", n, d)
				}
			}
		})
	}
}
