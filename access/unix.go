package access

import (
	"fmt"
	"os/user"
	"strconv"
	"strings"
)

// UnixRules give local users other than root and the server's own user a
// level on the Unix sockets, from their peer credentials
// (manager_unix_levels). Parsed once at start and on reload; Level is
// called per connection.
type UnixRules struct {
	users  map[uint32]Level
	groups map[uint32]Level
	names  map[uint64]string // how each user or group entry was written, for `clients`
	text   string
}

// maxUnixRules bounds manager_unix_levels: a config file is hostile too.
const maxUnixRules = 1024

// ParseUnixRules parses "alice:full_read, @voip:limited_read, 1001:read_write".
// Users and groups are names (resolved now, so a typo fails at start, not
// at the first connection) or numbers. An empty text gives empty rules.
func ParseUnixRules(text string) (*UnixRules, error) {
	r := &UnixRules{users: map[uint32]Level{}, groups: map[uint32]Level{}, names: map[uint64]string{}, text: text}
	n := 0
	for _, f := range strings.Split(text, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if n++; n > maxUnixRules {
			return nil, fmt.Errorf("more than %d entries", maxUnixRules)
		}
		who, lv, ok := strings.Cut(f, ":")
		if !ok {
			return nil, fmt.Errorf("%q is not user:level or @group:level", f)
		}
		l, err := ParseLevel(strings.TrimSpace(lv))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", f, err)
		}
		who = strings.TrimSpace(who)
		if g, isGroup := strings.CutPrefix(who, "@"); isGroup {
			id, err := resolve(g, "group")
			if err != nil {
				return nil, err
			}
			if _, dup := r.groups[id]; dup { // which one was meant? never guess a level
				return nil, fmt.Errorf("group %q (gid %d) is listed twice", g, id)
			}
			r.groups[id] = l
			r.names[uint64(id)|groupBit] = "@" + g
			continue
		}
		id, err := resolve(who, "user")
		if err != nil {
			return nil, err
		}
		if _, dup := r.users[id]; dup {
			return nil, fmt.Errorf("user %q (uid %d) is listed twice", who, id)
		}
		r.users[id] = l
		r.names[uint64(id)] = who
	}
	return r, nil
}

// resolve turns a user or group name or number into its id.
func resolve(name, kind string) (uint32, error) {
	if name == "" {
		return 0, fmt.Errorf("empty %s name", kind)
	}
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	var id string
	if kind == "group" {
		g, err := user.LookupGroup(name)
		if err != nil {
			return 0, fmt.Errorf("no such group %q", name)
		}
		id = g.Gid
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			return 0, fmt.Errorf("no such user %q", name)
		}
		id = u.Uid
	}
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s %q has no numeric id", kind, name)
	}
	return uint32(n), nil
}

// Level is the level of a peer with uid and groups gids (its primary
// group first) that is neither root nor the server's user: its own entry,
// else the highest of its groups' entries, else None (refused).
func (r *UnixRules) Level(uid uint32, gids []uint32) Level {
	l, _ := r.Match(uid, gids)
	return l
}

// groupBit keeps group entries apart from user entries in names (ids are
// below 2^32-1; the bit is only a key, never an id).
const groupBit = 1 << 63

// Match is Level and the entry that decided it as it was configured
// ("alice", "1001", "@voip"); "" when no entry matched.
func (r *UnixRules) Match(uid uint32, gids []uint32) (Level, string) {
	if r == nil {
		return None, ""
	}
	if l, ok := r.users[uid]; ok {
		return l, r.names[uint64(uid)]
	}
	best, by := None, ""
	for _, g := range gids {
		if l, ok := r.groups[g]; ok && l > best {
			best, by = l, r.names[uint64(g)|groupBit]
		}
	}
	return best, by
}

// String is the rules as configured.
func (r *UnixRules) String() string {
	if r == nil {
		return ""
	}
	return r.text
}

// Widens reports whether r may give some peer more than old: a user or
// group entry added or raised, or a user entry removed (its groups'
// levels then apply, which may be higher). Group memberships are not
// looked at, so it may say yes where no actual peer gains (a new entry
// below what a group already gave): it errs towards saying so.
func (r *UnixRules) Widens(old *UnixRules) bool {
	if r == nil {
		return false
	}
	if old == nil {
		return len(r.users) > 0 || len(r.groups) > 0
	}
	for id, l := range r.users {
		if ol, ok := old.users[id]; !ok || l > ol {
			return true
		}
	}
	for id, l := range r.groups {
		if ol, ok := old.groups[id]; !ok || l > ol {
			return true
		}
	}
	for id := range old.users {
		if _, ok := r.users[id]; !ok {
			return true
		}
	}
	return false
}
