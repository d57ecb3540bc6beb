package commands

import (
	"fmt"
	"sort"

	"tapline/access"
)

// Level is the least access level a command needs (access.Level): the
// server's one request path refuses a command above the connection's level.
type Level = access.Level

// The levels, as commands name them in the table.
const (
	LimitedRead = access.LimitedRead // counters and versions: safe for monitoring agents
	FullRead    = access.FullRead    // the live tables, client lists, events
	ReadWrite   = access.ReadWrite   // anything that changes the sensor, opens files or listeners
)

// Param describes one argument. In text mode arguments are positional words;
// in a JSON session they may also be given by Name in an "args" object.
type Param struct {
	Name     string
	Help     string
	Optional bool
	Rest     bool // takes the rest of the line (JSON text, paths with spaces)
}

// Handler fills rep for req. It runs on a worker goroutine, never on an event
// loop, so it may block briefly (Redis, files); anything proportional to a
// large data set belongs in rep.Stream.
type Handler func(req *Request, rep *Reply)

// Command is one row of the table.
type Command struct {
	Name      string
	Level     Level
	Plaintext bool // accepted without encryption when a key exists (VoIPmonitor's notNeedAes)
	Params    []Param
	Summary   string
	Handler   Handler
	Hidden    bool // test-only: left out of help and docs
	// Inline marks a handler that is cheap, bounded and never blocks: it
	// runs on the event loop, saving the worker round trip that would cost
	// far more than the handler itself. Anything touching Redis, files or
	// data that grows with traffic must leave it false.
	Inline bool
	// JSONParams marks a command whose JSON-session "args" object is its
	// own JSON params (listcalls' {"limit":…}), whose member names the
	// handler checks, rather than an object keyed by Params names.
	JSONParams bool
	Index      int // dense position, used by per-command counters
}

// usage is "name <p1> [p2]" built from the param spec.
func (c *Command) usage() string {
	u := c.Name
	for _, p := range c.Params {
		n := p.Name
		if p.Rest {
			n += "..."
		}
		if p.Optional {
			u += " [" + n + "]"
		} else {
			u += " <" + n + ">"
		}
	}
	return u
}

// Table maps names to commands. It is built once at start-up and then only
// read, so lookups need no lock.
type Table struct {
	byName map[string]*Command
	list   []*Command
}

// newTable returns an empty table.
func newTable() *Table { return &Table{byName: map[string]*Command{}} }

// Register adds c. Like http.ServeMux it panics on programmer errors (empty
// name, nil handler, more than maxArgs params, no level, duplicate) because they can only come from code.
func (t *Table) Register(c Command) {
	if c.Name == "" || c.Handler == nil || len(c.Params) > maxArgs || c.Level == access.None {
		panic(fmt.Sprintf("commands: bad registration %q", c.Name))
	}
	if _, dup := t.byName[c.Name]; dup {
		panic("commands: duplicate command " + c.Name)
	}
	cp := c
	cp.Index = len(t.list)
	t.byName[c.Name] = &cp
	t.list = append(t.list, &cp)
}

// Lookup finds a command by its exact name. The string conversion in the map
// index does not allocate.
func (t *Table) Lookup(name []byte) *Command { return t.byName[string(name)] }

// Len is the number of commands, the size of per-command counter arrays.
func (t *Table) Len() int { return len(t.list) }

// byIndex returns the command with the given Index.
func (t *Table) byIndex(i int) *Command { return t.list[i] }

// sorted returns the visible commands by name, for help and docs.
func (t *Table) sorted() []*Command {
	out := make([]*Command, 0, len(t.list))
	for _, c := range t.list {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// extras lets build-tagged files (test-only commands) add to the default table.
var extras []func(*Table)

// Default returns the table of every built-in command.
func Default() *Table {
	t := newTable()
	registerInfo(t)
	registerAuth(t)
	registerStats(t)
	registerManager(t)
	registerGuard(t)
	registerCrypto(t)
	registerCalls(t)
	for _, f := range extras {
		f(t)
	}
	return t
}
