package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tapline/commands"
	"tapline/config"
)

// snapCommand is a listing stand-in: its handler "takes a snapshot" (live
// counts the snapshots held), its stream holds it until gate opens and
// releases it once written. peak is the most snapshots held at once.
type snapCommand struct {
	live, peak atomic.Int64
	started    chan struct{}
	gate       chan struct{}
}

func newSnapTable(inline bool) (*commands.Table, *snapCommand) {
	sc := &snapCommand{started: make(chan struct{}, 1), gate: make(chan struct{})}
	table := commands.Default()
	table.Register(commands.Command{Name: "test_snap", Level: commands.LimitedRead, Plaintext: true, Hidden: true, Inline: inline,
		Handler: func(_ *commands.Request, rep *commands.Reply) {
			n := sc.live.Add(1)
			for p := sc.peak.Load(); n > p && !sc.peak.CompareAndSwap(p, n); p = sc.peak.Load() {
			}
			rep.Kind = commands.JSON
			rep.Stream = func(w io.Writer) error {
				select {
				case sc.started <- struct{}{}:
				default:
				}
				<-sc.gate
				defer sc.live.Add(-1)
				_, err := io.WriteString(w, `"snap"`)
				return err
			}
		}})
	return table, sc
}

// TestOneStreamPerSession (issue 9, item 3): a JSON session that pipelines
// many listings without reading holds one snapshot at a time, not one per
// pipelined request; every request is still answered, in order.
func TestOneStreamPerSession(t *testing.T) {
	const n = 200
	for _, inline := range []bool{false, true} {
		for _, network := range []string{"tcp", "unix"} {
			t.Run(fmt.Sprintf("%s/inline=%v", network, inline), func(t *testing.T) {
				table, sc := newSnapTable(inline)
				_, tcp, sock := startServerTable(t, table, nil)
				var once sync.Once
				open := func() { once.Do(func() { close(sc.gate) }) }
				defer open() // a failed test must not hold the server's shutdown
				addr := map[string]string{"tcp": tcp, "unix": sock}[network]
				c, err := net.Dial(network, addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				var req strings.Builder
				for i := range n {
					cmd := "test_snap"
					if i%3 == 2 {
						cmd = "ping"
					}
					fmt.Fprintf(&req, `{"id":%d,"cmd":"%s"}`+"\n", i, cmd)
				}
				if _, err := io.WriteString(c, req.String()); err != nil {
					t.Fatal(err)
				}
				select {
				case <-sc.started:
				case <-time.After(10 * time.Second):
					t.Fatal("no listing started writing")
				}
				if p := sc.peak.Load(); p > 1 {
					t.Fatalf("%d snapshots held at once by one session that does not read; want at most 1", p)
				}
				open()
				r := bufio.NewReader(c)
				for i := range n {
					want := fmt.Sprintf(`{"id":%d,"error":"","result":"snap"}`, i)
					if i%3 == 2 {
						want = fmt.Sprintf(`{"id":%d,"error":"","result":"pong"}`, i)
					}
					line, err := r.ReadString('\n')
					if err != nil || strings.TrimSuffix(line, "\n") != want {
						t.Fatalf("reply %d: got %q (%v), want %s", i, line, err, want)
					}
				}
				if p := sc.peak.Load(); p > 1 {
					t.Fatalf("%d snapshots held at once; want at most 1", p)
				}
			})
		}
	}
}

// TestPendingBound: input beyond manager_max_pending ends a JSON session
// after the replies to what was taken, in order, whether the requests run
// on the loop or not and whether the client half-closes or not; what a
// half-closed session keeps is bounded the same way.
func TestPendingBound(t *testing.T) {
	const n = 4000 // about 100 KiB of requests in one write, MaxPending is 4 KiB
	_, tcp, sock := startServer(t, func(c *config.Config) { c.MaxRequest, c.MaxPending = 1024, 4096 })
	var req strings.Builder
	for i := range n {
		fmt.Fprintf(&req, `{"id":%d,"cmd":"ping"}`+"\n", i)
	}
	for _, network := range []string{"tcp", "unix"} {
		for _, halfClose := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/halfclose=%v", network, halfClose), func(t *testing.T) {
				c, err := net.Dial(network, map[string]string{"tcp": tcp, "unix": sock}[network])
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				go func() {
					_, _ = io.WriteString(c, req.String())
					if halfClose {
						_ = c.(interface{ CloseWrite() error }).CloseWrite()
					}
				}()
				got, err := io.ReadAll(c)
				if err != nil {
					t.Fatalf("read: %v after %d bytes", err, len(got))
				}
				lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
				last := lines[len(lines)-1]
				if !strings.Contains(last, `"code":"too_large"`) || len(lines) > n {
					t.Fatalf("%d requests of %d KiB with manager_max_pending 4 KiB: %d reply lines ending with %q; want replies, then too_large",
						n, req.Len()>>10, len(lines), last)
				}
				for i, l := range lines[:len(lines)-1] {
					if want := fmt.Sprintf(`{"id":%d,"error":"","result":"pong"}`, i); l != want {
						t.Fatalf("reply %d: %q, want %q", i, l, want)
					}
				}
			})
		}
	}
}

// TestQuitEndsHalfClosedSession: requests after quit are not executed, also
// when the client half-closes with more of them still unread by the server.
func TestQuitEndsHalfClosedSession(t *testing.T) {
	_, tcp, sock := startServer(t, nil)
	req := `{"id":0,"cmd":"quit"}` + "\n" + strings.Repeat(`{"id":1,"cmd":"ping"}`+"\n", 600)
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			c, err := net.Dial(network, map[string]string{"tcp": tcp, "unix": sock}[network])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			_ = c.(interface{ CloseWrite() error }).CloseWrite()
			got, err := io.ReadAll(c)
			if want := `{"id":0,"error":"","result":"bye"}` + "\n"; err != nil || string(got) != want {
				t.Fatalf("quit, 600 pings, half-close: got %q (%v); want only %q", clipS(got), err, want)
			}
		})
	}
}

func clipS(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
