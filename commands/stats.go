package commands

import (
	"os"
	"runtime"
	"strconv"
	"time"

	"tapline/jsonobj"
	"tapline/version"
)

func registerStats(t *Table) {
	t.Register(Command{Name: "sniffer_stat", Level: LimitedRead, Plaintext: true, Handler: snifferStat,
		Params:  []Param{{Name: "format", Optional: true, Help: "\"plain\" for key=value lines instead of JSON"}},
		Summary: "sensor and manager statistics (VoIPmonitor keys first, tapline's under \"manager\" and \"memory\")"})
}

type kv struct {
	k, v string
}

// vmKeys are VoIPmonitor's sniffer_stat keys, in its order and with its
// string-typed values, so GUI parsers see what they expect.
func vmKeys(st Stats, mem procMem) []kv {
	rssMB, vszMB := mem.rss>>20, mem.vsz>>20
	up := int64(time.Since(st.Started).Seconds())
	calls := strconv.Itoa(st.Calls)
	pb := "calls[" + calls + ",r:0][" + calls + ",r:0] heap[u0|t0] RSS/VSZ[" + strconv.FormatInt(rssMB, 10) + "|" +
		strconv.FormatInt(vszMB, 10) + "]MB v" + version.Version + " "
	return []kv{
		{"version", version.Version}, {"build", version.Build}, {"rrd_version", "0"},
		{"storingCdrLastWriteAt", ""}, {"pbStatString", pb}, {"pbCountPacketDrop", strconv.FormatUint(st.Drops, 10)},
		{"uptime", strconv.FormatInt(up, 10)}, {"memory_is_full", "0"}, {"count_live_sniffers", "0"},
		{"upgrade_by_git", "0"}, {"use_new_config", "1"}, {"terminating_error", ""},
	}
}

func snifferStat(req *Request, rep *Reply) {
	st := req.Host.Stats()
	if s := req.Host.State(); s != nil {
		st.Calls = s.Counts().Calls
	}
	tbl := req.Host.Table()
	mem := readProcMem() // once per request: both layouts show it twice
	if string(req.Arg(0)) == "plain" {
		statPlain(rep, st, tbl, mem)
		return
	}
	rep.Kind = JSON
	b := append(rep.Body, '{')
	for _, p := range vmKeys(st, mem) {
		b = jsonobj.AppendStringS(append(jsonobj.AppendStringS(b, p.k), ": "...), p.v)
		b = append(b, ',')
	}
	b = append(b, `"disk_io": null,"manager": `...)
	b = appendManager(b, st, tbl)
	b = append(b, `,"memory": `...)
	b = appendMemory(b, mem)
	b = append(append(b, `,"keys": `...), req.Host.KeyStatus()...)
	capture := st.Capture
	if capture == nil {
		capture = []byte("null")
	}
	b = append(append(b, `,"capture": `...), capture...)
	rep.Body = append(b, "}\n"...)
}

func appendManager(b []byte, st Stats, tbl *Table) []byte {
	b = append(b, `{"connections_open":`...)
	b = strconv.AppendInt(b, st.ConnsOpen, 10)
	b = append(b, `,"connections_total":`...)
	b = strconv.AppendInt(b, st.ConnsTotal, 10)
	b = append(b, `,"connections_rejected":`...)
	b = strconv.AppendInt(b, st.ConnsRejected, 10)
	b = append(b, `,"connections_rejected_per_ip":`...)
	b = strconv.AppendInt(b, st.RejectedPerIP, 10)
	b = append(b, `,"connections_linger_closed":`...)
	b = strconv.AppendInt(b, st.LingerClosed, 10)
	b = append(b, `,"replies_reset":`...)
	b = strconv.AppendInt(b, st.RepliesReset, 10)
	b = append(b, `,"connections_output_limited":`...)
	b = strconv.AppendInt(b, st.ConnsOutputLimited, 10)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, st.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, st.BytesOut, 10)
	b = append(b, `,"errors":`...)
	b = strconv.AppendInt(b, st.Errors, 10)
	b = append(b, `,"replay_full":`...)
	b = strconv.AppendInt(b, st.ReplayFull, 10)
	b = append(b, `,"requests":{`...)
	first := true
	var total int64
	for i, n := range st.Requests {
		if n == 0 || tbl.ByIndex(i).Hidden {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		total += n
		b = strconv.AppendInt(append(jsonobj.AppendStringS(b, tbl.ByIndex(i).Name), ':'), n, 10)
	}
	b = append(b, `},"requests_total":`...)
	b = strconv.AppendInt(b, total, 10)
	b = append(b, `,"listeners":[`...)
	for i, l := range st.Listeners {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonobj.AppendStringS(b, l) // a manager_file path is client text: any bytes
	}
	return append(b, "]}"...)
}

func appendMemory(b []byte, mem procMem) []byte {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b = append(b, `{"rss_bytes":`...)
	b = strconv.AppendInt(b, mem.rss, 10)
	b = append(b, `,"heap_alloc_bytes":`...)
	b = strconv.AppendUint(b, ms.HeapAlloc, 10)
	b = append(b, `,"sys_bytes":`...)
	b = strconv.AppendUint(b, ms.Sys, 10)
	b = append(b, `,"goroutines":`...)
	b = strconv.AppendInt(b, int64(runtime.NumGoroutine()), 10)
	return append(b, '}')
}

// statPlain mirrors `sniffer_stat plain`: key=value lines.
func statPlain(rep *Reply, st Stats, tbl *Table, mem procMem) {
	for _, p := range vmKeys(st, mem) {
		rep.WriteString(p.k + "=" + p.v + "\n")
	}
	line := func(k string, v int64) { rep.WriteString(k + "=" + strconv.FormatInt(v, 10) + "\n") }
	line("connections_open", st.ConnsOpen)
	line("connections_total", st.ConnsTotal)
	line("connections_rejected", st.ConnsRejected)
	line("connections_rejected_per_ip", st.RejectedPerIP)
	line("connections_linger_closed", st.LingerClosed)
	line("replies_reset", st.RepliesReset)
	line("connections_output_limited", st.ConnsOutputLimited)
	line("bytes_in", st.BytesIn)
	line("bytes_out", st.BytesOut)
	line("errors", st.Errors)
	line("replay_full", st.ReplayFull)
	for i, n := range st.Requests {
		if n > 0 && !tbl.ByIndex(i).Hidden {
			line("requests_"+tbl.ByIndex(i).Name, n)
		}
	}
	line("rss_bytes", mem.rss)
}

// procMem is the process's resident and virtual size in bytes.
type procMem struct{ rss, vsz int64 }

// readProcMem reads /proc/self/statm (Linux; zeros elsewhere).
func readProcMem() procMem {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return procMem{}
	}
	var f [2]int64
	n := 0
	for i := 0; i < len(b) && n < 2; i++ {
		c := b[i]
		if c >= '0' && c <= '9' {
			f[n] = f[n]*10 + int64(c-'0')
		} else if c == ' ' {
			n++
		}
	}
	pg := int64(os.Getpagesize())
	return procMem{rss: f[1] * pg, vsz: f[0] * pg}
}
