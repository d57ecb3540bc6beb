package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// TestJSONPipelining writes 10,000 pings into one JSON session from one
// goroutine while another reads the 10,000 replies, which must come back in
// request order.
func TestJSONPipelining(t *testing.T) {
	const n = 10000
	s := startServer(t, serverConfig{})
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			j := dialSession(t, network, s.target(network))
			start := time.Now()
			writeErr := make(chan error, 1)
			go func() {
				_ = j.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
				w := bufio.NewWriterSize(j.conn, 32<<10)
				for i := 0; i < n; i++ {
					if _, err := fmt.Fprintf(w, `{"id":%d,"cmd":"ping"}`+"\n", i); err != nil {
						writeErr <- fmt.Errorf("writing request %d: %w", i, err)
						return
					}
				}
				writeErr <- w.Flush()
			}()
			for i := 0; i < n; i++ {
				want := fmt.Sprintf(`{"id":%d,"error":"","result":"pong"}`, i)
				got, err := j.readLine(30 * time.Second)
				if err != nil {
					t.Fatalf("reply %d of %d: %v (partial %q); want %s", i, n, err, clip([]byte(got), 200), want)
				}
				if got != want {
					t.Fatalf("reply %d of %d: got %q, want %q", i, n, clip([]byte(got), 200), want)
				}
			}
			if err := <-writeErr; err != nil {
				t.Fatal(err)
			}
			t.Logf("%d pipelined pings over %s in %v", n, network, time.Since(start).Round(time.Millisecond))
			j.send(fmt.Sprintf(`{"id":%d,"cmd":"quit"}`, n))
			if line, err := j.readLine(5 * time.Second); err != nil {
				t.Fatalf("quit: %v (partial %q)", err, line)
			}
			j.expectEOF(5 * time.Second)
		})
	}
}

// TestSplitRequests sends requests in pieces, 50 ms apart, so that the
// server reads each piece separately: a request split across reads must be
// reassembled, in text and JSON mode.
func TestSplitRequests(t *testing.T) {
	s := startServer(t, serverConfig{})
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network+"/text", func(t *testing.T) {
			t.Parallel()
			c := dialPieces(t, network, s.target(network), "test_bl", "ob 10", "24\r", "\n")
			got, _, err := readUntilEOF(c, 10*time.Second)
			if d := diffBytes(got, blobExpect(1024)); err != nil || d != "" {
				t.Fatalf("test_blob 1024 sent in 4 pieces: read error %v; %s", err, d)
			}
		})
		t.Run(network+"/json", func(t *testing.T) {
			t.Parallel()
			c := dialPieces(t, network, s.target(network),
				`{"id":1,"cm`, `d":"ping"}`+"\n"+`{"id":2`, `,"cmd":"ping"}`, "\n", `{"id":3,"cmd":"quit"}`+"\n")
			got, _, err := readUntilEOF(c, 10*time.Second)
			want := `{"id":1,"error":"","result":"pong"}` + "\n" + `{"id":2,"error":"","result":"pong"}` + "\n"
			if err != nil || len(got) < len(want) || string(got[:len(want)]) != want {
				t.Fatalf("JSON requests sent in pieces: got %q, read error %v; want %q followed by the quit reply and EOF", clip(got, 500), err, want)
			}
		})
	}
}

// dialPieces connects and writes the pieces 50 ms apart.
func dialPieces(t *testing.T, network, addr string, pieces ...string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for i, p := range pieces {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := io.WriteString(c, p); err != nil {
			t.Fatalf("writing piece %d %q: %v", i, p, err)
		}
	}
	return c
}

// TestPipelinedListingsOneStream (issue 9, item 3): a JSON session that
// pipelines 200 streamed replies (each could pin a whole snapshot of the
// calls table) and never reads has one of them in progress; the others wait
// as unread request bytes. `clients` shows how many requests ran and how
// many streams the connection holds.
func TestPipelinedListingsOneStream(t *testing.T) {
	const n = 200
	s := startTestServer(t, serverConfig{})
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			j := dialSession(t, network, s.target(network))
			var req []byte
			for i := range n { // 64 MiB each: the first one fills the socket buffers
				req = fmt.Appendf(req, `{"id":%d,"cmd":"test_blob 67108864"}`+"\n", i)
			}
			_ = j.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := j.conn.Write(req); err != nil {
				t.Fatal(err)
			}
			var got []clientEntry
			deadline := time.Now().Add(10 * time.Second)
			for samples := 0; samples < 10; {
				if time.Now().After(deadline) {
					t.Fatalf("the pipelining session never showed up streaming in clients: %+v", got)
				}
				got = jsonSessions(t, s)
				if len(got) == 1 && got[0].BytesOut > 0 {
					samples++ // streaming: sample a while
					if got[0].Streams > 1 || got[0].Requests > 2 {
						t.Fatalf("a session that does not read holds %d streamed replies and ran %d of its %d pipelined requests; want 1 stream and at most 2 requests run",
							got[0].Streams, got[0].Requests, n)
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("while streaming: %+v", got[0])
			_ = j.conn.Close()
		})
	}
}

type clientEntry struct {
	Mode     string `json:"mode"`
	Requests int64  `json:"requests"`
	BytesOut int64  `json:"bytes_out"`
	Streams  int64  `json:"streams"`
}

// jsonSessions lists the server's JSON-mode connections (`clients`).
func jsonSessions(t testing.TB, s *server) []clientEntry {
	t.Helper()
	var all, out []clientEntry
	if err := json.Unmarshal([]byte(s.request(t, "tcp", "clients\n")), &all); err != nil {
		t.Fatalf("clients: %v", err)
	}
	for _, c := range all {
		if c.Mode == "json" {
			out = append(out, c)
		}
	}
	return out
}
