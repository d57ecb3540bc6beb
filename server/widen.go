package server

import (
	"net/netip"
)

// widens lists the access keys of p (a reload's settings) that give
// someone more access than old: a level raised, manager_unix_levels
// granting more, manager_allow emptied or given an address it did not
// cover, protected mode turned off, plaintext tokens allowed, another
// tokens file, the rate limit or the failure backoff relaxed. A reload
// that widens still applies (operators widen on purpose), but says so at
// WARN and in the reply, so a typo or a truncated file that drops a
// restriction does not pass silently. Keys in config order.
func (p *policy) widens(old *policy) []string {
	var w []string
	add := func(cond bool, key string) {
		if cond {
			w = append(w, key)
		}
	}
	add(p.plain > old.plain, "manager_plain_level")
	add(p.legacy > old.legacy, "manager_legacy_level")
	add(p.key > old.key, "manager_key_level")
	add(p.unix.Widens(old.unix), "manager_unix_levels")
	add(allowWidens(p.allow, old.allow), "manager_allow")
	add(old.protected && !p.protected, "manager_protected_mode")
	add(p.tokensFile != "" && p.tokensFile != old.tokensFile, "manager_tokens_file")
	add(p.plainTokens && !old.plainTokens, "manager_plain_tokens")
	add(old.rate > 0 && (p.rate == 0 || p.rate > old.rate), "manager_rate_limit")
	add(old.fail.Limit > 0 && (p.fail.Limit == 0 || p.fail.Limit > old.fail.Limit), "manager_auth_fail_limit")
	add(old.fail.Limit > 0 && p.fail.Limit > 0 && p.fail.Window < old.fail.Window, "manager_auth_fail_window")
	add(old.fail.Limit > 0 && p.fail.Limit > 0 && p.fail.Cooldown < old.fail.Cooldown, "manager_auth_fail_cooldown")
	return w
}

// allowWidens reports whether the config allowlist next lets in an
// address that old did not: old was a list and next is empty (every
// address may connect, unless runtime entries remain), or next has an
// entry that no entry of old covers. An empty old list lets everyone in:
// nothing next says widens it.
func allowWidens(next, old []netip.Prefix) bool {
	if len(old) == 0 {
		return false
	}
	if len(next) == 0 {
		return true
	}
	for _, n := range next {
		if !covered(n, old) {
			return true
		}
	}
	return false
}

// covered reports whether some prefix of list contains all of n.
func covered(n netip.Prefix, list []netip.Prefix) bool {
	for _, o := range list {
		if o.Addr().Is4() == n.Addr().Is4() && o.Bits() <= n.Bits() && o.Contains(n.Addr()) {
			return true
		}
	}
	return false
}
