package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tapline/crypto"
)

// TestJSONHalfCloseAnswersAll (issue 9, item 4): `nc -N` sends a whole
// pipeline of JSON requests and half-closes; every request read before or
// after the half-close is answered, in order, then the connection closes.
// Inline commands (ping, test_blob, a streamed reply) and worker commands
// (listcalls, sniffer_stat), over TCP and the Unix socket.
func TestJSONHalfCloseAnswersAll(t *testing.T) {
	requireTools(t)
	s := startTestServer(t, serverConfig{})
	dir := shortTempDir(t)
	for _, n := range []int{300, 10000} {
		for _, cmd := range []string{"ping", "listcalls", "sniffer_stat", "test_blob 48"} {
			in := filepath.Join(dir, fmt.Sprintf("in-%d-%d", n, len(cmd)))
			var req bytes.Buffer
			for i := range n {
				fmt.Fprintf(&req, `{"id":%d,"cmd":%q}`+"\n", i, cmd)
			}
			if err := os.WriteFile(in, req.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, network := range []string{"tcp", "unix"} {
				t.Run(fmt.Sprintf("%s/%s/%d", network, cmd, n), func(t *testing.T) {
					got := ncHalfClose(t, s, network, in, filepath.Join(dir, "out"))
					if ids, err := replyIDs(got); err != nil || len(ids) != n || !inOrder(ids) {
						t.Fatalf("%d requests of %q, half-closed: %d replies (in order: %v, parse error: %v); want %d in request order",
							n, cmd, len(ids), inOrder(ids), err, n)
					}
				})
			}
		}
	}
}

// TestHardenedHalfCloseAnswersAll: the same for a hardened session (one
// JSON request per tl1: frame), which reads its frames on the same line
// path.
func TestHardenedHalfCloseAnswersAll(t *testing.T) {
	requireTools(t)
	k := newKey(t)
	s := startTestServer(t, serverConfig{flags: k.flags()})
	dir := shortTempDir(t)
	hk := k.key.Hardened()
	opener := crypto.NewOpener(func([8]byte) *crypto.HardenedKey { return hk }, time.Minute, nil)
	for _, n := range []int{300, 10000} {
		for _, cmd := range []string{"ping", "sniffer_stat", "test_blob 48"} {
			for _, network := range []string{"tcp", "unix"} {
				t.Run(fmt.Sprintf("%s/%s/%d", network, cmd, n), func(t *testing.T) {
					in := filepath.Join(dir, "in")
					var req bytes.Buffer
					for i := range n { // sealed now: each run has fresh frames (no replays)
						req.Write(sealLine(k, time.Now(), fmt.Sprintf(`{"id":%d,"cmd":%q}`, i, cmd)))
					}
					if err := os.WriteFile(in, req.Bytes(), 0o600); err != nil {
						t.Fatal(err)
					}
					raw := ncHalfClose(t, s, network, in, filepath.Join(dir, "out"))
					var plain []byte
					var err error
					for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
						if len(line) == 0 {
							continue
						}
						if plain, _, err = opener.Open(plain, line, time.Now(), true); err != nil {
							t.Fatalf("reply frame %q: %v", clip(line, 100), err)
						}
					}
					if ids, err := replyIDs(plain); err != nil || len(ids) != n || !inOrder(ids) {
						t.Fatalf("%d hardened requests of %q, half-closed: %d replies (in order: %v, parse error: %v); want %d in request order",
							n, cmd, len(ids), inOrder(ids), err, n)
					}
				})
			}
		}
	}
}

// replyIDs parses a stream of JSON reply envelopes (a binary one is
// followed by its raw bytes) and returns their ids.
func replyIDs(b []byte) ([]int, error) {
	r := bufio.NewReader(bytes.NewReader(b))
	var ids []int
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			return ids, nil
		}
		if err != nil {
			return ids, fmt.Errorf("reply %d: %w (partial %q)", len(ids), err, clip(line, 200))
		}
		var env struct {
			ID     int   `json:"id"`
			Binary int64 `json:"binary"`
		}
		if err := json.Unmarshal(line, &env); err != nil {
			return ids, fmt.Errorf("reply %d: %w: %q", len(ids), err, clip(line, 200))
		}
		ids = append(ids, env.ID)
		if _, err := io.CopyN(io.Discard, r, env.Binary); err != nil {
			return ids, fmt.Errorf("reply %d: binary payload: %w", len(ids), err)
		}
	}
}

func inOrder(ids []int) bool {
	for i, id := range ids {
		if id != i {
			return false
		}
	}
	return true
}

// ncHalfClose sends the file in to s with real `nc -N` over network (it
// half-closes after the input) and returns everything the server sent
// before it closed, written to out.
func ncHalfClose(t *testing.T, s *server, network, in, out string) []byte {
	t.Helper()
	nc := s.ncCmd(network)
	stderr, err := runShell(60*time.Second, nc+" < "+shellQuote(in), out)
	if err != nil {
		t.Fatalf("%s: %v (stderr %q)", nc, err, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
