package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is one benchmark point.
type Result struct {
	Label       string           `json:"label"`
	Target      string           `json:"target"`
	Transport   string           `json:"transport"`
	Mode        string           `json:"mode"`
	Crypto      string           `json:"crypto"`
	Request     string           `json:"request"`
	Concurrency int              `json:"concurrency"`
	Depth       int              `json:"depth"`
	Seconds     float64          `json:"seconds"`
	Requests    int64            `json:"requests"` // successful
	Errors      map[string]int64 `json:"errors,omitempty"`
	LastError   string           `json:"last_error,omitempty"`
	Throughput  float64          `json:"req_per_s"`     // successful requests per second
	BytesIn     int64            `json:"bytes_in"`      // reply bytes (JSON sessions: plaintext)
	BytesOut    int64            `json:"bytes_out"`     // request bytes
	CPUSeconds  float64          `json:"client_cpu_s"`  // user+sys of the bench process
	CPUPerReqUS float64          `json:"client_cpu_us"` // per successful request
	Latency     Latency          `json:"latency_us"`
	// Server CPU (from /proc, 10 ms ticks) when the server is a separate
	// process the bench knows; 0 when unknown.
	ServerCPUSeconds  float64 `json:"server_cpu_s,omitempty"`
	ServerCPUPerReqUS float64 `json:"server_cpu_us,omitempty"`
	Note              string  `json:"note,omitempty"`
	TableCalls        int     `json:"table_calls,omitempty"` // snapshot section: calls in the listed table
}

// Latency holds percentiles in microseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// errorCount is the number of failed requests of every kind.
func (r *Result) errorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// mbps is the reply rate in MB/s (10^6 bytes).
func (r *Result) mbps() float64 {
	if r.Seconds == 0 {
		return 0
	}
	return float64(r.BytesIn) / r.Seconds / 1e6
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	us := func(v int64) float64 { return float64(v) / 1e3 }
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		P50: us(h.ValueAtQuantile(50)), P90: us(h.ValueAtQuantile(90)),
		P99: us(h.ValueAtQuantile(99)), P999: us(h.ValueAtQuantile(99.9)),
		Max: us(h.Max()), Mean: h.Mean() / 1e3,
	}
}

func summarize(cfg *Config, ws []*worker, elapsed, cpu time.Duration) *Result {
	h := newHist()
	r := &Result{
		Label: cfg.Label, Target: cfg.Target.String(), Transport: cfg.Target.Network,
		Mode: cfg.Mode, Crypto: cfg.Crypto, Concurrency: cfg.Concurrency, Depth: cfg.Depth,
		Seconds: elapsed.Seconds(), CPUSeconds: cpu.Seconds(), Errors: map[string]int64{},
	}
	r.Request = cfg.Command
	if cfg.Raw() {
		r.Request = strings.TrimRight(cfg.RawLine, "\r\n")
	}
	if r.Label == "" {
		r.Label = cfg.Target.String()
	}
	for _, w := range ws {
		h.Merge(w.hist)
		r.Requests += w.ok
		r.BytesIn += w.in
		r.BytesOut += w.out
		for k, v := range w.errs {
			r.Errors[k] += v
		}
		if w.lastEr != nil {
			r.LastError = w.lastEr.Error()
		}
	}
	if len(r.Errors) == 0 {
		r.Errors = nil
	}
	r.Latency = latencyOf(h)
	if r.Seconds > 0 {
		r.Throughput = float64(r.Requests) / r.Seconds
	}
	if r.Requests > 0 {
		r.CPUPerReqUS = r.CPUSeconds * 1e6 / float64(r.Requests)
	}
	return r
}

// formatRate prints a rate with thousands separators: 12,345.
func formatRate(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatLatency prints microseconds with a unit that keeps 2-3 digits:
// 31 µs, 4.2 ms, 1.10 s.
func formatLatency(us float64) string {
	switch {
	case us <= 0:
		return "–"
	case us < 10:
		return fmt.Sprintf("%.1f µs", us)
	case us < 1000:
		return fmt.Sprintf("%.0f µs", us)
	case us < 10000:
		return fmt.Sprintf("%.2f ms", us/1e3)
	case us < 1e6:
		return fmt.Sprintf("%.1f ms", us/1e3)
	default:
		return fmt.Sprintf("%.2f s", us/1e6)
	}
}

// formatErrors prints "none" or "refused 3, timeout 1" (kinds sorted).
func formatErrors(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// formatBytes prints a byte count in binary units.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Markdown writes results as one Markdown table.
func Markdown(w io.Writer, rs []*Result) error {
	var b strings.Builder
	b.WriteString("| target | transport | mode | crypto | request | conns | depth | req/s | p50 | p90 | p99 | p99.9 | max | errors | in | MB/s | client CPU/req | server CPU/req |\n")
	b.WriteString("|---|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | `%s` | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %.1f µs | %s |\n",
			r.Label, r.Transport, r.Mode, r.Crypto, escapePipe(r.Request), r.Concurrency, r.Depth,
			formatRate(r.Throughput), formatLatency(r.Latency.P50), formatLatency(r.Latency.P90),
			formatLatency(r.Latency.P99), formatLatency(r.Latency.P999), formatLatency(r.Latency.Max),
			formatErrors(r.Errors), formatBytes(r.BytesIn), r.mbps(), r.CPUPerReqUS, serverCPU(r))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func escapePipe(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Report is what --json writes: the machine and every result.
type Report struct {
	Machine Machine   `json:"machine"`
	Started time.Time `json:"started"`
	Results []*Result `json:"results"`
	Skipped []string  `json:"skipped,omitempty"`
	// Encoding is listcalls' encoder alone, in-process (snapshot section).
	Encoding *Encoding `json:"listcalls_encoding,omitempty"`
	Notes    []string  `json:"notes,omitempty"`
}

// WriteJSON writes the report to path, indented.
func WriteJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads a report WriteJSON wrote.
func ReadJSON(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rep := new(Report)
	if err := json.Unmarshal(b, rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

func serverCPU(r *Result) string {
	if r.ServerCPUSeconds == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f µs", r.ServerCPUPerReqUS)
}
