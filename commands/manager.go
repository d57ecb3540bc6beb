package commands

import (
	"encoding/json"
)

func registerManager(t *Table) {
	t.Register(Command{Name: "manager_file", Level: ReadWrite, NoPlaintextTCP: true, Handler: managerFile,
		Params: []Param{
			{Name: "action", Help: "start or stop"},
			{Name: "path", Optional: true, Help: "socket path for start (default: a new path under the temp dir)"},
		},
		Summary: "open or close the runtime Unix socket listener"})
	t.Register(Command{Name: "clients", Level: FullRead, Handler: clients,
		Summary: "list open manager connections (JSON: id, peer, listener, mode, state, age, requests, bytes)"})
}

func managerFile(req *Request, rep *Reply) {
	var (
		text string
		err  error
	)
	switch string(req.Arg(0)) {
	case "start":
		text, err = req.Host.ManagerFileStart(string(req.Arg(1)), req.Conn)
	case "stop":
		text, err = req.Host.ManagerFileStop(req.Conn)
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
	list := req.Host.Clients()
	if list == nil {
		list = []ClientInfo{}
	}
	b, err := json.Marshal(list)
	if err != nil {
		rep.Fail(CodeFailed, "encode clients: "+err.Error())
		return
	}
	rep.Kind = JSON
	rep.Body = append(append(rep.Body, b...), '\n')
}
