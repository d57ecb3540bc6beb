package commands

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"tapline/state"
)

func registerCalls(t *Table) {
	params := []Param{{Name: "params", Optional: true, Rest: true,
		Help: "VoIPmonitor's JSON params: limit, sort_field, sort_dir, filter, zip; JSON sessions also fields, offset"}}
	t.Register(Command{Name: "listcalls", Level: FullRead, Handler: listCalls, Params: params, JSONParams: true,
		Summary: "active calls: VoIPmonitor's array of arrays (JSON sessions: objects)"})
	t.Register(Command{Name: "listregisters", Level: FullRead, Handler: listRegisters, Params: params, JSONParams: true,
		Summary: "tracked registrations: VoIPmonitor's array of arrays (JSON sessions: objects)"})
	t.Register(Command{Name: "totalcalls", Level: LimitedRead, Plaintext: true, Inline: true, Handler: totalCalls,
		Summary: "number of active calls"})
	t.Register(Command{Name: "totalregisters", Level: LimitedRead, Inline: true, Handler: totalRegisters,
		Summary: "number of tracked registrations"})
	t.Register(Command{Name: "active_call_info", Level: FullRead, Handler: activeCallInfo, JSONParams: true,
		Params: []Param{{Name: "callreference", Rest: true,
			Help: "0x… from listcalls, or JSON {\"callreference\":\"0x…\",\"zip\":\"yes\"} (zip: gzip the reply, text mode)"}},
		Summary: "one active call with its SIP messages"})
}

// listParams reads the params: the rest of the text line, or in a JSON
// session the "args" object itself (or its "params" member).
func listParams(req *Request) (state.ListParams, error) {
	raw := req.Arg(0)
	if req.JSON && len(req.Args) > 0 && req.Args[0] == '{' {
		raw = req.Args
	}
	return state.ParseListParams(raw)
}

// listing describes one listing command for list: its columns and its
// two encoders (VoIPmonitor's arrays, and objects for JSON sessions), bound
// to a snapshot taken on the worker.
type listing struct {
	name    string
	columns []string
	check   func(state.ListParams) error // filters on fields the table has
	// snap takes the snapshot; st is nil on a sensor without a capture
	// source, which lists nothing (VoIPmonitor's empty listing).
	snap func(st *state.Store) (arrays, objects func(io.Writer, state.ListParams, int) error)
}

var (
	callListing = listing{"listcalls", state.CallColumns(), state.CheckCallFilters, func(st *state.Store) (a, o func(io.Writer, state.ListParams, int) error) {
		var calls []*state.Call
		if st != nil {
			calls = st.Calls() // pointers to immutable records: cheap, never stalls ingest
		}
		a = func(w io.Writer, p state.ListParams, id int) error { return state.WriteListCalls(w, calls, p, id) }
		o = func(w io.Writer, p state.ListParams, id int) error { return state.WriteCallObjects(w, calls, p, id) }
		return a, o
	}}
	registerListing = listing{"listregisters", state.RegisterColumns(), state.CheckRegisterFilters, func(st *state.Store) (a, o func(io.Writer, state.ListParams, int) error) {
		var regs []*state.Register
		if st != nil {
			regs = st.Registers()
		}
		a = func(w io.Writer, p state.ListParams, id int) error { return state.WriteListRegisters(w, regs, p, id) }
		o = func(w io.Writer, p state.ListParams, id int) error { return state.WriteRegisterObjects(w, regs, p, id) }
		return a, o
	}}
)

func listCalls(req *Request, rep *Reply)     { list(req, rep, callListing) }
func listRegisters(req *Request, rep *Reply) { list(req, rep, registerListing) }

// list validates the params, takes the snapshot and leaves the encoding to
// the reply stream, which runs on the connection's writer goroutine.
func list(req *Request, rep *Reply, l listing) {
	p, err := listParams(req)
	if err == nil {
		err = checkFields(p.Fields, l.columns)
	}
	if err == nil {
		err = l.check(p)
	}
	if err != nil {
		rep.Fail(CodeInvalid, l.name+": "+err.Error())
		return
	}
	st := req.Host.State() // nil without a capture source: the empty listing, as an idle VoIPmonitor
	arrays, objects := l.snap(st)
	if st != nil {
		p.Now = st.Now() // durations at the sensor's clock, which moves even when traffic is quiet
	}
	id := req.Host.IDSensor()
	rep.Kind = JSON
	if req.JSON {
		rep.Stream = func(w io.Writer) error { return objects(w, p, id) }
		return
	}
	rep.Stream = zipped(p.Zip, func(w io.Writer) error { return arrays(w, p, id) })
}

// checkFields rejects unknown "fields" before the reply starts: once a
// streamed JSON result has begun, an error can only cut the session.
func checkFields(fields, cols []string) error {
	for _, f := range fields {
		if !slices.Contains(cols, f) {
			return fmt.Errorf("fields: unknown column %q", f)
		}
	}
	return nil
}

// zipped gzips a stream when the params asked for "zip":"yes" (VoIPmonitor
// sends real gzip; clients sniff 1f 8b).
func zipped(zip bool, f func(io.Writer) error) func(io.Writer) error {
	if !zip {
		return f
	}
	return func(w io.Writer) error {
		zw := gzip.NewWriter(w)
		if err := f(zw); err != nil {
			return err
		}
		return zw.Close()
	}
}

func totalCalls(req *Request, rep *Reply) {
	total(req, rep, func(c state.Counts) int { return c.Calls })
}

func totalRegisters(req *Request, rep *Reply) {
	total(req, rep, func(c state.Counts) int { return c.Registers })
}

// total replies with one of the store's counts, 0 when nothing is captured.
func total(req *Request, rep *Reply, count func(state.Counts) int) {
	n := 0
	if st := req.Host.State(); st != nil {
		n = count(st.Counts())
	}
	rep.Body = strconv.AppendInt(rep.Body, int64(n), 10)
}

// callInfoArgs is active_call_info's JSON form.
type callInfoArgs struct {
	Ref string `json:"callreference"`
	Zip string `json:"zip"`
}

// readCallInfoArgs reads a callreference, or the JSON form (text mode, or
// a JSON session's args object). Unknown members are an error, as for
// every other command.
func readCallInfoArgs(req *Request) (callInfoArgs, error) {
	arg := req.Arg(0)
	if req.JSON && len(req.Args) > 0 && req.Args[0] == '{' {
		arg = req.Args
	}
	if len(arg) == 0 || arg[0] != '{' {
		return callInfoArgs{Ref: string(arg)}, nil
	}
	var v callInfoArgs
	d := json.NewDecoder(bytes.NewReader(arg))
	d.DisallowUnknownFields()
	if err := d.Decode(&v); err != nil {
		return v, errors.New(`active_call_info: want {"callreference":"0x…"} with an optional "zip":"yes"`)
	}
	return v, nil
}

func activeCallInfo(req *Request, rep *Reply) {
	a, err := readCallInfoArgs(req)
	if err != nil {
		rep.FailText(CodeInvalid, err.Error(), "call not found")
		return
	}
	// VoIPmonitor gzips the whole reply, "call not found" included, when
	// zip is set; a JSON session carries JSON, so zip is text mode only.
	zip := !req.JSON && isYes(a.Zip)
	defer func() {
		if zip {
			rep.Body = gzipBody(rep.Body)
		}
	}()
	st := req.Host.State()
	ref, err := parseRef(a.Ref)
	if err != nil {
		rep.FailText(CodeInvalid, "bad callreference", "call not found")
		return
	}
	if st == nil {
		rep.FailText(CodeNotFound, "call not found", "call not found")
		return
	}
	c, msgs, found := st.Call(ref)
	if !found {
		rep.FailText(CodeNotFound, "call not found", "call not found")
		return
	}
	rep.Kind = JSON
	rep.Body = state.AppendCallInfo(rep.Body, c, msgs, req.Host.IDSensor())
}

// isYes reads VoIPmonitor's "zip" flag as ListParams does.
func isYes(s string) bool {
	s = strings.TrimSpace(s)
	return strings.EqualFold(s, "yes") || s == "true" || s == "1"
}

// gzipBody compresses a small reply body (VoIPmonitor: real gzip, and a
// body that already starts with 1f 8b is left as it is).
func gzipBody(b []byte) []byte {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		return b
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write(b) // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	return append(b[:0], out.Bytes()...)
}

// parseRef accepts "0x…" (hex, as listcalls shows it) or a decimal number,
// as VoIPmonitor's handlers try %llu then %llx.
func parseRef(s string) (uint64, error) {
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		return strconv.ParseUint(s[2:], 16, 64)
	}
	return strconv.ParseUint(s, 10, 64)
}
