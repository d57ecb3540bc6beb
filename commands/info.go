package commands

import (
	"tapline/version"
)

func registerInfo(t *Table) {
	t.Register(Command{Name: "help", Level: LimitedRead, Inline: true, Handler: help,
		Params:  []Param{{Name: "command", Optional: true, Help: "show one command in detail"}},
		Summary: "list the commands, or describe one"})
	t.Register(Command{Name: "getversion", Level: LimitedRead, Plaintext: true, Inline: true, Handler: getVersion,
		Summary: "print the version (no trailing newline, like VoIPmonitor)"})
	t.Register(Command{Name: "getbuild", Level: LimitedRead, Plaintext: true, Inline: true, Handler: getBuild,
		Summary: "print the build identifier"})
	t.Register(Command{Name: "getverbuild", Level: LimitedRead, Plaintext: true, Inline: true, Handler: getVerBuild,
		Summary: "print \"<version> (<build>)\""})
	t.Register(Command{Name: "ping", Level: LimitedRead, Plaintext: true, Inline: true, Handler: ping,
		Summary: "answer pong: a liveness check"})
	t.Register(Command{Name: "quit", Level: LimitedRead, Plaintext: true, Inline: true, Handler: quit,
		Summary: "end the session (JSON sessions); a one-shot connection just closes"})
}

func getVersion(_ *Request, rep *Reply)  { rep.WriteString(version.Version) }
func getBuild(_ *Request, rep *Reply)    { rep.WriteString(version.Build) }
func getVerBuild(_ *Request, rep *Reply) { rep.WriteString(version.VerBuild()) }
func ping(_ *Request, rep *Reply)        { rep.WriteString("pong\n") }

func quit(req *Request, rep *Reply) {
	rep.Close = true
	if req.JSON {
		rep.WriteString("bye")
	}
}

// help keeps VoIPmonitor's layout ("List of commands:\n\n" then
// "name ... text.\n\n") so GUIs that scrape it keep working.
func help(req *Request, rep *Reply) {
	tbl := req.Server.Table()
	if name := req.Arg(0); len(name) > 0 {
		c := tbl.Lookup(name)
		if c == nil || c.Hidden {
			rep.FailText(CodeNotFound, "no such command: "+string(name), "command not found\n")
			return
		}
		helpOne(rep, c)
		return
	}
	rep.WriteString("List of commands:\n\n")
	for _, c := range tbl.sorted() {
		rep.WriteString(c.Name + " ... " + c.Summary + ".\n\n")
	}
}

func helpOne(rep *Reply, c *Command) {
	rep.WriteString(c.Name + " ... " + c.Summary + ".\n\n")
	rep.WriteString("usage: " + c.usage() + "\n")
	for _, p := range c.Params {
		rep.WriteString("  " + p.Name + ": " + p.Help + "\n")
	}
	plain := plaintextCell(c)
	rep.WriteString("access: " + c.Level.String() + "; plaintext allowed when encrypted: " + plain + "\n")
}

// yesNo writes a flag as help and the docs show it.
func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// plaintextCell is the plaintext column of help and docs/COMMANDS.md.
func plaintextCell(c *Command) string {
	return yesNo(c.Plaintext)
}
