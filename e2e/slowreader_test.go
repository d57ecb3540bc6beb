package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// rssBound is the most resident memory the server may use while 8 slow
// readers each have a 64 MiB reply pending. A server that buffered whole
// replies would need more than 512 MiB. The race detector's shadow memory
// makes the same live heap cost more, hence a looser bound there.
func rssBound() int64 {
	if raceEnabled {
		return 256 << 20
	}
	return 150 << 20
}

// TestSlowReadersMemoryBound has 8 connections ask for 64 MiB each and read
// 64 KiB every 10 ms for 2 s. The server's RSS must stay bounded, pings on
// other connections must keep working, and once the readers hang up early the
// server must forget them.
func TestSlowReadersMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 8×64 MiB slow-reader test")
	}
	s := startServer(t, serverConfig{})
	const (
		readers  = 8
		size     = 64 << 20
		chunk    = 64 << 10
		interval = 10 * time.Millisecond
		duration = 2 * time.Second
	)
	want := blobExpect(size)
	baseRSS, err := rssOf(s.pid())
	if err != nil {
		t.Fatalf("rss: %v", err)
	}

	conns := make([]net.Conn, readers)
	addrs := make([]string, readers)
	for i := range conns {
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("slow reader %d: dial: %v", i, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := io.WriteString(c, fmt.Sprintf("test_blob %d\n", size)); err != nil {
			t.Fatalf("slow reader %d: write: %v", i, err)
		}
		// Half the readers half-close after the request, half do not.
		if i%2 == 1 {
			if err := c.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatalf("slow reader %d: half-close: %v", i, err)
			}
		}
		conns[i] = c
		addrs[i] = c.LocalAddr().String()
	}

	stop := make(chan struct{})
	var bg sync.WaitGroup

	// RSS sampler.
	var peakRSS int64
	var rssErr error
	bg.Add(1)
	go func() {
		defer bg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			rss, err := rssOf(s.pid())
			if err != nil {
				rssErr = err
				return
			}
			peakRSS = max(peakRSS, rss)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	// Pinger on separate one-shot connections.
	var pingLat []time.Duration
	var pingErrs []string
	bg.Add(1)
	go func() {
		defer bg.Done()
		for {
			start := time.Now()
			got, err := oneShot("tcp", s.addr, "ping\n", true, 5*time.Second)
			if err != nil || string(got) != "pong\n" {
				pingErrs = append(pingErrs, fmt.Sprintf("got %q, err %v", got, err))
			} else {
				pingLat = append(pingLat, time.Since(start))
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	// Slow readers: every byte is checked against the blob.
	received := make([]int, readers)
	readErrs := make([]error, readers)
	var rd sync.WaitGroup
	for i, c := range conns {
		rd.Add(1)
		go func() {
			defer rd.Done()
			buf := make([]byte, chunk)
			end := time.Now().Add(duration)
			for time.Now().Before(end) {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := io.ReadFull(c, buf)
				if d := diffBytes(buf[:n], want[received[i]:received[i]+n]); d != "" {
					readErrs[i] = fmt.Errorf("at reply offset %d: %s", received[i], d)
					return
				}
				received[i] += n
				if err != nil {
					readErrs[i] = fmt.Errorf("after %d bytes: %w", received[i], err)
					return
				}
				time.Sleep(interval)
			}
		}()
	}
	rd.Wait()
	close(stop)
	bg.Wait()

	for i, err := range readErrs {
		if err != nil {
			t.Errorf("slow reader %d (%s, half-closed=%v): %v", i, addrs[i], i%2 == 1, err)
		}
	}
	t.Logf("bytes received by the slow readers in %v: %v", duration, received)
	if rssErr != nil {
		t.Errorf("reading the server's RSS: %v", rssErr)
	}
	t.Logf("server RSS: %.1f MiB before, peak %.1f MiB while 8×64 MiB replies were pending (bound %d MiB, race=%v)",
		float64(baseRSS)/(1<<20), float64(peakRSS)/(1<<20), rssBound()>>20, raceEnabled)
	if peakRSS > rssBound() {
		t.Errorf("server RSS peaked at %.1f MiB, want under %d MiB: the server seems to buffer whole replies for slow readers",
			float64(peakRSS)/(1<<20), rssBound()>>20)
	}
	if len(pingErrs) > 0 {
		t.Errorf("%d of %d pings during the slow transfers failed; first: %s", len(pingErrs), len(pingErrs)+len(pingLat), pingErrs[0])
	}
	if len(pingLat) > 0 {
		slices.Sort(pingLat)
		t.Logf("ping during slow transfers: n=%d p50=%v max=%v", len(pingLat), pingLat[len(pingLat)/2], pingLat[len(pingLat)-1])
	}

	// Hang up early; the server must stay healthy and drop the connections.
	for _, c := range conns {
		_ = c.Close()
	}
	for i := 0; i < 3; i++ {
		s.expectReply(t, "tcp", "ping\n", "pong\n")
	}
	deadline := time.Now().Add(5 * time.Second)
	var list string
	for {
		list = s.request(t, "tcp", "clients\n")
		var arr []json.RawMessage
		if err := json.Unmarshal([]byte(list), &arr); err != nil {
			t.Fatalf("clients: not a JSON array (%v): %q", err, clip([]byte(list), 300))
		}
		var still []string
		for _, a := range addrs {
			if strings.Contains(list, a) {
				still = append(still, a)
			}
		}
		if len(still) == 0 && len(arr) <= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the slow readers closed, clients still lists %d connections (slow readers still listed: %v): %s",
				len(arr), still, clip([]byte(list), 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	rss, _ := rssOf(s.pid())
	t.Logf("server RSS after the readers left: %.1f MiB; clients: %s", float64(rss)/(1<<20), clip([]byte(list), 300))
}
