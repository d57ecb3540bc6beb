package commands

import (
	"tapline/access"

	"errors"

	"strconv"
	"strings"

	"tapline/jsonobj"
)

// AllowlistState is the TCP allowlist after an allowlist command.
type AllowlistState struct {
	Config  []string // manager_allow entries
	Runtime []string // `allowlist add` entries
	Store   string   // where runtime entries live: "redis" or "memory"
	Missing bool     // Redis lost the runtime entries (empty, no clear marker): kept in force
}

// missingNote is the list's warning while Missing.
const missingNote = "warning: the runtime entries are missing from Redis (lost, not cleared by an operator) and stay in force; " +
	"`allowlist add CIDR` writes one back, `allowlist remove CIDR` clears them on every sensor"

// Entries is the number of entries in force; 0 means every address may
// connect (subject to protected mode).
func (a AllowlistState) Entries() int { return len(a.Config) + len(a.Runtime) }

// ReloadResult says what a reload changed and what it could not.
type ReloadResult struct {
	Changed      []string // access settings now in force
	NeedsRestart []string // other keys that differ from the running config
	Widened      []string // of Changed, those that give someone more access than before
}

func registerGuard(t *Table) {
	t.Register(Command{Name: "allowlist", Level: ReadWrite, Handler: allowlist,
		Params: []Param{
			{Name: "action", Help: "list, add or remove"},
			{Name: "cidr", Optional: true, Help: "address or CIDR to add or remove (runtime entries only)"},
		},
		Summary: "show or change the TCP allowlist (manager_allow plus runtime entries, kept in Redis when configured); adding to an empty list turns it on for everyone else"})
	t.Register(Command{Name: "reload", Level: ReadWrite, Handler: reload,
		Summary: "re-read the config file's access settings (levels, allowlist, tokens file, protected mode, rate limit, backoff) without dropping connections; a bad config keeps the old settings"})
}

// allowCode is the error code of a refused allowlist change: the client's
// mistake (400, 404 for an entry that is not there, 413 for a full list)
// or the store's failure (500).
func allowCode(err error) string {
	switch {
	case errors.Is(err, access.ErrNotListed):
		return CodeNotFound
	case errors.Is(err, access.ErrAllowlistFull):
		return CodeTooLarge
	case errors.Is(err, access.ErrBadPrefix), errors.Is(err, access.ErrHostBits),
		errors.Is(err, access.ErrListed), errors.Is(err, access.ErrFromConfig):
		return CodeInvalid
	}
	return CodeFailed
}

func allowlist(req *Request, rep *Reply) {
	action, cidr := string(req.Arg(0)), string(req.Arg(1))
	if action != "list" && action != "add" && action != "remove" || (action != "list") == (cidr == "") {
		rep.Fail(CodeInvalid, "usage: allowlist list | allowlist add CIDR | allowlist remove CIDR")
		return
	}
	st, err := req.Server.Allowlist(action, cidr)
	if err != nil {
		rep.Fail(allowCode(err), "allowlist "+action+": "+err.Error())
		return
	}
	note := allowNote(action, cidr, st)
	if !req.JSON {
		rep.WriteString(note + "\n")
		if st.Missing {
			rep.WriteString(missingNote + "\n")
		}
		if action == "list" {
			for _, p := range st.Config {
				rep.WriteString("config " + p + "\n")
			}
			for _, p := range st.Runtime {
				rep.WriteString("runtime " + p + "\n")
			}
		}
		return
	}
	rep.Kind = JSON
	b := append(rep.Body, '{')
	b = jsonobj.AppendMemberString(b, "action", action)
	if cidr != "" {
		b = jsonobj.AppendMemberString(b, "cidr", cidr)
	}
	b = jsonobj.AppendMemberInt(b, "entries", int64(st.Entries()))
	b = appendStrings(jsonobj.AppendKey(b, "config"), st.Config)
	b = appendStrings(jsonobj.AppendKey(b, "runtime"), st.Runtime)
	b = jsonobj.AppendMemberString(b, "store", st.Store)
	if st.Missing {
		b = jsonobj.AppendMemberBool(b, "missing", true)
		b = jsonobj.AppendMemberString(b, "warning", missingNote)
	}
	b = jsonobj.AppendMemberString(b, "note", note)
	rep.Body = append(b, "}\n"...)
}

// allowNote is the one-line summary of an allowlist change. Adding the
// first entry turns the list on: every other address is refused from then
// on, which the answer says in so many words.
func allowNote(action, cidr string, st AllowlistState) string {
	n := st.Entries()
	var b strings.Builder
	switch action {
	case "add":
		b.WriteString("added " + cidr + " (" + st.Store + "); ")
	case "remove":
		b.WriteString("removed " + cidr + " (" + st.Store + "); ")
	}
	if n == 0 {
		b.WriteString("allowlist empty: every address may connect (subject to protected mode)")
		return b.String()
	}
	b.WriteString("allowlist now in force: " + strconv.Itoa(n) + " entries")
	if action == "add" && len(st.Config) == 0 && len(st.Runtime) == 1 {
		b.WriteString("; every other TCP address is now refused at accept")
	}
	return b.String()
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for _, s := range ss {
		b = jsonobj.AppendStringS(jsonobj.AppendSep(b), s)
	}
	return append(b, ']')
}

func reload(req *Request, rep *Reply) {
	r, err := req.Server.ReloadAccess()
	if err != nil {
		rep.Fail(CodeFailed, "reload failed, the old settings stay in force: "+err.Error())
		return
	}
	if !req.JSON {
		rep.WriteString("reload ok\n") // VoIPmonitor's answer
		return
	}
	rep.Kind = JSON
	b := append(rep.Body, '{')
	b = jsonobj.AppendMemberString(b, "reload", "ok")
	b = appendStrings(jsonobj.AppendKey(b, "changed"), r.Changed)
	b = appendStrings(jsonobj.AppendKey(b, "needs_restart"), r.NeedsRestart)
	b = appendStrings(jsonobj.AppendKey(b, "widened"), r.Widened)
	rep.Body = append(b, "}\n"...)
}
