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
	DocPath    string        // the performance page to write (docs/PERFORMANCE.md); none when empty
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

// target is p's address on network ("unix" or "tcp").
func (p *peer) target(network string) Target {
	if network == "unix" {
		return p.unix
	}
	return p.tcp
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
	if o.SnapshotCalls <= 0 {
		o.SnapshotCalls = SnapshotCalls
	}
	for _, s := range o.Sections {
		if !slices.Contains(Sections(), s) {
			return nil, fmt.Errorf("unknown section %q (sections: %s)", s, strings.Join(Sections(), ", "))
		}
	}
	dir, err := os.MkdirTemp("", "tapline-bench-std-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	s := &standardRun{o: o, dir: dir, ctx: ctx, rep: &Report{Machine: ThisMachine(), Started: time.Now()}}
	defer s.stopPeers()
	if err := s.startPeers(); err != nil {
		return nil, err
	}
	s.oneShotSection()
	s.sessionSection()
	s.pipelineSection()
	s.cryptoSection()
	if o.wants("snapshot") {
		if err := snapshotSection(ctx, o, s.rep, dir, s.run); err != nil {
			s.rep.Notes = append(s.rep.Notes, "snapshot: "+err.Error())
		}
	}
	if err := ctx.Err(); err != nil {
		return s.rep, err
	}
	return s.rep, WriteStandardReports(o.OutDir, o.DocPath, s.rep)
}

// standardRun is one run of the standard comparison: its options, the
// peers it started and the report it fills.
type standardRun struct {
	ctx context.Context
	o   StandardOptions
	dir string
	rep *Report
	key crypto.Key

	tl, floorOne, floorSess, echo *peer
	redis, haproxy                *peer // nil when not installed or not started
}

func (s *standardRun) logf(format string, a ...any) { fmt.Fprintf(s.o.Log, format+"\n", a...) }

// startPeers starts tapline (default configuration plus a static key), the
// floor and echo servers, and Redis and HAProxy when installed; a peer the
// comparison can do without is named in the report's Skipped instead.
func (s *standardRun) startPeers() error {
	var err error
	if s.key, err = crypto.GenerateKey(); err != nil {
		return err
	}
	kb, ib := s.key.Base64()
	if s.tl, err = startTapline(&s.o, s.dir, "tapline", "--manager-aes-key", kb, "--manager-aes-iv", ib); err != nil {
		return err
	}
	s.logf("started tapline (%s, pid %d)", s.o.TaplineBin, s.tl.pid())
	if s.floorOne, err = startSelfBuiltin(s.o.SelfBin, "floor", true); err != nil {
		return err
	}
	if s.floorSess, err = startSelfBuiltin(s.o.SelfBin, "floor", false); err != nil {
		return err
	}
	if s.echo, err = startSelfBuiltin(s.o.SelfBin, "echo", false); err != nil {
		return err
	}
	s.logf("started floor (one-shot and session) and echo")
	if err := s.startRedis(); err != nil {
		return err
	}
	if err := s.startHAProxy(); err != nil {
		return err
	}
	// Sanity: tapline answers what the bench will send.
	if _, err := clients.Do(s.ctx, "tcp", s.tl.tcp.Addr, "ping"); err != nil {
		return fmt.Errorf("tapline does not answer: %w", err)
	}
	return nil
}

// stopPeers stops every peer that was started (stop accepts nil).
func (s *standardRun) stopPeers() {
	for _, p := range []*peer{s.haproxy, s.redis, s.echo, s.floorSess, s.floorOne, s.tl} {
		p.stop()
	}
}

// optional keeps a peer the comparison can do without: when it fails to
// start, the reason goes to the report and the peer stays nil.
func (s *standardRun) optional(name, what string, p *peer, err error) *peer {
	if err != nil {
		s.rep.Skipped = append(s.rep.Skipped, name+": "+err.Error())
		return nil
	}
	s.logf("started %s (pid %d)", what, p.pid())
	return p
}

func (s *standardRun) startRedis() error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		s.rep.Skipped = append(s.rep.Skipped, "redis: redis-server is not installed")
		return nil
	}
	rp, err := freePort()
	if err != nil {
		return err
	}
	sock := filepath.Join(s.dir, "redis.sock")
	p, err := startProcess("redis",
		Target{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", rp)}, Target{Network: "unix", Addr: sock},
		filepath.Join(s.dir, "redis.log"),
		bin, "--port", fmt.Sprint(rp), "--bind", "127.0.0.1", "--unixsocket", sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--maxclients", "10000", "--dir", s.dir)
	s.redis = s.optional("redis", "redis-server", p, err)
	return nil
}

func (s *standardRun) startHAProxy() error {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		s.rep.Skipped = append(s.rep.Skipped, "haproxy: not installed (apt-get install haproxy)")
		return nil
	}
	hp, err1 := freePort()
	fp, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	sock := filepath.Join(s.dir, "haproxy.sock")
	cfgPath := filepath.Join(s.dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, haproxyConfig, sock, hp, fp), 0o600); err != nil {
		return err
	}
	p, err := startProcess("haproxy",
		Target{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", hp)}, Target{Network: "unix", Addr: sock},
		filepath.Join(s.dir, "haproxy.log"), bin, "-db", "-f", cfgPath)
	s.haproxy = s.optional("haproxy", "haproxy", p, err)
	return nil
}

// measure warms up (connections, caches, the server's pools), discards
// that, and runs one point; nil when the section is not wanted or the
// point failed (the failure goes to the report's notes).
func (s *standardRun) measure(section string, c Config) *Result {
	if s.ctx.Err() != nil || !s.o.wants(section) {
		return nil
	}
	w := c
	w.Duration, w.ServerPID = min(s.o.Point/4, 300*time.Millisecond), 0
	if _, err := Run(s.ctx, w); err != nil {
		s.rep.Notes = append(s.rep.Notes, fmt.Sprintf("%s %s warm-up: %v", c.Label, c.Mode, err))
		return nil
	}
	c.Duration = s.o.Point
	r, err := Run(s.ctx, c)
	if err != nil {
		s.rep.Notes = append(s.rep.Notes, fmt.Sprintf("%s %s: %v", c.Label, c.Mode, err))
		return nil
	}
	r.Note = section
	s.logf("%-9s %-8s %-5s %-8s %-8s c=%-3d d=%-2d %10s req/s  p99 %-9s errors %s",
		section, r.Label, r.Transport, r.Mode, r.Crypto, r.Concurrency, r.Depth,
		formatRate(r.Throughput), formatLatency(r.Latency.P99), formatErrors(r.Errors))
	return r
}

// run measures one point into the report.
func (s *standardRun) run(section string, c Config) {
	if r := s.measure(section, c); r != nil {
		s.rep.Results = append(s.rep.Results, r)
	}
}

// compare runs the targets of one comparison twice, the second time in
// reverse order, and keeps each target's better run: on shared cores a
// neighbour's burst only ever slows a point down, and the order no longer
// favours whoever runs last.
func (s *standardRun) compare(section string, cfgs ...Config) {
	best := make([]*Result, len(cfgs))
	keep := func(i int) {
		if r := s.measure(section, cfgs[i]); r != nil && (best[i] == nil || r.Throughput > best[i].Throughput) {
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
			s.rep.Results = append(s.rep.Results, r)
		}
	}
}

// peers are the line-protocol peers of one comparison (the floor first),
// each a Config for cfg's mode with its own request.
func (s *standardRun) peers(floor *peer, network string, base Config) []Config {
	term := "\n"
	if base.Mode == OneShot {
		term = ""
	}
	out := []Config{withTarget(base, "floor", floor.target(network), floor.pid(), "ping", term)}
	if s.haproxy != nil && base.Mode == OneShot {
		out = append(out, withTarget(base, "haproxy", s.haproxy.target(network), s.haproxy.pid(), "show info", "\n\n"))
	}
	if s.redis != nil {
		out = append(out, withTarget(base, "redis", s.redis.target(network), s.redis.pid(), "PING", "\r\n"))
	}
	return out
}

// withTarget is base aimed at a raw-line peer.
func withTarget(base Config, label string, t Target, pid int, line, term string) Config {
	base.Label, base.Target, base.ServerPID, base.RawLine, base.Terminator = label, t, pid, line, term
	base.Command = ""
	return base
}

// oneShotSection: a small command, one connection per request.
func (s *standardRun) oneShotSection() {
	for _, network := range []string{"tcp", "unix"} {
		for _, c := range []int{16, 64} {
			tl := Config{Label: "tapline", Target: s.tl.target(network), Mode: OneShot, Command: "getversion", Concurrency: c, ServerPID: s.tl.pid()}
			s.compare("oneshot", append([]Config{tl}, s.peers(s.floorOne, network, tl)...)...)
		}
	}
}

// sessionSection: JSON sessions, one request in flight per connection,
// and the echo server for the client's own headroom.
func (s *standardRun) sessionSection() {
	for _, c := range []int{1, 16, 64} {
		tl := Config{Label: "tapline", Target: s.tl.tcp, Mode: Session, Command: "ping", Concurrency: c, ServerPID: s.tl.pid()}
		s.compare("session", append([]Config{tl}, s.peers(s.floorSess, "tcp", tl)...)...)
	}
	s.run("session", Config{Label: "echo", Target: s.echo.tcp, Mode: Session, RawLine: "ping", Terminator: "\n", Concurrency: 16, ServerPID: s.echo.pid()})
}

// pipelineSection: 16 requests in flight per connection.
func (s *standardRun) pipelineSection() {
	for _, c := range []int{1, 16} {
		tl := Config{Label: "tapline", Target: s.tl.tcp, Mode: Pipeline, Depth: 16, Command: "ping", Concurrency: c, ServerPID: s.tl.pid()}
		s.compare("pipeline", append([]Config{tl}, s.peers(s.floorSess, "tcp", tl)...)...)
	}
	s.run("pipeline", Config{Label: "echo", Target: s.echo.tcp, Mode: Pipeline, Depth: 16, RawLine: "ping", Terminator: "\n", Concurrency: 16, ServerPID: s.echo.pid()})
}

// cryptoSection: what each framing costs tapline, on small requests and a
// 1 MiB reply.
func (s *standardRun) cryptoSection() {
	var oneshotPing, sessionPing, blob []Config
	for _, cm := range []string{"none", "legacy", "hardened"} {
		base := Config{Label: "tapline", Target: s.tl.tcp, Crypto: cm, Key: s.key, ServerPID: s.tl.pid()}
		ping, b := base, base
		ping.Mode, ping.Command, ping.Concurrency = OneShot, "ping", 16
		b.Mode, b.Command, b.Concurrency = OneShot, "test_blob 1048576", 4
		oneshotPing, blob = append(oneshotPing, ping), append(blob, b)
		if cm != "legacy" {
			ping.Mode = Session
			sessionPing = append(sessionPing, ping)
		}
	}
	s.compare("crypto", oneshotPing...)
	s.compare("crypto", sessionPing...)
	s.compare("crypto", blob...)
}

// snapshotSection measures listcalls over a table of o.SnapshotCalls live
// calls: the encoder alone, the wire rate, and the p99 of small commands on
// other connections idle and while listings stream back to back.
func snapshotSection(ctx context.Context, o StandardOptions, rep *Report, dir string, run func(string, Config)) error {
	pcap := filepath.Join(dir, "calls.pcap")
	if err := writeCallsCapture(pcap, o.SnapshotCalls); err != nil {
		return err
	}
	defer os.Remove(pcap)
	enc, err := measureEncoding(ctx, pcap, o.Point)
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
