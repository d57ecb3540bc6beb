package access

import (
	"errors"
	"fmt"
	"net/netip"
)

// MaxRuntimeAllow bounds the runtime allowlist (`allowlist add`): every
// entry is scanned at accept, and Redis is shared by a fleet whose writers
// must not make every sensor's accept path slow.
const MaxRuntimeAllow = 1024

// Allowlist errors, named so callers and tests can tell them apart.
var (
	ErrAllowlistFull = fmt.Errorf("the runtime allowlist is full (%d entries)", MaxRuntimeAllow)
	ErrFromConfig    = errors.New("the entry is from the config (manager_allow); only runtime entries can be removed")
	ErrNotListed     = errors.New("no such runtime allowlist entry")
	ErrListed        = errors.New("the entry is already listed")
)

// Allowlist is one immutable snapshot of the TCP allowlist: the config's
// entries (manager_allow) and the runtime ones (`allowlist add`). The
// server holds it behind an atomic pointer and swaps a new one in on every
// change, so the check at accept takes no lock. The zero value (and nil)
// is an empty list: everyone may connect.
type Allowlist struct {
	config  []netip.Prefix
	runtime []netip.Prefix
	// unknown: runtime entries were in force but could not be read back
	// (a sensor's state file unreadable at start while Redis is down or
	// empty). The list is then in force with the config's entries only,
	// until the store answers: not knowing the entries never opens it.
	unknown bool
}

// NewAllowlist builds a snapshot; runtime entries beyond MaxRuntimeAllow
// are refused with ErrAllowlistFull, duplicates of config or earlier
// runtime entries are dropped.
func NewAllowlist(config, runtime []netip.Prefix) (*Allowlist, error) {
	a := &Allowlist{config: append([]netip.Prefix(nil), config...)}
	for _, p := range runtime {
		if a.has(p) {
			continue
		}
		if len(a.runtime) == MaxRuntimeAllow {
			return nil, ErrAllowlistFull
		}
		a.runtime = append(a.runtime, p)
	}
	return a, nil
}

// Active reports whether the list is in force: with no entry at all every
// address may connect.
func (a *Allowlist) Active() bool { return a != nil && (len(a.config)+len(a.runtime) > 0 || a.unknown) }

// Unknown reports whether runtime entries are in force but not known (see
// the field).
func (a *Allowlist) Unknown() bool { return a != nil && a.unknown }

// WithUnknownRuntime is a new snapshot whose runtime entries are in force
// but unknown: only the config's entries admit anyone until WithRuntime.
func (a *Allowlist) WithUnknownRuntime() *Allowlist {
	return &Allowlist{config: a.Config(), unknown: true}
}

// Len is the number of entries in force.
func (a *Allowlist) Len() int {
	if a == nil {
		return 0
	}
	return len(a.config) + len(a.runtime)
}

// Allows reports whether a TCP peer at addr may connect. It allocates
// nothing and takes no lock.
func (a *Allowlist) Allows(addr netip.Addr) bool {
	if !a.Active() {
		return true
	}
	addr = addr.Unmap()
	return Contains(a.config, addr) || Contains(a.runtime, addr)
}

// Config and Runtime are copies of the entries, for listing.
func (a *Allowlist) Config() []netip.Prefix { return clonePrefixes(a, false) }

// Runtime: see Config.
func (a *Allowlist) Runtime() []netip.Prefix { return clonePrefixes(a, true) }

func clonePrefixes(a *Allowlist, runtime bool) []netip.Prefix {
	if a == nil {
		return nil
	}
	if runtime {
		return append([]netip.Prefix(nil), a.runtime...)
	}
	return append([]netip.Prefix(nil), a.config...)
}

func (a *Allowlist) has(p netip.Prefix) bool {
	for _, q := range a.config {
		if q == p {
			return true
		}
	}
	for _, q := range a.runtime {
		if q == p {
			return true
		}
	}
	return false
}

// InConfig reports whether p is one of the config's entries.
func (a *Allowlist) InConfig(p netip.Prefix) bool {
	if a == nil {
		return false
	}
	for _, q := range a.config {
		if q == p {
			return true
		}
	}
	return false
}

// WithAdded is a new snapshot with p added to the runtime entries.
func (a *Allowlist) WithAdded(p netip.Prefix) (*Allowlist, error) {
	if a.has(p) {
		return nil, ErrListed
	}
	rt := append(a.Runtime(), p)
	return NewAllowlist(a.Config(), rt)
}

// WithRemoved is a new snapshot without the runtime entry p. A config
// entry is refused with ErrFromConfig: the file is the truth for those.
func (a *Allowlist) WithRemoved(p netip.Prefix) (*Allowlist, error) {
	if a.InConfig(p) {
		return nil, ErrFromConfig
	}
	rt := a.Runtime()
	for i, q := range rt {
		if q == p {
			return NewAllowlist(a.Config(), append(rt[:i], rt[i+1:]...))
		}
	}
	return nil, ErrNotListed
}

// WithConfig is a new snapshot with the config's entries replaced (reload)
// and the runtime ones kept.
func (a *Allowlist) WithConfig(config []netip.Prefix) (*Allowlist, error) {
	n, err := NewAllowlist(config, a.Runtime())
	if err == nil {
		n.unknown = a.Unknown()
	}
	return n, err
}

// WithRuntime is a new snapshot with the runtime entries replaced (what
// the fleet's Redis holds) and the config's kept.
func (a *Allowlist) WithRuntime(runtime []netip.Prefix) (*Allowlist, error) {
	return NewAllowlist(a.Config(), runtime)
}
