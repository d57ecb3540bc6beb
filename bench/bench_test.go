package bench

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tapline/crypto"
	"tapline/internal/redistest"
)

func TestParseTarget(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Target
		wantErr bool
	}{
		{"tcp:127.0.0.1:5029", Target{Network: "tcp", Addr: "127.0.0.1:5029"}, false},
		{"tcp:[::1]:5029", Target{Network: "tcp", Addr: "[::1]:5029"}, false},
		{"unix:/run/tapline.sock", Target{Network: "unix", Addr: "/run/tapline.sock"}, false},
		{"unix:rel/path:with:colons", Target{Network: "unix", Addr: "rel/path:with:colons"}, false},
		{"floor", Target{Builtin: "floor"}, false},
		{"echo", Target{Builtin: "echo"}, false},
		{"tapline", Target{Builtin: "tapline"}, false},
		{"tcp:127.0.0.1", Target{}, true},
		{"tcp::5029", Target{}, true},
		{"tcp:", Target{}, true},
		{"unix:", Target{}, true},
		{"udp:1.2.3.4:5", Target{}, true},
		{"127.0.0.1:5029", Target{}, true},
		{"", Target{}, true},
	} {
		got, err := ParseTarget(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err == nil && got.Network != "" && got.String() != tt.in {
			t.Errorf("%q: String() = %q", tt.in, got.String())
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{formatRate(0), "0"},
		{formatRate(999.4), "999"},
		{formatRate(1000), "1,000"},
		{formatRate(12345.6), "12,346"},
		{formatRate(1234567), "1,234,567"},
		{formatRate(-4321), "-4,321"},
		{formatLatency(0), "–"},
		{formatLatency(3.25), "3.2 µs"},
		{formatLatency(31), "31 µs"},
		{formatLatency(999), "999 µs"},
		{formatLatency(4200), "4.20 ms"},
		{formatLatency(12500), "12.5 ms"},
		{formatLatency(1.1e6), "1.10 s"},
		{formatErrors(nil), "0"},
		{formatErrors(map[string]int64{ErrTimeout: 1, ErrRefused: 3}), "refused 3, timeout 1"},
		{formatBytes(17), "17 B"},
		{formatBytes(2048), "2.0 KiB"},
		{formatBytes(1 << 20), "1.0 MiB"},
		{formatBytes(3 << 30), "3.0 GiB"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestLatencyPercentiles(t *testing.T) {
	h := newHist()
	for i := int64(1); i <= 1000; i++ {
		_ = h.RecordValue(i * int64(time.Microsecond))
	}
	l := latencyOf(h)
	for _, tt := range []struct {
		name      string
		got, want float64
	}{
		{"p50", l.P50, 500}, {"p90", l.P90, 900}, {"p99", l.P99, 990}, {"p99.9", l.P999, 999}, {"max", l.Max, 1000},
	} {
		if d := tt.got - tt.want; d < -tt.want/200 || d > tt.want/200 { // 3 significant digits
			t.Errorf("%s = %v µs, want %v", tt.name, tt.got, tt.want)
		}
	}
	if (latencyOf(newHist()) != Latency{}) {
		t.Error("empty histogram should give zero latencies")
	}
}

func TestMarkdown(t *testing.T) {
	r := &Result{Label: "tapline", Transport: "tcp", Mode: OneShot, Crypto: "none", Request: "a|b", Concurrency: 16, Depth: 1,
		Seconds: 2, Requests: 20000, Throughput: 10000, BytesIn: 2 << 20, CPUPerReqUS: 12.34,
		Latency: Latency{P50: 100, P90: 200, P99: 1500, P999: 2500, Max: 30000}, Errors: map[string]int64{ErrRefused: 2}}
	var b strings.Builder
	if err := Markdown(&b, []*Result{r}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header, rule and one row, got:\n%s", b.String())
	}
	want := "| tapline | tcp | oneshot | none | `a\\|b` | 16 | 1 | 10,000 | 100 µs | 200 µs | 1.50 ms | 2.50 ms | 30.0 ms | refused 2 | 2.0 MiB | 1.0 | 12.3 µs | – |"
	if lines[2] != want {
		t.Errorf("row\n got %s\nwant %s", lines[2], want)
	}
	if strings.Count(lines[0], "|") != strings.Count(lines[1], "|") || strings.Count(lines[0], "|")+1 != strings.Count(lines[2], "|") {
		// the escaped pipe in the row counts once more
		t.Errorf("column counts differ:\n%s", b.String())
	}
}

func TestConfigErrors(t *testing.T) {
	tgt := Target{Network: "tcp", Addr: "127.0.0.1:1"}
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"bad mode", Config{Target: tgt, Mode: "stream"}},
		{"bad crypto", Config{Target: tgt, Crypto: "rot13"}},
		{"crypto without key", Config{Target: tgt, Crypto: "hardened"}},
		{"raw session without terminator", Config{Target: tgt, Mode: Session, RawLine: "PING"}},
		{"builtin not started", Config{Target: Target{Builtin: "floor"}}},
	} {
		if _, err := Run(context.Background(), tt.cfg); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestRefused(t *testing.T) {
	port, err := freePort() // nothing listens there any more
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), Config{Target: Target{Network: "tcp", Addr: "127.0.0.1:" + itoa(port)}, Requests: 5, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 0 || r.Errors[ErrRefused] != 5 {
		t.Errorf("requests %d, errors %v; want 0 and refused 5", r.Requests, r.Errors)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// short runs one point for a fraction of a second and checks it succeeded.
func short(t *testing.T, cfg Config) *Result {
	t.Helper()
	if cfg.Duration == 0 && cfg.Requests == 0 {
		cfg.Duration = 300 * time.Millisecond
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 4
	}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%s %s: %v", cfg.Target, cfg.Mode, err)
	}
	if r.Requests == 0 || r.errorCount() != 0 {
		t.Fatalf("%s %s %s %q: %d ok, errors %v (last: %s)", cfg.Target, cfg.Mode, cfg.Crypto, cfg.Command+cfg.RawLine, r.Requests, r.Errors, r.LastError)
	}
	if r.Throughput <= 0 || r.Latency.P50 <= 0 || r.Latency.Max < r.Latency.P99 || r.BytesIn == 0 || r.BytesOut == 0 {
		t.Errorf("implausible result: %+v", r)
	}
	return r
}

func TestBuiltins(t *testing.T) {
	for _, kind := range []string{"floor", "echo"} {
		one, err := StartBuiltin(kind, true)
		if err != nil {
			t.Fatal(err)
		}
		sess, err := StartBuiltin(kind, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, tgt := range []Target{one.TCP, one.Unix} {
			short(t, Config{Target: tgt, Mode: OneShot, RawLine: "ping"})
		}
		for _, tgt := range []Target{sess.TCP, sess.Unix} {
			short(t, Config{Target: tgt, Mode: Session, RawLine: "ping", Terminator: "\n"})
			r := short(t, Config{Target: tgt, Mode: Pipeline, Depth: 8, RawLine: "ping", Terminator: "\n"})
			if r.BytesIn != r.Requests*5 {
				t.Errorf("%s pipeline: %d bytes for %d replies", kind, r.BytesIn, r.Requests)
			}
		}
		// --requests: exactly that many, even with depth and concurrency
		r := short(t, Config{Target: sess.TCP, Mode: Pipeline, Depth: 16, Concurrency: 3, Requests: 1000, RawLine: "ping", Terminator: "\n"})
		if r.Requests != 1000 {
			t.Errorf("requests = %d, want 1000", r.Requests)
		}
		_ = one.Stop()
		_ = sess.Stop()
	}
}

func TestTapline(t *testing.T) {
	tl, err := StartTapline(crypto.Key{})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Stop()
	for _, tgt := range []Target{tl.TCP, tl.Unix} {
		r := short(t, Config{Target: tgt, Mode: OneShot, Command: "getversion"})
		if r.BytesIn < r.Requests*5 {
			t.Errorf("getversion: %d bytes for %d replies", r.BytesIn, r.Requests)
		}
		short(t, Config{Target: tgt, Mode: Session, Command: "ping"})
		short(t, Config{Target: tgt, Mode: Pipeline, Depth: 16, Command: "ping"})
	}
	// An error reply counts as a bad reply, not a success.
	r, err := Run(context.Background(), Config{Target: tl.TCP, Mode: Session, Command: "nosuch", Requests: 10})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 0 || r.Errors[ErrBad] != 10 {
		t.Errorf("nosuch: %d ok, errors %v; want 10 bad replies", r.Requests, r.Errors)
	}
}

func TestCrypto(t *testing.T) {
	tl, err := StartTapline(crypto.Key{})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Stop()
	for _, cm := range []string{"none", "legacy", "hardened"} {
		short(t, Config{Target: tl.TCP, Mode: OneShot, Crypto: cm, Key: tl.Key, Command: "ping"})
	}
	short(t, Config{Target: tl.TCP, Mode: Session, Crypto: "hardened", Key: tl.Key, Command: "ping"})
	short(t, Config{Target: tl.Unix, Mode: Pipeline, Depth: 8, Crypto: "hardened", Key: tl.Key, Command: "ping"})
	if _, err := Run(context.Background(), Config{Target: tl.TCP, Mode: Session, Crypto: "legacy", Key: tl.Key}); err == nil {
		t.Error("legacy sessions should be refused")
	}
}

func TestRawRedis(t *testing.T) {
	rs := redistest.Start(t)
	tcp := Target{Network: "tcp", Addr: rs.Addr()}
	unix := Target{Network: "unix", Addr: rs.Socket()}
	for _, tgt := range []Target{tcp, unix} {
		r := short(t, Config{Target: tgt, Mode: OneShot, RawLine: "PING", Terminator: "\r\n"})
		if r.BytesIn != r.Requests*7 { // +PONG\r\n
			t.Errorf("one-shot: %d bytes for %d replies", r.BytesIn, r.Requests)
		}
		short(t, Config{Target: tgt, Mode: Session, RawLine: "PING", Terminator: "\r\n"})
		short(t, Config{Target: tgt, Mode: Pipeline, Depth: 16, RawLine: "PING", Terminator: "\r\n"})
	}
	// A reply that never ends with the terminator times out.
	r, err := Run(context.Background(), Config{Target: tcp, Mode: Session, RawLine: "PING", Terminator: "\n\n", Requests: 1, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors[ErrTimeout] != 1 {
		t.Errorf("errors %v, want one timeout", r.Errors)
	}
}

func TestPlotAndJSON(t *testing.T) {
	dir := t.TempDir()
	var rs []*Result
	for i, c := range []int{1, 16, 64} {
		for _, l := range []string{"tapline", "floor"} {
			rs = append(rs, &Result{Label: l, Transport: "tcp", Mode: Session, Crypto: "none", Concurrency: c,
				Throughput: float64(10000 * (i + 1)), Latency: Latency{P99: float64(100 * (i + 1))}})
		}
	}
	for _, name := range []string{"c.png", "c.svg"} {
		p := filepath.Join(dir, name)
		if err := Plot(p, "test", rs); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Size() < 1000 {
			t.Errorf("%s: %v, %v", name, fi, err)
		}
	}
	if err := Plot(filepath.Join(dir, "c.gif"), "test", rs); err == nil {
		t.Error("gif should be refused")
	}
	if err := WriteJSON(filepath.Join(dir, "r.json"), &Report{Machine: ThisMachine(), Results: rs}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "r.json"))
	if !strings.Contains(string(b), `"req_per_s": 30000`) {
		t.Errorf("json lacks a result:\n%.400s", b)
	}
}

func TestRatios(t *testing.T) {
	mk := func(sec, label, tp, mode, cm, req string, c int, rate float64) *Result {
		return &Result{Note: sec, Label: label, Transport: tp, Mode: mode, Crypto: cm, Request: req, Concurrency: c, Throughput: rate}
	}
	rs := []*Result{
		mk("oneshot", "tapline", "tcp", OneShot, "none", "getversion", 16, 20000),
		mk("oneshot", "floor", "tcp", OneShot, "none", "ping", 16, 20000),
		mk("oneshot", "haproxy", "tcp", OneShot, "none", "show info", 16, 25000),
		mk("session", "tapline", "tcp", Session, "none", "ping", 16, 45000),
		mk("session", "floor", "tcp", Session, "none", "ping", 16, 50000),
		mk("crypto", "tapline", "tcp", Session, "none", "ping", 16, 40000),
		mk("crypto", "tapline", "tcp", Session, "hardened", "ping", 16, 36000),
	}
	got := strings.Join(ratios(rs), "\n")
	for _, want := range []string{
		"one-shot tcp c=16: tapline / floor = 1.00× (target ≥ 0.9×: meets)",
		"one-shot tcp c=16: tapline / HAProxy (successful) = 0.80× (target ≥ 1.0×: **misses**)",
		"one-shot tcp c=16: tapline / VoIPmonitor (8,300 req/s) = 2.41× (target ≥ 2×: meets)",
		"session c=16: tapline / floor = 0.90× (target ≥ 0.9×: meets)",
		"ping session: hardened / plain = 0.90× (target ≥ 0.8×: meets)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

// TestStandardReportsFromSaved redraws the committed run's reports (what
// `tapline bench --report-from` and `make bench-report` do) and checks that
// docs/PERFORMANCE.md is what the committed latest.json gives.
func TestStandardReportsFromSaved(t *testing.T) {
	rep, err := ReadJSON("results/latest.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "docs", "PERFORMANCE.md")
	if err := os.MkdirAll(filepath.Dir(doc), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "bench", "results")
	if err := WriteStandardReports(out, doc, rep); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(out, "latest.png")); err != nil || fi.Size() < 10000 {
		t.Fatalf("chart: %v, %v", fi, err)
	}
	got, _ := os.ReadFile(doc)
	for _, want := range []string{"](../bench/results/latest.png)", "](../bench/results/latest.md)", "| one-shot TCP, 16 / 64 conns | ", "## Ratios"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("PERFORMANCE.md lacks %q", want)
		}
	}
	committed, err := os.ReadFile("../docs/PERFORMANCE.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != string(got) {
		t.Error("docs/PERFORMANCE.md is stale: run make bench-report")
	}
}

func TestStandardPanels(t *testing.T) {
	mk := func(sec, label, tp, mode, cm, req string, c int, rate float64) *Result {
		return &Result{Note: sec, Label: label, Transport: tp, Mode: mode, Crypto: cm, Request: req, Concurrency: c, Throughput: rate}
	}
	rep := &Report{Results: []*Result{
		mk("oneshot", "tapline", "tcp", OneShot, "none", "getversion", 16, 20000),
		mk("oneshot", "floor", "tcp", OneShot, "none", "ping", 16, 25000),
		mk("session", "tapline", "tcp", Session, "none", "ping", 1, 45000),
	}}
	ps := standardPanels(rep)
	if len(ps) != 2 {
		t.Fatalf("%d panels, want one-shot and session only", len(ps))
	}
	g := ps[0].groups[0]
	// HAProxy and Redis have no result: their series are left out.
	if want := []string{"tapline", "floor", "VoIPmonitor"}; !slices.Equal(ps[0].series, want) {
		t.Errorf("one-shot series %q, want %q", ps[0].series, want)
	}
	if want := []string{"20.0k", "0.80×", "2.41×"}; !slices.Equal(g.labels, want) {
		t.Errorf("one-shot labels %q, want %q", g.labels, want)
	}
	if err := standardChart(filepath.Join(t.TempDir(), "c.svg"), rep); err != nil {
		t.Fatal(err)
	}
	if err := standardChart(filepath.Join(t.TempDir(), "c.png"), &Report{}); err == nil {
		t.Error("an empty report should be refused")
	}
}
