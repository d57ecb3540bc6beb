package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// sections of the standard comparison, in report order.
var sections = []struct{ key, title string }{
	{"oneshot", "One-shot small command (one connection per request)"},
	{"session", "Session small command (one request in flight per connection)"},
	{"pipeline", "Pipelined, depth 16"},
	{"crypto", "Encryption cost (tapline, TCP)"},
	{"snapshot", "Large snapshot: listcalls of the whole live table (TCP)"},
}

// Sections names the parts of the standard comparison, in report order.
func Sections() []string {
	out := make([]string, len(sections))
	for i, s := range sections {
		out[i] = s.key
	}
	return out
}

// find returns the first result matching all given fields ("" and 0 match anything).
func find(rs []*Result, section, label, transport, mode, cryptoMode, reqPrefix string, conc int) *Result {
	for _, r := range rs {
		if (section == "" || r.Note == section) && (label == "" || r.Label == label) &&
			(transport == "" || r.Transport == transport) && (mode == "" || r.Mode == mode) &&
			(cryptoMode == "" || r.Crypto == cryptoMode) && strings.HasPrefix(r.Request, reqPrefix) &&
			(conc == 0 || r.Concurrency == conc) {
			return r
		}
	}
	return nil
}

// ratios computes the comparisons issue 5 asks for, as Markdown list items.
func ratios(rs []*Result) []string {
	var out []string
	for _, part := range []func([]*Result) []string{oneShotRatios, sessionRatios, pipelineRatios, cryptoRatios, snapshotRatios, headroomRatios} {
		out = append(out, part(rs)...)
	}
	return out
}

// ratio is a's throughput over b's; false when either is missing.
func ratio(a, b *Result) (float64, bool) {
	if a == nil || b == nil || b.Throughput == 0 {
		return 0, false
	}
	return a.Throughput / b.Throughput, true
}

// verdict says whether v reaches goal.
func verdict(v, goal float64) string {
	if v >= goal {
		return "meets"
	}
	return "**misses**"
}

// lines collects formatted list items.
type lines []string

func (l *lines) add(format string, a ...any) { *l = append(*l, fmt.Sprintf(format, a...)) }

func oneShotRatios(rs []*Result) []string {
	var out lines
	for _, tp := range []string{"tcp", "unix"} {
		for _, c := range []int{16, 64} {
			t := find(rs, "oneshot", "tapline", tp, OneShot, "", "", c)
			if t == nil {
				continue
			}
			if v, ok := ratio(t, find(rs, "oneshot", "floor", tp, OneShot, "", "", c)); ok {
				out.add("one-shot %s c=%d: tapline / floor = %.2f× (target ≥ 0.9×: %s)", tp, c, v, verdict(v, 0.9))
			}
			if h := find(rs, "oneshot", "haproxy", tp, OneShot, "", "", c); h != nil {
				v, _ := ratio(t, h)
				out.add("one-shot %s c=%d: tapline / HAProxy (successful) = %.2f× (target ≥ 1.0×: %s); HAProxy errors: %s", tp, c, v, verdict(v, 1), formatErrors(h.Errors))
			}
			if r := find(rs, "oneshot", "redis", tp, OneShot, "", "", c); r != nil {
				v, _ := ratio(t, r)
				out.add("one-shot %s c=%d: tapline / Redis PING (one connection per request) = %.2f×", tp, c, v)
			}
			vm := voipmonitorRate[tp]
			v := t.Throughput / vm
			out.add("one-shot %s c=%d: tapline / VoIPmonitor (%s req/s) = %.2f× (target ≥ 2×: %s); tapline errors: %s",
				tp, c, formatRate(vm), v, verdict(v, 2), formatErrors(t.Errors))
		}
	}
	return out
}

func sessionRatios(rs []*Result) []string {
	var out lines
	for _, c := range []int{1, 16, 64} {
		t := find(rs, "session", "tapline", "tcp", Session, "", "", c)
		if t == nil {
			continue
		}
		if v, ok := ratio(t, find(rs, "session", "floor", "tcp", Session, "", "", c)); ok {
			out.add("session c=%d: tapline / floor = %.2f× (target ≥ 0.9×: %s)", c, v, verdict(v, 0.9))
		}
		if v, ok := ratio(t, find(rs, "session", "redis", "tcp", Session, "", "", c)); ok {
			out.add("session c=%d: tapline / Redis PING inline = %.2f×", c, v)
		}
	}
	return out
}

func pipelineRatios(rs []*Result) []string {
	var out lines
	for _, c := range []int{1, 16} {
		t := find(rs, "pipeline", "tapline", "tcp", Pipeline, "", "", c)
		if v, ok := ratio(t, find(rs, "pipeline", "redis", "tcp", Pipeline, "", "", c)); ok {
			out.add("pipelined depth 16 c=%d: tapline / Redis = %.2f× (target ≥ 1.0×: %s)", c, v, verdict(v, 1))
		}
		if v, ok := ratio(t, find(rs, "pipeline", "floor", "tcp", Pipeline, "", "", c)); ok {
			out.add("pipelined depth 16 c=%d: tapline / floor = %.2f×", c, v)
		}
	}
	return out
}

func cryptoRatios(rs []*Result) []string {
	var out lines
	for _, m := range []string{OneShot, Session} {
		plain := find(rs, "crypto", "tapline", "tcp", m, "none", "ping", 0)
		for _, cm := range []string{"legacy", "hardened"} {
			if v, ok := ratio(find(rs, "crypto", "tapline", "tcp", m, cm, "ping", 0), plain); ok {
				goal := ""
				if m == Session && cm == "hardened" {
					goal = fmt.Sprintf(" (target ≥ 0.8×: %s)", verdict(v, 0.8))
				}
				out.add("ping %s: %s / plain = %.2f×%s", m, cm, v, goal)
			}
		}
	}
	plainBlob := find(rs, "crypto", "tapline", "tcp", OneShot, "none", "test_blob", 0)
	for _, cm := range []string{"legacy", "hardened"} {
		b := find(rs, "crypto", "tapline", "tcp", OneShot, cm, "test_blob", 0)
		if v, ok := ratio(b, plainBlob); ok {
			out.add("1 MiB reply one-shot: %s / plain = %.2f× (%.0f vs %.0f MB/s)", cm, v, b.mbps(), plainBlob.mbps())
		}
	}
	return out
}

// headroomRatios: what the client itself can do, against the echo server.
func headroomRatios(rs []*Result) []string {
	var out lines
	if e := find(rs, "", "echo", "tcp", Session, "", "", 16); e != nil {
		var best *Result
		for _, r := range rs {
			if r.Mode == Session && r.Label != "echo" && (best == nil || r.Throughput > best.Throughput) {
				best = r
			}
		}
		if best != nil {
			out.add("client headroom: echo session c=16 = %s req/s, %.2f× the best session result (%s c=%d) at %.1f µs of client CPU "+
				"per request: with one request in flight, each costs a write and a wake-up on both sides of the shared cores, "+
				"so sessions are bound by those, not by the client's own work (the pipelined echo below shows that)",
				formatRate(e.Throughput), e.Throughput/best.Throughput, best.Label, best.Concurrency, e.CPUPerReqUS)
		}
	}
	if e := find(rs, "", "echo", "tcp", Pipeline, "", "", 16); e != nil {
		out.add("client headroom: echo pipelined c=16 = %s req/s at %.1f µs of client CPU per request", formatRate(e.Throughput), e.CPUPerReqUS)
	}
	return out
}

// standardMarkdown renders the standard comparison.
func standardMarkdown(rep *Report, chart string) string {
	var b strings.Builder
	b.WriteString("# tapline bench: standard comparison\n\n")
	fmt.Fprintf(&b, "Run %s. Machine: %s.\n\n", rep.Started.UTC().Format("2006-01-02 15:04 UTC"), rep.Machine)
	b.WriteString("Reproduce with `make bench`. Every point ran for the same time with the same client; " +
		"req/s counts successful requests only. \"server CPU/req\" is the server process's user+system CPU " +
		"(10 ms ticks) divided by its successful requests; client CPU is the bench process's. " +
		"The targets of each comparison ran twice, the second time in reverse order, and each shows its better run.\n\n")
	for _, s := range sections {
		var rs []*Result
		for _, r := range rep.Results {
			if r.Note == s.key {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "## %s\n\n", s.title)
		_ = Markdown(&b, rs)
		b.WriteString("\n")
	}
	if e := rep.Encoding; e != nil {
		fmt.Fprintf(&b, "listcalls encoder alone (in-process, one goroutine, %d calls, %.1f MB per listing): %.2f GB/s (target ≥ 1 GB/s: %s)\n\n",
			e.Calls, float64(e.Bytes)/1e6, e.GBps, map[bool]string{true: "meets", false: "**misses**"}[e.GBps >= 1])
	}
	b.WriteString("## Ratios\n\n")
	for _, l := range ratios(rep.Results) {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	if len(rep.Skipped) > 0 {
		b.WriteString("\n## Skipped\n\n")
		for _, s := range rep.Skipped {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	if len(rep.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, s := range rep.Notes {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	if chart != "" {
		fmt.Fprintf(&b, "\n![tapline beside the floor and its peers, one panel per section](%s)\n", chart)
	}
	return b.String()
}

// WriteStandardReports writes a standard report under dir: latest.json,
// the chart latest.png and latest.md; and, when docPath is not empty, the
// performance page (docs/PERFORMANCE.md) that links to both.
func WriteStandardReports(dir, docPath string, rep *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	chart := "latest.png"
	if err := standardChart(filepath.Join(dir, chart), rep); err != nil {
		rep.Notes = append(rep.Notes, "chart: "+err.Error())
		chart = ""
	}
	if err := WriteJSON(filepath.Join(dir, "latest.json"), rep); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(standardMarkdown(rep, chart)), 0o644); err != nil {
		return err
	}
	if docPath == "" {
		return nil
	}
	rel := func(name string) string {
		r, err := filepath.Rel(filepath.Dir(docPath), filepath.Join(dir, name))
		if err != nil {
			return filepath.Join(dir, name)
		}
		return filepath.ToSlash(r)
	}
	img := ""
	if chart != "" {
		img = rel(chart)
	}
	return os.WriteFile(docPath, []byte(performanceDoc(rep, img, rel("latest.md"))), 0o644)
}

// snapshotRatios: the listing's wire rate and what it does to small
// commands on other connections.
func snapshotRatios(rs []*Result) []string {
	var out []string
	list := find(rs, "snapshot", "tapline", "tcp", OneShot, "", "listcalls", 0)
	if list != nil {
		out = append(out, fmt.Sprintf("listcalls of %s calls over TCP: %.0f MB/s on the wire, %.1f MB per listing, %s listings/s",
			formatRate(float64(list.TableCalls)), list.mbps(), float64(list.BytesIn)/max(float64(list.Requests), 1)/1e6, formatRate(list.Throughput)))
	}
	idle := find(rs, "snapshot", "ping idle", "tcp", Session, "", "ping", 0)
	busy := find(rs, "snapshot", "ping during listcalls", "tcp", Session, "", "ping", 0)
	if idle != nil && busy != nil && idle.Latency.P99 > 0 {
		v := busy.Latency.P99 / idle.Latency.P99
		verdict := "meets"
		if v > 2 {
			verdict = "**misses**"
		}
		out = append(out, fmt.Sprintf("ping p99 while listcalls streams / idle = %s / %s = %.2f× (target ≤ 2×: %s); pings/s %s → %s",
			formatLatency(busy.Latency.P99), formatLatency(idle.Latency.P99), v, verdict, formatRate(idle.Throughput), formatRate(busy.Throughput)))
	}
	return out
}
