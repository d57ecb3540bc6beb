package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"tapline/clients"
	"tapline/crypto"
)

// StandardOptions configures the standard comparison (make bench).
type StandardOptions struct {
	OutDir     string        // where latest.md, latest.json and latest.png go
	TaplineBin string        // tapline built with -tags tapline_testcmds (test_blob for the 1 MiB reply)
	SelfBin    string        // a tapline binary that has `bench --serve` (floor and echo run as their own processes)
	Point      time.Duration // length of each point
	Sections   []string      // run only these sections (Sections()); all when empty
	// SnapshotCalls is the live table of the snapshot section (default
	// SnapshotCalls; tests use fewer).
	SnapshotCalls int
	Log           io.Writer // progress lines
}

// peer is a server process the comparison started.
type peer struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	tcp  Target
	unix Target
}

func (p *peer) stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *peer) pid() int {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// waitDial polls until the address accepts connections.
func waitDial(network, addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout(network, addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s %s not ready after 10s", network, addr)
}

func startProcess(name string, tcp, unix Target, logPath string, argv ...string) (*peer, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	lf.Close()
	p := &peer{name: name, cmd: cmd, tcp: tcp, unix: unix, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	for _, t := range []Target{tcp, unix} {
		if t.Network == "" {
			continue
		}
		if err := waitDial(t.Network, t.Addr, p.done); err != nil {
			p.stop()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(log)))
		}
	}
	return p, nil
}

// startTapline runs o.TaplineBin's server on a free loopback port and the
// socket dir/name.sock, logging to dir/name.log; extra flags come before
// --log-level warn. The process is "tapline", or "tapline (name)".
func startTapline(o *StandardOptions, dir, name string, extra ...string) (*peer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, name+".sock")
	label := "tapline"
	if name != label {
		label += " (" + name + ")"
	}
	argv := append([]string{o.TaplineBin, "serve", "--managerport", fmt.Sprint(port), "--managersocket", sock}, extra...)
	argv = append(argv, "--log-level", "warn")
	return startProcess(label,
		Target{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", port)}, Target{Network: "unix", Addr: sock},
		filepath.Join(dir, name+".log"), argv...)
}

// startSelfBuiltin runs `bench --serve kind` as its own process.
func startSelfBuiltin(self, kind string, oneShot bool) (*peer, error) {
	mode := Session
	if oneShot {
		mode = OneShot
	}
	cmd := exec.Command(self, "bench", "--serve", kind, "--mode", mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &peer{name: kind, cmd: cmd, done: make(chan struct{})}
	rd := bufio.NewReader(out)
	var line string
	for err == nil && !strings.HasPrefix(line, "tcp:") {
		line, err = rd.ReadString('\n')
	}
	// Wait only after the first line: Wait closes the stdout pipe.
	go func() { _, _ = io.Copy(io.Discard, rd); _ = cmd.Wait(); close(p.done) }()
	f := strings.Fields(line)
	if err != nil || len(f) != 2 {
		p.stop()
		return nil, fmt.Errorf("%s: no addresses (%q): %v", kind, line, err)
	}
	if p.tcp, err = ParseTarget(f[0]); err == nil {
		p.unix, err = ParseTarget(f[1])
	}
	if err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

const haproxyConfig = `global
    maxconn 4096
    stats socket %s mode 600 level admin
    stats socket ipv4@127.0.0.1:%d level admin
    stats maxconn 4096
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend idle
    bind 127.0.0.1:%d
`

func (o *StandardOptions) wants(section string) bool {
	return len(o.Sections) == 0 || slices.Contains(o.Sections, section)
}

// Standard runs the comparison of issue 5 and writes its reports.
func Standard(ctx context.Context, o StandardOptions) (*Report, error) {
	if o.Point <= 0 {
		o.Point = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	for _, s := range o.Sections {
		if !slices.Contains(Sections(), s) {
			return nil, fmt.Errorf("unknown section %q (sections: %s)", s, strings.Join(Sections(), ", "))
		}
	}
	rep := &Report{Machine: ThisMachine(), Started: time.Now()}
	dir, err := os.MkdirTemp("", "tapline-bench-std-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	logf := func(format string, a ...any) { fmt.Fprintf(o.Log, format+"\n", a...) }

	// tapline: the real binary, default configuration plus a static key.
	key, err := crypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	kb, ib := key.Base64()
	tl, err := startTapline(&o, dir, "tapline", "--manager-aes-key", kb, "--manager-aes-iv", ib)
	if err != nil {
		return nil, err
	}
	defer tl.stop()
	logf("started tapline (%s, pid %d)", o.TaplineBin, tl.pid())

	floorOne, err := startSelfBuiltin(o.SelfBin, "floor", true)
	if err != nil {
		return nil, err
	}
	defer floorOne.stop()
	floorSess, err := startSelfBuiltin(o.SelfBin, "floor", false)
	if err != nil {
		return nil, err
	}
	defer floorSess.stop()
	echo, err := startSelfBuiltin(o.SelfBin, "echo", false)
	if err != nil {
		return nil, err
	}
	defer echo.stop()
	logf("started floor (one-shot and session) and echo")

	// optional keeps a peer the comparison can do without: when it fails
	// to start, the reason goes to the report and the peer stays nil (stop
	// and pid accept nil).
	optional := func(name, what string, p *peer, err error) *peer {
		if err != nil {
			rep.Skipped = append(rep.Skipped, name+": "+err.Error())
			return nil
		}
		logf("started %s (pid %d)", what, p.pid())
		return p
	}

	var redis *peer
	if bin, err := exec.LookPath("redis-server"); err != nil {
		rep.Skipped = append(rep.Skipped, "redis: redis-server is not installed")
	} else {
		rp, err := freePort()
		if err != nil {
			return nil, err
		}
		sock := filepath.Join(dir, "redis.sock")
		p, err := startProcess("redis",
			Target{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", rp)}, Target{Network: "unix", Addr: sock},
			filepath.Join(dir, "redis.log"),
			bin, "--port", fmt.Sprint(rp), "--bind", "127.0.0.1", "--unixsocket", sock, "--unixsocketperm", "700",
			"--save", "", "--appendonly", "no", "--maxclients", "10000", "--dir", dir)
		redis = optional("redis", "redis-server", p, err)
	}
	defer redis.stop()

	var haproxy *peer
	if bin, err := exec.LookPath("haproxy"); err != nil {
		rep.Skipped = append(rep.Skipped, "haproxy: not installed (apt-get install haproxy)")
	} else {
		hp, err1 := freePort()
		fp, err2 := freePort()
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		sock := filepath.Join(dir, "haproxy.sock")
		cfgPath := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(cfgPath, fmt.Appendf(nil, haproxyConfig, sock, hp, fp), 0o600); err != nil {
			return nil, err
		}
		p, err := startProcess("haproxy",
			Target{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", hp)}, Target{Network: "unix", Addr: sock},
			filepath.Join(dir, "haproxy.log"), bin, "-db", "-f", cfgPath)
		haproxy = optional("haproxy", "haproxy", p, err)
	}
	defer haproxy.stop()

	// Sanity: every peer answers what the bench will send.
	if _, err := clients.Do(ctx, "tcp", tl.tcp.Addr, "ping"); err != nil {
		return nil, fmt.Errorf("tapline does not answer: %w", err)
	}

	measure := func(section string, c Config) *Result {
		if ctx.Err() != nil || !o.wants(section) {
			return nil
		}
		// Warm up (connections, caches, the server's pools) and discard.
		w := c
		w.Duration, w.ServerPID = min(o.Point/4, 300*time.Millisecond), 0
		if _, err := Run(ctx, w); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s %s warm-up: %v", c.Label, c.Mode, err))
			return nil
		}
		c.Duration = o.Point
		r, err := Run(ctx, c)
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s %s: %v", c.Label, c.Mode, err))
			return nil
		}
		r.Note = section
		logf("%-9s %-8s %-5s %-8s %-8s c=%-3d d=%-2d %10s req/s  p99 %-9s errors %s",
			section, r.Label, r.Transport, r.Mode, r.Crypto, r.Concurrency, r.Depth,
			FormatRate(r.Throughput), FormatLatency(r.Latency.P99), FormatErrors(r.Errors))
		return r
	}
	run := func(section string, c Config) {
		if r := measure(section, c); r != nil {
			rep.Results = append(rep.Results, r)
		}
	}
	// compare runs the targets of one comparison twice, the second time in
	// reverse order, and keeps each target's better run: on shared cores a
	// neighbour's burst only ever slows a point down, and the order no
	// longer favours whoever runs last.
	compare := func(section string, cfgs ...Config) {
		best := make([]*Result, len(cfgs))
		keep := func(i int) {
			if r := measure(section, cfgs[i]); r != nil && (best[i] == nil || r.Throughput > best[i].Throughput) {
				best[i] = r
			}
		}
		for i := range cfgs {
			keep(i)
		}
		for i := len(cfgs) - 1; i >= 0; i-- {
			keep(i)
		}
		for _, r := range best {
			if r != nil {
				rep.Results = append(rep.Results, r)
			}
		}
	}
	tr := func(p *peer, network string) Target {
		if network == "unix" {
			return p.unix
		}
		return p.tcp
	}

	// 1. One-shot small command, one connection per request.
	for _, network := range []string{"tcp", "unix"} {
		for _, c := range []int{16, 64} {
			cfgs := []Config{
				{Label: "tapline", Target: tr(tl, network), Mode: OneShot, Command: "getversion", Concurrency: c, ServerPID: tl.pid()},
				{Label: "floor", Target: tr(floorOne, network), Mode: OneShot, RawLine: "ping", Concurrency: c, ServerPID: floorOne.pid()},
			}
			if haproxy != nil {
				cfgs = append(cfgs, Config{Label: "haproxy", Target: tr(haproxy, network), Mode: OneShot, RawLine: "show info", Terminator: "\n\n", Concurrency: c, ServerPID: haproxy.pid()})
			}
			if redis != nil {
				cfgs = append(cfgs, Config{Label: "redis", Target: tr(redis, network), Mode: OneShot, RawLine: "PING", Terminator: "\r\n", Concurrency: c, ServerPID: redis.pid()})
			}
			compare("oneshot", cfgs...)
		}
	}
	// 2. Sessions, one request in flight per connection.
	for _, c := range []int{1, 16, 64} {
		cfgs := []Config{
			{Label: "tapline", Target: tl.tcp, Mode: Session, Command: "ping", Concurrency: c, ServerPID: tl.pid()},
			{Label: "floor", Target: floorSess.tcp, Mode: Session, RawLine: "ping", Terminator: "\n", Concurrency: c, ServerPID: floorSess.pid()},
		}
		if redis != nil {
			cfgs = append(cfgs, Config{Label: "redis", Target: redis.tcp, Mode: Session, RawLine: "PING", Terminator: "\r\n", Concurrency: c, ServerPID: redis.pid()})
		}
		compare("session", cfgs...)
	}
	run("session", Config{Label: "echo", Target: echo.tcp, Mode: Session, RawLine: "ping", Terminator: "\n", Concurrency: 16, ServerPID: echo.pid()})
	// 3. Pipelined, depth 16.
	for _, c := range []int{1, 16} {
		cfgs := []Config{
			{Label: "tapline", Target: tl.tcp, Mode: Pipeline, Depth: 16, Command: "ping", Concurrency: c, ServerPID: tl.pid()},
			{Label: "floor", Target: floorSess.tcp, Mode: Pipeline, Depth: 16, RawLine: "ping", Terminator: "\n", Concurrency: c, ServerPID: floorSess.pid()},
		}
		if redis != nil {
			cfgs = append(cfgs, Config{Label: "redis", Target: redis.tcp, Mode: Pipeline, Depth: 16, RawLine: "PING", Terminator: "\r\n", Concurrency: c, ServerPID: redis.pid()})
		}
		compare("pipeline", cfgs...)
	}
	run("pipeline", Config{Label: "echo", Target: echo.tcp, Mode: Pipeline, Depth: 16, RawLine: "ping", Terminator: "\n", Concurrency: 16, ServerPID: echo.pid()})
	// 4. Encryption cost.
	var oneshotPing, sessionPing, blob []Config
	for _, cm := range []string{"none", "legacy", "hardened"} {
		oneshotPing = append(oneshotPing, Config{Label: "tapline", Target: tl.tcp, Mode: OneShot, Crypto: cm, Key: key, Command: "ping", Concurrency: 16, ServerPID: tl.pid()})
		blob = append(blob, Config{Label: "tapline", Target: tl.tcp, Mode: OneShot, Crypto: cm, Key: key, Command: "test_blob 1048576", Concurrency: 4, ServerPID: tl.pid()})
		if cm != "legacy" {
			sessionPing = append(sessionPing, Config{Label: "tapline", Target: tl.tcp, Mode: Session, Crypto: cm, Key: key, Command: "ping", Concurrency: 16, ServerPID: tl.pid()})
		}
	}
	compare("crypto", oneshotPing...)
	compare("crypto", sessionPing...)
	compare("crypto", blob...)
	// 5. A large snapshot: listcalls of 100k live calls.
	if o.SnapshotCalls <= 0 {
		o.SnapshotCalls = SnapshotCalls
	}
	if o.wants("snapshot") {
		if err := snapshotSection(ctx, o, rep, dir, run); err != nil {
			rep.Notes = append(rep.Notes, "snapshot: "+err.Error())
		}
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, writeStandard(o.OutDir, rep)
}

// snapshotSection measures listcalls over a table of o.SnapshotCalls live
// calls: the encoder alone, the wire rate, and the p99 of small commands on
// other connections idle and while listings stream back to back.
func snapshotSection(ctx context.Context, o StandardOptions, rep *Report, dir string, run func(string, Config)) error {
	pcap := filepath.Join(dir, "calls.pcap")
	if err := WriteCallsCapture(pcap, o.SnapshotCalls); err != nil {
		return err
	}
	defer os.Remove(pcap)
	enc, err := MeasureEncoding(ctx, pcap, o.Point)
	if err != nil {
		return err
	}
	rep.Encoding = enc
	tl, err := startTapline(&o, dir, "snapshot",
		"--replay", pcap, "--replay-speed", "max", "--call-timeout", "3600s")
	if err != nil {
		return err
	}
	defer tl.stop()
	if err := waitCalls(ctx, tl.tcp, o.SnapshotCalls); err != nil {
		return err
	}
	list := Config{Label: "tapline", Target: tl.tcp, Mode: OneShot, Command: "listcalls", Concurrency: 1, ServerPID: tl.pid()}
	ping := Config{Label: "ping idle", Target: tl.tcp, Mode: Session, Command: "ping", Concurrency: 1, ServerPID: tl.pid()}
	run("snapshot", list)
	run("snapshot", ping)
	// Listings stream back to back on one connection after another while
	// the pings run on their own connection.
	bg := list
	bg.Label, bg.ServerPID, bg.Duration = "tapline (with pings)", 0, o.Point+300*time.Millisecond
	type out struct {
		r   *Result
		err error
	}
	done := make(chan out, 1)
	go func() { r, err := Run(ctx, bg); done <- out{r, err} }()
	time.Sleep(200 * time.Millisecond)
	ping.Label, ping.ServerPID = "ping during listcalls", 0
	run("snapshot", ping)
	b := <-done
	if b.err != nil {
		return fmt.Errorf("listcalls with pings: %w", b.err)
	}
	b.r.Note = "snapshot"
	rep.Results = append(rep.Results, b.r)
	for _, r := range rep.Results {
		if r.Note == "snapshot" {
			r.TableCalls = o.SnapshotCalls
		}
	}
	return nil
}

// waitCalls waits until the server's table holds want calls.
func waitCalls(ctx context.Context, t Target, want int) error {
	deadline := time.Now().Add(2 * time.Minute)
	last := ""
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b, err := clients.Do(ctx, t.Network, t.Addr, "totalcalls")
		last = strings.TrimSpace(string(b))
		if err == nil && last == fmt.Sprint(want) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the replay did not reach %d calls (totalcalls %q)", want, last)
}
