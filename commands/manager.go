package commands

import "tapline/jsonobj"

func registerManager(t *Table) {
	t.Register(Command{Name: "manager_file", Level: ReadWrite, Handler: managerFile,
		Params: []Param{
			{Name: "action", Help: "start or stop"},
			{Name: "path", Optional: true, Help: "socket path for start, inside manager_file_dir (default: <manager_file_dir>/tapline-manager.sock); the socket is 0600"},
		},
		Summary: "open or close the runtime Unix socket listener"})
	t.Register(Command{Name: "clients", Level: FullRead, Handler: clients,
		Summary: "list open manager connections (JSON: id, peer, listener, mode, state, identity, level, via, age, requests, bytes)"})
}

func managerFile(req *Request, rep *Reply) {
	var (
		text string
		err  error
	)
	switch string(req.Arg(0)) {
	case "start":
		text, err = req.Server.ManagerFileStart(string(req.Arg(1)), req.Conn)
	case "stop":
		text, err = req.Server.ManagerFileStop(req.Conn)
	default:
		rep.Fail(CodeInvalid, "usage: manager_file start [path] | manager_file stop")
		return
	}
	if err != nil {
		rep.Fail(CodeFailed, err.Error())
		return
	}
	rep.WriteString(text)
}

func clients(req *Request, rep *Reply) {
	rep.Kind = JSON
	b := append(rep.Body, '[')
	for _, c := range req.Server.Clients() {
		b = appendClient(jsonobj.AppendSep(b), c)
	}
	rep.Body = append(b, "]\n"...)
}

// appendClient writes one connection; its peer is a client's address or
// socket path, any bytes.
func appendClient(b []byte, c ClientInfo) []byte {
	b = append(b, '{')
	b = jsonobj.AppendMemberUint(b, "id", c.ID)
	b = jsonobj.AppendMemberString(b, "peer", c.Peer)
	b = jsonobj.AppendMemberString(b, "listener", c.Listener)
	b = jsonobj.AppendMemberString(b, "mode", c.Mode)
	b = jsonobj.AppendMemberString(b, "state", c.State)
	b = jsonobj.AppendMemberString(b, "identity", c.Identity)
	b = jsonobj.AppendMemberString(b, "level", c.Level)
	b = jsonobj.AppendMemberString(b, "via", c.Via)
	b = jsonobj.AppendMemberInt(b, "age_ms", c.AgeMS)
	b = jsonobj.AppendMemberInt(b, "requests", c.Requests)
	b = jsonobj.AppendMemberInt(b, "bytes_in", c.BytesIn)
	b = jsonobj.AppendMemberInt(b, "bytes_out", c.BytesOut)
	b = jsonobj.AppendMemberInt(b, "streams", c.Streams)
	return append(b, '}')
}
