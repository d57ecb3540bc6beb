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

// paramsArg is the argument of a JSONParams command (the listings,
// active_call_info): the rest of the text line, or in a JSON session the
// "args" object itself (a listing's may wrap its params in "params").
func paramsArg(req *Request) []byte {
	if req.JSON && len(req.Args) > 0 && req.Args[0] == '{' {
		return req.Args
	}
	return req.Arg(0)
}

// listing describes one listing command for list: its columns and its
// two encoders (VoIPmonitor's arrays, and objects for JSON sessions), each
// taking its snapshot when the reply is written, not when the request is
// run: a reply queued behind others (several listings in one hardened
// frame, a pipelined batch) then holds no snapshot while it waits, so a
// client that does not read cannot pin one table copy per request.
type listing struct {
	name    string
	columns []string
	// parse reads the params with this listing's filter keys, so a filter
	// on a field the table lacks is an error there.
	parse func([]byte) (state.ListParams, error)
	// arrays and objects take the snapshot and encode it; st is nil on a
	// sensor without a capture source, which lists nothing (VoIPmonitor's
	// empty listing).
	arrays, objects func(w io.Writer, st *state.Store, p state.ListParams, id int) error
}

var (
	callListing = listing{"listcalls", state.CallColumns(), state.ParseCallParams,
		func(w io.Writer, st *state.Store, p state.ListParams, id int) error {
			return state.WriteListCalls(w, snapCalls(st), p, id)
		},
		func(w io.Writer, st *state.Store, p state.ListParams, id int) error {
			return state.WriteCallObjects(w, snapCalls(st), p, id)
		}}
	registerListing = listing{"listregisters", state.RegisterColumns(), state.ParseRegisterParams,
		func(w io.Writer, st *state.Store, p state.ListParams, id int) error {
			return state.WriteListRegisters(w, snapRegisters(st), p, id)
		},
		func(w io.Writer, st *state.Store, p state.ListParams, id int) error {
			return state.WriteRegisterObjects(w, snapRegisters(st), p, id)
		}}
)

// snapCalls is the calls of st: pointers to immutable records, cheap, and
// never stalls ingest. None without a capture source.
func snapCalls(st *state.Store) []*state.Call {
	if st == nil {
		return nil
	}
	return st.Calls()
}

// snapRegisters is the registrations of st, as snapCalls.
func snapRegisters(st *state.Store) []*state.Register {
	if st == nil {
		return nil
	}
	return st.Registers()
}

func listCalls(req *Request, rep *Reply)     { list(req, rep, callListing) }
func listRegisters(req *Request, rep *Reply) { list(req, rep, registerListing) }

// list validates the params and leaves the snapshot and its encoding to
// the reply stream, which runs on the connection's writer goroutine.
func list(req *Request, rep *Reply, l listing) {
	p, err := l.parse(paramsArg(req))
	if err == nil {
		err = checkFields(p.Fields, l.columns)
	}
	if err != nil {
		rep.Fail(CodeInvalid, l.name+": "+err.Error())
		return
	}
	st := req.Env.store() // nil without a capture source: the empty listing, as an idle VoIPmonitor
	id := req.Env.idSensor()
	enc := l.arrays
	if req.JSON {
		enc = l.objects
	}
	write := func(w io.Writer) error {
		if st != nil {
			p.Now = st.Now() // durations at the sensor's clock, which moves even when traffic is quiet
		}
		return enc(w, st, p, id)
	}
	rep.Kind = JSON
	if req.JSON {
		rep.Stream = write
		return
	}
	rep.Stream = zipped(p.Zip, write)
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
	if st := req.Env.store(); st != nil {
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
	arg := paramsArg(req)
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
	zip, err := state.ParseYesNo(a.Zip)
	if err != nil {
		rep.FailText(CodeInvalid, "active_call_info: zip: "+err.Error(), "call not found")
		return
	}
	zip = zip && !req.JSON
	defer func() {
		if zip {
			rep.Body = gzipBody(rep.Body)
		}
	}()
	st := req.Env.store()
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
	rep.Body = state.AppendCallInfo(rep.Body, c, msgs, req.Env.idSensor())
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
