package server

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"tapline/access"
	"tapline/commands"
	"tapline/config"
)

// policy is the access settings in force: built from the config at start
// and swapped whole on reload, so a request sees one consistent set.
type policy struct {
	plain, legacy, key access.Level
	unix               *access.UnixRules
	allow              []netip.Prefix      // manager_allow (the runtime entries are in guard.allow)
	rate               float64             // manager_rate_limit
	fail               access.FailSettings // manager_auth_fail_*
	protected          bool                // manager_protected_mode
	plainTokens        bool                // manager_plain_tokens
	tokensFile         string              // manager_tokens_file
}

// newPolicy builds the access settings of cfg; it fails only on a config
// the config package accepted but this host cannot resolve (a user or
// group that vanished since).
func newPolicy(cfg *config.Config) (*policy, error) {
	rules, err := access.ParseUnixRules(cfg.UnixLevels)
	if err != nil {
		return nil, fmt.Errorf("manager_unix_levels: %w", err)
	}
	allow, err := access.ParsePrefixes(cfg.Allow)
	if err != nil {
		return nil, fmt.Errorf("manager_allow: %w", err)
	}
	p := basePolicy(cfg)
	p.unix, p.allow = rules, allow
	return p, nil
}

// basePolicy is cfg's settings that cannot fail to resolve.
func basePolicy(cfg *config.Config) *policy {
	return &policy{plain: cfg.PlainLevel, legacy: cfg.LegacyLevel, key: cfg.KeyLevel, rate: cfg.RateLimit,
		fail: failSettings(cfg), protected: cfg.ProtectedMode, plainTokens: cfg.PlainTokens, tokensFile: cfg.TokensFile}
}

// accessState holds the policy in force.
type accessState struct {
	pol atomic.Pointer[policy]
}

func (s *Server) policy() *policy { return s.access.pol.Load() }

// setPolicy installs cfg's access settings. Settings that do not resolve
// leave other Unix users without access (fail closed) and make Start fail.
func (s *Server) setPolicy(cfg *config.Config) {
	p, err := newPolicy(cfg)
	if err != nil {
		s.policyErr = err
		p = basePolicy(cfg)
	}
	s.access.pol.Store(p)
}

// legacyIdentity is the identity of a VoIPmonitor AES request decrypted
// with a key stored with level keyLevel (None: manager_key_level): the
// manager key is the credential of existing GUIs, at manager_legacy_level,
// but never above the key's own level, or a key handed out as
// limited_read would run everything in the older framing.
func (s *Server) legacyIdentity(keyLevel access.Level) access.Identity {
	p := s.policy()
	if keyLevel == access.None {
		keyLevel = p.key
	}
	return access.Identity{Level: min(p.legacy, keyLevel), Via: access.ViaLegacy, Name: "legacy_key"}
}

// keyIdentity is the identity of a hardened frame sealed with the key
// whose id (and fingerprint) is kid: the level stored with the key
// (`tapline keys store --level`), else manager_key_level.
func (s *Server) keyIdentity(kid [8]byte) access.Identity {
	lvl := s.keys.KeyLevel(kid)
	if lvl == access.None {
		lvl = s.policy().key
	}
	return access.Identity{Level: lvl, Via: access.ViaKey, Name: "key:" + hex.EncodeToString(kid[:])}
}

// connectIdentity decides who c is when it connects: a Unix peer by its
// credentials, a TCP peer plaintext until a key or a token says otherwise.
// A non-nil refusal means the peer has no level at all. On the loop.
func (s *Server) connectIdentity(c *conn) (access.Identity, []byte) {
	p := s.policy()
	if c.listener == "tcp" {
		refused, most := s.protectConnect(c.addr, c.addr.IsValid())
		if refused {
			s.auditRefused(c.addr, c.peer, "protected_mode")
			return access.Identity{}, msgProtected
		}
		return access.Identity{Level: min(p.plain, most), Via: access.ViaPlain}, nil
	}
	uid, gids, err := peerCred(c.gc.Fd())
	if err != nil { // fail closed: no credentials, no level
		s.peerRefused.Add(1)
		return access.Identity{}, []byte("error: peer credentials unavailable\n")
	}
	id := "uid:" + strconv.FormatUint(uint64(uid), 10)
	who := access.Identity{Level: access.ReadWrite, Via: access.ViaPeerCred, Name: id}
	if uid == 0 || int(uid) == os.Geteuid() {
		return who, nil
	}
	var by string
	if who.Level, by = p.unix.Match(uid, gids); who.Level == access.None {
		s.peerRefused.Add(1)
		s.authFailure(c, access.Identity{Via: access.ViaPeerCred, Name: id}, "", "peercred", "")
		return access.Identity{}, []byte("error: " + id + " has no access to this socket (not in manager_unix_levels)\n")
	}
	who.Name = id + "(" + by + ")" // the entry that granted it: "uid:1001(alice)", "uid:1002(@voip)"
	return who, nil
}

// Peer groups read at connect: most peers are in a few groups, read into
// a buffer on the stack; Linux allows up to 65536 (NGROUPS_MAX), which are
// read into one bounded allocation.
const (
	peerGroupsStack = 64
	maxPeerGroups   = 65536
)

// peerCred is the uid of the peer of fd and its groups: the primary one
// first, then the supplementary ones as they were when it connected
// (SO_PEERGROUPS). The groups cannot be read: the peer is judged by its
// user and primary group alone, which never grants more than its entries.
func peerCred(fd int) (uint32, []uint32, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, nil, err
	}
	gids := []uint32{cred.Gid}
	var small [peerGroupsStack]uint32
	buf := small[:]
	for {
		n := uint32(len(buf) * 4)
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		switch {
		case e == 0 && n <= uint32(len(buf)*4):
			return cred.Uid, append(gids, buf[:n/4]...), nil
		case e == unix.ERANGE && len(buf) == peerGroupsStack && n/4 <= maxPeerGroups:
			buf = make([]uint32, n/4+1) // the kernel said how many; one more in case it grew
		default:
			return cred.Uid, gids, nil
		}
	}
}

// levelRefused answers a command above the connection's level: text mode
// names the level it needs, JSON says forbidden (403), or unauthenticated
// (401) when no credential stands behind the connection at all.
func levelRefused(rep *commands.Reply, cmd *commands.Command, who access.Identity) {
	code := commands.CodeForbidden
	if who.Anonymous() {
		code = commands.CodeUnauthenticated
	}
	rep.Fail(code, cmd.Name+" needs "+cmd.Level.String()+"; this connection has "+who.Level.String()+" ("+who.Via.String()+")")
}
