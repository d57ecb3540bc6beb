package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"tapline/bench"
	"tapline/crypto"
)

// benchFlags are the flags of `tapline bench`.
type benchFlags struct {
	targets, labels []string
	mode            string
	depth           int
	cryptoMode      string
	keyB64, ivB64   string
	command         string
	conc            []int
	duration        time.Duration
	requests        int64
	rawLine, term   string
	timeout         time.Duration
	jsonOut         string
	plotOut, mdOut  string
	standard        bool
	outDir, docPath string
	reportFrom      string
	taplineBin      string
	pointDur        time.Duration
	sections        []string
	snapCalls       int
	serveTarget     string
	cpuProfile      string
	token           string
}

const benchLong = `bench drives a line-protocol target and reports throughput, latency
percentiles (HDR histogram), errors by kind, bytes and client CPU.

Targets: tcp:HOST:PORT, unix:PATH, or a server started in-process on loopback:
floor (a minimal gnet server answering pong per line), echo (writes back what
it gets) and tapline (tapline's own server with a generated key).
--target may be repeated; each target runs the whole --concurrency sweep.

Modes: oneshot (dial, one line, half-close, read until close, like nc -N),
session (tapline JSON session, one request in flight), pipeline (--depth in
flight). --raw-line sends a plain line instead (Redis inline commands,
HAProxy's runtime API); --reply-terminator ends each reply (escapes such as
\r\n are understood).

--standard runs the comparison of issue 5 (make bench): it builds nothing,
starts tapline from --tapline-bin, redis-server and haproxy when installed,
and writes latest.md, latest.json and the chart latest.png under --out, and
the performance page to --doc. Its sections (--sections): oneshot, session,
pipeline, crypto, and snapshot, where a second tapline replays a synthetic
capture of --snapshot-calls live calls and serves listcalls of the whole
table while pings run on another connection.

--report-from FILE rewrites those reports from a saved latest.json without
measuring anything.`

func benchCmd() *cobra.Command {
	var bf benchFlags
	cmd := &cobra.Command{
		Use:   "bench --target tcp:HOST:PORT|unix:PATH|floor|echo|tapline [flags]",
		Short: "load-test a manager socket (or any line protocol) and report throughput and latency",
		Long:  benchLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return bf.run(ctx)
		},
	}
	bf.register(cmd.Flags())
	return cmd
}

func (bf *benchFlags) register(f *pflag.FlagSet) {
	f.StringArrayVar(&bf.targets, "target", nil, "tcp:HOST:PORT, unix:PATH, floor, echo or tapline (repeatable)")
	f.StringArrayVar(&bf.labels, "label", nil, "name of the matching --target in reports (repeatable)")
	f.StringVar(&bf.mode, "mode", bench.OneShot, "oneshot, session or pipeline")
	f.IntVar(&bf.depth, "depth", 16, "requests in flight per connection (pipeline mode)")
	f.StringVar(&bf.cryptoMode, "crypto", "none", "none, legacy or hardened")
	f.StringVar(&bf.keyB64, "key-b64", "", "base64 manager key (crypto modes; generated for --target tapline)")
	f.StringVar(&bf.ivB64, "iv-b64", "", "base64 manager IV, with --key-b64")
	f.StringVar(&bf.command, "command", "", "tapline command (default ping)")
	f.IntSliceVar(&bf.conc, "concurrency", []int{1, 16, 64}, "connections; a list runs a sweep")
	f.DurationVar(&bf.duration, "duration", 5*time.Second, "length of each point")
	f.Int64Var(&bf.requests, "requests", 0, "stop each point after this many requests instead of --duration")
	f.StringVar(&bf.rawLine, "raw-line", "", `raw mode: send this line as is (e.g. "PING", "show info")`)
	f.StringVar(&bf.term, "reply-terminator", "", `raw mode: a reply ends with this (e.g. "\r\n"); empty: at EOF`)
	f.DurationVar(&bf.timeout, "timeout", 5*time.Second, "per-request timeout")
	f.StringVar(&bf.jsonOut, "json", "", "write results as JSON to FILE")
	f.StringVar(&bf.plotOut, "plot", "", "write a chart (throughput and p99 by concurrency) to FILE.png or FILE.svg")
	f.StringVar(&bf.mdOut, "markdown", "", "also write the Markdown table to FILE")
	f.BoolVar(&bf.standard, "standard", false, "run the standard comparison (make bench)")
	f.StringVar(&bf.outDir, "out", "bench/results", "directory of the standard comparison's reports")
	f.StringVar(&bf.docPath, "doc", "", "also write the performance page (docs/PERFORMANCE.md) of --standard or --report-from")
	f.StringVar(&bf.reportFrom, "report-from", "", "rewrite the standard reports under --out (and --doc) from this latest.json, measuring nothing")
	f.StringVar(&bf.taplineBin, "tapline-bin", "bin/tapline-bench", "tapline binary for --standard (built with -tags tapline_testcmds for the 1 MiB reply)")
	f.DurationVar(&bf.pointDur, "point", 2*time.Second, "length of each point of --standard")
	f.IntVar(&bf.snapCalls, "snapshot-calls", bench.SnapshotCalls, "live calls in the snapshot section's table")
	f.StringSliceVar(&bf.sections, "sections", nil, "run only these sections of --standard ("+strings.Join(bench.Sections(), ",")+"); the report then holds only them")
	f.StringVar(&bf.serveTarget, "serve", "", "run a built-in target (floor or echo) until interrupted and print its addresses; --mode oneshot closes after each reply")
	_ = f.MarkHidden("serve")
	f.StringVar(&bf.token, "token", "", "session and pipeline modes: run each point without and with this access token (auth first; "+
		"\"auto\" with --target tapline) and print the throughput ratio")
	f.StringVar(&bf.cpuProfile, "cpuprofile", "", "write a CPU profile of this process to FILE (with --target tapline it includes the server)")
}

// run picks what the flags ask for: a built-in target, reports from a saved
// run, the standard comparison, or a run against --target.
func (bf *benchFlags) run(ctx context.Context) error {
	switch {
	case bf.serveTarget != "":
		return serveBuiltin(ctx, bf.serveTarget, bf.mode == bench.OneShot)
	case bf.reportFrom != "":
		return reportFrom(bf.reportFrom, bf.outDir, bf.docPath)
	case bf.standard:
		return runStandard(ctx, bench.StandardOptions{OutDir: bf.outDir, DocPath: bf.docPath, TaplineBin: bf.taplineBin,
			Point: bf.pointDur, Sections: bf.sections, SnapshotCalls: bf.snapCalls})
	}
	if bf.cpuProfile != "" {
		stopProfile, err := startCPUProfile(bf.cpuProfile)
		if err != nil {
			return &exitError{1, err}
		}
		defer stopProfile()
	}
	base, err := bf.baseConfig()
	if err != nil {
		return &exitError{2, err}
	}
	rep := &bench.Report{Machine: bench.ThisMachine(), Started: time.Now()}
	for i, ts := range bf.targets {
		rs, err := bf.runTarget(ctx, base, i, ts)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, rs...)
	}
	return bf.writeOutputs(rep)
}

// baseConfig is the Config the flags describe, without target and
// concurrency.
func (bf *benchFlags) baseConfig() (bench.Config, error) {
	var cfg bench.Config
	if len(bf.targets) == 0 {
		return cfg, fmt.Errorf("--target is required")
	}
	tv, err := unescape(bf.term)
	if err != nil {
		return cfg, fmt.Errorf("--reply-terminator: %w", err)
	}
	rl, err := unescape(bf.rawLine)
	if err != nil {
		return cfg, fmt.Errorf("--raw-line: %w", err)
	}
	var key crypto.Key
	if bf.keyB64 != "" || bf.ivB64 != "" {
		if key, err = crypto.ParseKey(bf.keyB64, bf.ivB64); err != nil {
			return cfg, fmt.Errorf("--key-b64/--iv-b64: %w", err)
		}
	}
	return bench.Config{Mode: bf.mode, Depth: bf.depth, Crypto: bf.cryptoMode, Key: key, Command: bf.command,
		RawLine: rl, Terminator: tv, Duration: bf.duration, Requests: bf.requests, Timeout: bf.timeout}, nil
}

// runTarget runs the --concurrency sweep against the i-th --target.
func (bf *benchFlags) runTarget(ctx context.Context, cfg bench.Config, i int, ts string) ([]*bench.Result, error) {
	t, err := bench.ParseTarget(ts)
	if err != nil {
		return nil, &exitError{2, err}
	}
	cfg.Label, cfg.Target = ts, t
	if i < len(bf.labels) {
		cfg.Label = bf.labels[i]
	}
	stopTarget, err := startBuiltinFor(&cfg)
	if err != nil {
		return nil, err
	}
	defer stopTarget()
	auto := cfg.Token // the built-in tapline's token: used only with --token auto
	cfg.Token = ""
	if bf.token != "" {
		return bf.runTokenPairs(ctx, cfg, auto)
	}
	var out []*bench.Result
	for _, c := range bf.conc {
		cfg.Concurrency = c
		r, err := runWithProgress(ctx, cfg)
		if err != nil {
			return nil, &exitError{2, err}
		}
		out = append(out, r)
	}
	return out, nil
}

// runTokenPairs runs each point of the sweep without and with the access
// token, back to back, and prints what the access check costs: the
// throughput with the token relative to without (the target: the
// check costs at most 3 %).
func (bf *benchFlags) runTokenPairs(ctx context.Context, cfg bench.Config, auto string) ([]*bench.Result, error) {
	tok := bf.token
	if tok == "auto" {
		tok = auto
	}
	if tok == "" || cfg.Mode == bench.OneShot {
		return nil, &exitError{2, fmt.Errorf("--token needs --mode session or pipeline, and a token (auto: only with --target tapline)")}
	}
	var out []*bench.Result
	var lines []string
	for _, c := range bf.conc {
		cfg.Concurrency = c
		plain, with := cfg, cfg
		plain.Token, with.Token, with.Label = "", tok, cfg.Label+" +token"
		rp, err := runWithProgress(ctx, plain)
		if err != nil {
			return nil, &exitError{2, err}
		}
		rt, err := runWithProgress(ctx, with)
		if err != nil {
			return nil, &exitError{2, err}
		}
		out = append(out, rp, rt)
		if rp.Throughput > 0 {
			lines = append(lines, fmt.Sprintf("c=%d: with token / without = %.3f (%.0f vs %.0f req/s; access check cost %.1f %%)",
				c, rt.Throughput/rp.Throughput, rt.Throughput, rp.Throughput, 100*(1-rt.Throughput/rp.Throughput)))
		}
	}
	for _, l := range lines {
		fmt.Fprintln(os.Stderr, l)
	}
	return out, nil
}

// writeOutputs prints the table and writes --markdown, --json and --plot.
func (bf *benchFlags) writeOutputs(rep *bench.Report) error {
	if err := bench.Markdown(os.Stdout, rep.Results); err != nil {
		return err
	}
	fmt.Printf("\nMachine: %s\n", rep.Machine)
	if bf.mdOut != "" {
		f, err := os.Create(bf.mdOut)
		if err != nil {
			return &exitError{1, err}
		}
		_ = bench.Markdown(f, rep.Results)
		f.Close()
	}
	if bf.jsonOut != "" {
		if err := bench.WriteJSON(bf.jsonOut, rep); err != nil {
			return &exitError{1, err}
		}
	}
	if bf.plotOut != "" {
		if err := bench.Plot(bf.plotOut, "tapline bench", rep.Results); err != nil {
			return &exitError{1, err}
		}
	}
	return nil
}

// startCPUProfile profiles this process into path until the returned stop.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// reportFrom rewrites the standard reports from a saved run.
func reportFrom(jsonPath, outDir, docPath string) error {
	rep, err := bench.ReadJSON(jsonPath)
	if err != nil {
		return &exitError{1, err}
	}
	if err := bench.WriteStandardReports(outDir, docPath, rep); err != nil {
		return &exitError{1, err}
	}
	return nil
}

// unescape reads Go-style escapes (\r, \n, \t, \x00) in a flag value.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	return strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`)
}

// startBuiltinFor starts the in-process server a built-in target names and
// points cfg at it (TCP).
func startBuiltinFor(cfg *bench.Config) (func(), error) {
	switch cfg.Target.Builtin {
	case "":
		return func() {}, nil
	case "tapline":
		slog.SetLogLoggerLevel(slog.LevelWarn) // the in-process server's start/stop lines
		tl, err := bench.StartTapline(cfg.Key)
		if err != nil {
			return nil, err
		}
		cfg.Target, cfg.Key, cfg.Token = tl.TCP, tl.Key, tl.Token
		return func() { _ = tl.Stop() }, nil
	default:
		b, err := bench.StartBuiltin(cfg.Target.Builtin, cfg.Mode == bench.OneShot)
		if err != nil {
			return nil, err
		}
		cfg.Target = b.TCP
		if cfg.RawLine == "" {
			cfg.RawLine = "ping"
			if cfg.Mode != bench.OneShot && cfg.Terminator == "" {
				cfg.Terminator = "\n"
			}
		}
		return func() { _ = b.Stop() }, nil
	}
}

// runWithProgress runs one point with a progress bar on a terminal.
func runWithProgress(ctx context.Context, cfg bench.Config) (*bench.Result, error) {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		desc := fmt.Sprintf("%s %s c=%d", cfg.Label, cfg.Mode, cfg.Concurrency)
		var bar *progressbar.ProgressBar
		if cfg.Requests > 0 {
			bar = progressbar.NewOptions64(cfg.Requests, progressbar.OptionSetDescription(desc),
				progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		} else {
			bar = progressbar.NewOptions64(int64(cfg.Duration/time.Millisecond), progressbar.OptionSetDescription(desc),
				progressbar.OptionSetWriter(os.Stderr), progressbar.OptionClearOnFinish())
		}
		start := time.Now()
		cfg.Progress = func(done int64) {
			if cfg.Requests > 0 {
				_ = bar.Set64(done)
			} else {
				_ = bar.Set64(min(int64(time.Since(start)/time.Millisecond), int64(cfg.Duration/time.Millisecond)))
			}
		}
		defer func() { _ = bar.Finish() }()
	}
	return bench.Run(ctx, cfg)
}

// serveBuiltin runs floor or echo as its own process, so the standard
// comparison does not bill the floor's CPU to the client.
func serveBuiltin(ctx context.Context, kind string, oneShot bool) error {
	b, err := bench.StartBuiltin(kind, oneShot)
	if err != nil {
		return &exitError{1, err}
	}
	fmt.Printf("%s %s\n", b.TCP, b.Unix)
	<-ctx.Done()
	return b.Stop()
}

// runStandard is `tapline bench --standard` (make bench).
func runStandard(ctx context.Context, o bench.StandardOptions) error {
	self, err := os.Executable()
	if err != nil {
		return &exitError{1, err}
	}
	o.SelfBin, o.Log = self, os.Stderr
	rep, err := bench.Standard(ctx, o)
	if err != nil {
		return &exitError{1, err}
	}
	b, err := os.ReadFile(filepath.Join(o.OutDir, "latest.md"))
	if err != nil {
		return &exitError{1, err}
	}
	fmt.Print(string(b))
	for _, s := range rep.Skipped {
		fmt.Fprintln(os.Stderr, "skipped:", s)
	}
	return nil
}
