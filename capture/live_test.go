//go:build linux

package capture

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"tapline/config"
	"tapline/sip"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (AF_PACKET); CI runs as root")
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		t.Skipf("live capture needs CAP_NET_RAW, which this root lacks (%v)", err)
	}
	unix.Close(fd)
}

// startLive runs Live on lo until the returned stop is called.
func startLive(t *testing.T, ports config.PortSet, h Handler, opt LiveOptions) (*Decoder, func()) {
	t.Helper()
	d := NewDecoder(ports, h)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	opt.Ready = func() { close(ready) }
	if opt.Interface == "" {
		opt.Interface = "lo"
	}
	if opt.RingMiB == 0 {
		opt.RingMiB = 4
	}
	errc := make(chan error, 1)
	go func() { errc <- Live(ctx, opt, d) }()
	select {
	case <-ready:
	case err := <-errc:
		cancel()
		t.Fatalf("Live: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("Live not ready after 5s")
	}
	var once sync.Once
	return d, func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Live: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Live did not stop within 5s of cancel")
			}
		})
	}
}

// udpSink binds a loopback UDP socket that discards what it receives and
// dials it: it returns the socket's port and a connection sending to it, both
// closed when the test ends.
func udpSink(t *testing.T) (port int, tx net.Conn) {
	t.Helper()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	go io.Copy(io.Discard, rx)
	tx, err = net.Dial("udp4", rx.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	return rx.LocalAddr().(*net.UDPAddr).Port, tx
}

func TestLiveLoopbackUDP(t *testing.T) {
	needRoot(t)
	port, tx := udpSink(t)

	var c collector
	d, stop := startLive(t, mustPorts(t, strconv.Itoa(port)), c.handle, LiveOptions{})
	defer stop()

	const n = 20
	for i := range n {
		if _, err := tx.Write([]byte(sipMsg("OPTIONS", fmt.Sprintf("live-udp-%d", i), 0))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(func() bool { return len(c.all()) >= n && d.Stats().Duplicates >= n })
	time.Sleep(100 * time.Millisecond) // a late second copy would show now
	stop()

	seen := map[string]int{}
	for _, p := range c.all() {
		if p.Transport != sip.UDP || p.Dst.Port() != uint16(port) || !p.Dst.Addr().IsLoopback() || p.VLAN != -1 {
			t.Fatalf("bad packet %+v", p)
		}
		if time.Since(p.TS) > time.Minute {
			t.Fatalf("capture time %v", p.TS)
		}
		seen[p.Payload]++
	}
	for i := range n {
		if k := seen[sipMsg("OPTIONS", fmt.Sprintf("live-udp-%d", i), 0)]; k != 1 {
			t.Errorf("datagram %d seen %d times", i, k)
		}
	}
	st := d.Stats()
	t.Logf("stats %+v", st)
	if st.SIP != n || st.Duplicates < n {
		t.Fatalf("stats %+v: want %d SIP, the outgoing copies counted as duplicates", st, n)
	}
}

func TestLiveLoopbackTCP(t *testing.T) {
	needRoot(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
		c.Close()
	}()

	var c collector
	d, stop := startLive(t, mustPorts(t, strconv.Itoa(port)), c.handle, LiveOptions{SnapLen: 65535})
	defer stop()

	conn, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).SetNoDelay(true)
	m1, m2 := sipMsg("INVITE", "live-tcp-1", 211), sipMsg("BYE", "live-tcp-2", 0)
	stream := m1 + m2
	// Odd chunks, each its own segment: the cut points fall inside lines,
	// inside the blank line, and across the two messages.
	for _, cut := range [][2]int{{0, 7}, {7, 101}, {101, len(m1) - 212}, {len(m1) - 212, len(m1) - 3}, {len(m1) - 3, len(m1) + 30}, {len(m1) + 30, len(stream)}} {
		if _, err := conn.Write([]byte(stream[cut[0]:cut[1]])); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	conn.Close()
	<-done
	waitFor(func() bool { return len(c.all()) >= 2 })
	time.Sleep(50 * time.Millisecond)
	stop()
	expectPayloads(t, &c, m1, m2)
	for _, p := range c.all() {
		if p.Transport != sip.TCP || p.Dst.Port() != uint16(port) {
			t.Fatalf("bad packet %+v", p)
		}
	}
	if st := d.Stats(); st.TCPGaps != 0 || st.NotSIP != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLiveFilterAndErrors(t *testing.T) {
	// The filter text formats (no root needed).
	ddd := "2\n40 0 0 12\n6 0 0 262144\n"
	dd := "{ 0x28, 0, 0, 0x0000000c },\n{ 0x6, 0, 0, 0x00040000 },\n"
	for _, s := range []string{ddd, dd} {
		prog, err := parseBPF(s, 1500)
		if err != nil {
			t.Fatal(err)
		}
		want := []bpf.RawInstruction{{Op: 0x28, K: 12}, {Op: 6, K: 1500}}
		if fmt.Sprint(prog) != fmt.Sprint(want) {
			t.Fatalf("%q parsed as %v", s, prog)
		}
	}
	for _, bad := range []string{"udp port 5060", "1 2 3", "3\n40 0 0 12\n"} {
		if _, err := parseBPF(bad, 1500); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// The loopback prefix is a valid program that ends in the user's.
	prog := filterProgram(nil, 100)
	ins, ok := bpf.Disassemble(prog)
	if !ok || len(ins) != 6 || ins[5] != (bpf.RetConstant{Val: 100}) {
		t.Fatalf("filter %v", ins)
	}

	d := NewDecoder(mustPorts(t, "5060"), func(*sip.Packet) {})
	if os.Geteuid() != 0 {
		err := Live(context.Background(), LiveOptions{Interface: "lo"}, d)
		if err == nil || !strings.Contains(err.Error(), "needs root or CAP_NET_RAW") {
			t.Fatalf("Live without privileges: %v", err)
		}
	}
	needRoot(t)
	if err := Live(context.Background(), LiveOptions{Interface: "no-such-if0"}, d); err == nil {
		t.Fatal("a missing interface accepted")
	}
	if err := Live(context.Background(), LiveOptions{Interface: "lo", BPF: "tcp port 5060"}, d); err == nil || !strings.Contains(err.Error(), "tcpdump -ddd") {
		t.Fatalf("a filter expression: %v", err)
	}
	// A user filter that drops everything: nothing is delivered.
	drop, _ := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	var c collector
	port, tx := udpSink(t)
	d2, stop := startLive(t, mustPorts(t, strconv.Itoa(port)), c.handle, LiveOptions{BPF: fmt.Sprintf("1\n%d %d %d %d\n", drop[0].Op, drop[0].Jt, drop[0].Jf, drop[0].K)})
	tx.Write([]byte(sipMsg("OPTIONS", "filtered", 0)))
	time.Sleep(200 * time.Millisecond)
	stop()
	// Frames queued before the kernel attaches the filter (other loopback
	// traffic, e.g. parallel tests) may still be counted; our datagram,
	// sent after the filter is in place, must not be delivered.
	if len(c.all()) != 0 {
		t.Fatalf("the filter let %d through, stats %+v", len(c.all()), d2.Stats())
	}
}

func TestLiveAny(t *testing.T) {
	needRoot(t)
	port, tx := udpSink(t)
	var c collector
	d, stop := startLive(t, mustPorts(t, strconv.Itoa(port)), c.handle, LiveOptions{Interface: "any"})
	defer stop()
	tx.Write([]byte(sipMsg("OPTIONS", "any", 0)))
	waitFor(func() bool { return len(c.all()) >= 1 })
	time.Sleep(100 * time.Millisecond)
	stop()
	if got := c.payloads(); len(got) != 1 || got[0] != sipMsg("OPTIONS", "any", 0) {
		t.Fatalf("got %q, stats %+v", got, d.Stats())
	}
}

// TestLiveSipp runs SIPp's built-in UAC against its UAS on loopback, over
// UDP and over TCP, and checks that the capture saw each INVITE once.
func TestLiveSipp(t *testing.T) {
	needRoot(t)
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed (apt-get install sip-tester)")
	}
	for _, tr := range []struct{ name, flag string }{{"udp", "u1"}, {"tcp", "t1"}} {
		t.Run(tr.name, func(t *testing.T) {
			uasPort, uacPort := freePort(t, tr.name), freePort(t, tr.name)
			var mu sync.Mutex
			invites := map[string]int{}
			d, stop := startLive(t, mustPorts(t, fmt.Sprintf("%d,%d", uasPort, uacPort)), func(p *sip.Packet) {
				if strings.HasPrefix(string(p.Payload), "INVITE ") {
					mu.Lock()
					invites[callID(string(p.Payload))]++
					mu.Unlock()
				}
			}, LiveOptions{})
			defer stop()

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			uas := exec.CommandContext(ctx, sipp, "-sn", "uas", "-t", tr.flag, "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort), "-nostdin")
			uas.Dir = t.TempDir()
			if err := uas.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { uas.Process.Kill(); uas.Wait() }()
			time.Sleep(300 * time.Millisecond)
			const calls = 5
			uac := exec.CommandContext(ctx, sipp, "-sn", "uac", "-t", tr.flag, "-i", "127.0.0.1", "-p", strconv.Itoa(uacPort),
				"-m", strconv.Itoa(calls), "-r", "50", "-d", "50", "-nostdin", "-timeout", "20s", "-timeout_error",
				fmt.Sprintf("127.0.0.1:%d", uasPort))
			uac.Dir = t.TempDir()
			if out, err := uac.CombinedOutput(); err != nil {
				t.Fatalf("sipp uac: %v\n%s", err, lastLines(string(out), 20))
			}
			waitFor(func() bool { mu.Lock(); defer mu.Unlock(); return len(invites) >= calls })
			time.Sleep(100 * time.Millisecond)
			stop()
			mu.Lock()
			defer mu.Unlock()
			t.Logf("stats %+v", d.Stats())
			if len(invites) != calls {
				t.Fatalf("saw %d calls' INVITEs, want %d (stats %+v)", len(invites), calls, d.Stats())
			}
			for id, n := range invites {
				if n != 1 {
					t.Errorf("INVITE of %s seen %d times", id, n)
				}
			}
		})
	}
}

func freePort(t *testing.T, network string) int {
	if network == "tcp" {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func callID(msg string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Call-ID:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func lastLines(s string, n int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// TestLiveDrops overflows a one-block ring while the handler stalls and
// checks that the kernel's drops reach Stats.Drops.
func TestLiveDrops(t *testing.T) {
	needRoot(t)
	port, tx := udpSink(t)
	var once sync.Once
	d, stop := startLive(t, mustPorts(t, strconv.Itoa(port)), func(*sip.Packet) {
		once.Do(func() { time.Sleep(300 * time.Millisecond) })
	}, LiveOptions{RingMiB: 1})
	defer stop()
	msg := []byte(sipMsg("MESSAGE", "flood", 1000))
	for range 3000 {
		tx.Write(msg)
	}
	time.Sleep(1200 * time.Millisecond) // past the 1 s stats poll
	stop()
	st := d.Stats()
	t.Logf("stats %+v", st)
	if st.Drops == 0 {
		t.Fatal("no kernel drops counted")
	}
	if st.SIP+st.Drops+st.Duplicates == 0 || st.SIP >= 3000 {
		t.Fatalf("stats %+v", st)
	}
}
