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
func vmKeys(st Stats, sen sensorStats, mem procMem) []kv {
	rssMB, vszMB := mem.rss>>20, mem.vsz>>20
	up := int64(time.Since(st.Started).Seconds())
	calls := strconv.Itoa(sen.calls)
	pb := "calls[" + calls + ",r:0][" + calls + ",r:0] heap[u0|t0] RSS/VSZ[" + strconv.FormatInt(rssMB, 10) + "|" +
		strconv.FormatInt(vszMB, 10) + "]MB v" + version.Version + " "
	return []kv{
		{"version", version.Version}, {"build", version.Build}, {"rrd_version", "0"},
		{"storingCdrLastWriteAt", ""}, {"pbStatString", pb}, {"pbCountPacketDrop", strconv.FormatUint(sen.capture.Drops, 10)},
		{"uptime", strconv.FormatInt(up, 10)}, {"memory_is_full", "0"}, {"count_live_sniffers", "0"},
		{"upgrade_by_git", "0"}, {"use_new_config", "1"}, {"terminating_error", ""},
	}
}

// sensorStats is what sniffer_stat reads from the Env, once per request.
type sensorStats struct {
	calls     int          // active calls
	capture   CaptureStats // one snapshot: Drops and Counters agree
	capturing bool         // there is a capture source
	keys      KeyStatus
}

func readSensorStats(env *Env) sensorStats {
	var s sensorStats
	if st := env.store(); st != nil {
		s.calls = st.Counts().Calls
	}
	s.capture, s.capturing = env.capture()
	s.keys = env.keys()
	return s
}

func snifferStat(req *Request, rep *Reply) {
	st := req.Server.Stats()
	sen := readSensorStats(req.Env)
	tbl := req.Server.Table()
	mem := readProcMem() // once per request: both layouts show it twice
	if string(req.Arg(0)) == "plain" {
		statPlain(rep, st, sen, tbl, mem)
		return
	}
	rep.Kind = JSON
	b := append(rep.Body, '{')
	for _, p := range vmKeys(st, sen, mem) {
		b = jsonobj.AppendStringS(append(jsonobj.AppendStringS(b, p.k), ": "...), p.v)
		b = append(b, ',')
	}
	b = append(b, `"disk_io": null,"manager": `...)
	b = appendManager(b, st, tbl)
	b = append(b, `,"memory": `...)
	b = appendMemory(b, mem)
	b = appendKeys(append(b, `,"keys": `...), sen.keys)
	b = append(b, `,"capture": `...)
	if sen.capturing {
		b = appendCounters(b, sen.capture.Counters)
	} else {
		b = append(b, "null"...)
	}
	rep.Body = append(b, "}\n"...)
}

func appendManager(b []byte, st Stats, tbl *Table) []byte {
	b = append(b, '{')
	b = jsonobj.AppendMemberInt(b, "connections_open", st.ConnsOpen)
	b = jsonobj.AppendMemberInt(b, "connections_total", st.ConnsTotal)
	b = jsonobj.AppendMemberInt(b, "connections_rejected", st.ConnsRejected)
	b = jsonobj.AppendMemberInt(b, "connections_rejected_per_ip", st.RejectedPerIP)
	b = jsonobj.AppendMemberInt(b, "connections_linger_closed", st.LingerClosed)
	b = jsonobj.AppendMemberInt(b, "replies_reset", st.RepliesReset)
	b = jsonobj.AppendMemberInt(b, "connections_output_limited", st.ConnsOutputLimited)
	b = jsonobj.AppendMemberInt(b, "bytes_in", st.BytesIn)
	b = jsonobj.AppendMemberInt(b, "bytes_out", st.BytesOut)
	b = jsonobj.AppendMemberInt(b, "errors", st.Errors)
	b = jsonobj.AppendMemberInt(b, "replay_full", st.ReplayFull)
	b = jsonobj.AppendMemberInt(b, "tokens_loaded", st.TokensLoaded)
	b = jsonobj.AppendMemberInt(b, "auth_ok", st.AuthOK)
	b = jsonobj.AppendMemberInt(b, "auth_failed", st.AuthFailed)
	b = jsonobj.AppendMemberInt(b, "tokens_refused", st.TokensRefused)
	b = append(jsonobj.AppendKey(b, "requests"), '{')
	var total int64
	for i, n := range st.Requests {
		if n == 0 || tbl.byIndex(i).Hidden {
			continue
		}
		total += n
		b = jsonobj.AppendMemberInt(b, tbl.byIndex(i).Name, n)
	}
	b = append(b, '}')
	b = jsonobj.AppendMemberInt(b, "requests_total", total)
	b = append(jsonobj.AppendKey(b, "listeners"), '[')
	for _, l := range st.Listeners {
		b = jsonobj.AppendStringS(jsonobj.AppendSep(b), l) // a manager_file path is client text: any bytes
	}
	return append(b, "]}"...)
}

// appendKeys writes the key ring's status; the optional members are left
// out when empty, so a sensor without a key shows no fingerprint.
func appendKeys(b []byte, k KeyStatus) []byte {
	b = append(b, '{')
	b = jsonobj.AppendMemberString(b, "source", k.Source)
	b = jsonobj.AppendMemberString(b, "state", k.State)
	if k.Fingerprint != "" {
		b = jsonobj.AppendMemberString(b, "fingerprint", k.Fingerprint)
	}
	if !k.LoadedAt.IsZero() {
		b = jsonobj.AppendMemberTime(b, "loaded_at", k.LoadedAt)
	}
	b = jsonobj.AppendMemberInt(b, "previous_keys", int64(k.Previous))
	b = jsonobj.AppendMemberBool(b, "fail_closed", k.FailClosed)
	for _, m := range [...]struct{ k, v string }{{"last_error", k.LastError}, {"reason", k.Reason}, {"state_error", k.StateError}} {
		if m.v != "" {
			b = jsonobj.AppendMemberString(b, m.k, m.v)
		}
	}
	return append(b, '}')
}

// appendCounters writes the capture counters as one object.
func appendCounters(b []byte, cs []Counter) []byte {
	b = append(b, '{')
	for _, c := range cs {
		b = jsonobj.AppendMemberUint(b, c.Name, c.Value)
	}
	return append(b, '}')
}

func appendMemory(b []byte, mem procMem) []byte {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b = append(b, '{')
	b = jsonobj.AppendMemberInt(b, "rss_bytes", mem.rss)
	b = jsonobj.AppendMemberUint(b, "heap_alloc_bytes", ms.HeapAlloc)
	b = jsonobj.AppendMemberUint(b, "sys_bytes", ms.Sys)
	b = jsonobj.AppendMemberInt(b, "goroutines", int64(runtime.NumGoroutine()))
	return append(b, '}')
}

// statPlain mirrors `sniffer_stat plain`: key=value lines.
func statPlain(rep *Reply, st Stats, sen sensorStats, tbl *Table, mem procMem) {
	for _, p := range vmKeys(st, sen, mem) {
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
	line("tokens_loaded", st.TokensLoaded)
	line("auth_ok", st.AuthOK)
	line("auth_failed", st.AuthFailed)
	line("tokens_refused", st.TokensRefused)
	for i, n := range st.Requests {
		if n > 0 && !tbl.byIndex(i).Hidden {
			line("requests_"+tbl.byIndex(i).Name, n)
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
