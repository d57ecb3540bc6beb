package server

import (
	"encoding/hex"
	"fmt"
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
	plainTokens        bool // manager_plain_tokens
}

// newPolicy builds the access settings of cfg; it fails only on a config
// the config package accepted but this host cannot resolve (a user or
// group that vanished since).
func newPolicy(cfg *config.Config) (*policy, error) {
	rules, err := access.ParseUnixRules(cfg.UnixLevels)
	if err != nil {
		return nil, fmt.Errorf("manager_unix_levels: %w", err)
	}
	return &policy{plain: cfg.PlainLevel, legacy: cfg.LegacyLevel, key: cfg.KeyLevel, unix: rules, plainTokens: cfg.PlainTokens}, nil
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
		p = &policy{plain: cfg.PlainLevel, legacy: cfg.LegacyLevel, key: cfg.KeyLevel}
	}
	s.access.pol.Store(p)
}

// legacyIdentity is the identity of a VoIPmonitor AES request: the manager
// key is the credential of existing GUIs.
func (s *Server) legacyIdentity() access.Identity {
	return access.Identity{Level: s.policy().legacy, Via: access.ViaLegacy, Name: "legacy_key"}
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
		return access.Identity{Level: p.plain, Via: access.ViaPlain}, nil
	}
	uid, gids, err := peerCred(c.gc.Fd())
	if err != nil {
		return access.Identity{}, []byte("error: peer credentials unavailable\n")
	}
	who := access.Identity{Level: access.ReadWrite, Via: access.ViaPeerCred, Name: "uid:" + strconv.FormatUint(uint64(uid), 10)}
	if uid == 0 || int(uid) == os.Geteuid() {
		return who, nil
	}
	if who.Level = p.unix.Level(uid, gids); who.Level == access.None {
		return who, []byte("error: uid " + strconv.FormatUint(uint64(uid), 10) + " has no access to this socket (see manager_unix_levels)\n")
	}
	return who, nil
}

// maxPeerGroups bounds the groups read of a peer (Linux allows 65536).
const maxPeerGroups = 256

// peerCred is the uid of the peer of fd and its groups: the primary one
// first, then the supplementary ones as they were when it connected
// (SO_PEERGROUPS; a peer in more than maxPeerGroups groups is judged by
// its primary group and user alone).
func peerCred(fd int) (uint32, []uint32, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, nil, err
	}
	gids := []uint32{cred.Gid}
	var buf [maxPeerGroups]uint32
	n := uint32(unsafe.Sizeof(buf))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if e == 0 {
		gids = append(gids, buf[:n/4]...)
	}
	return cred.Uid, gids, nil
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
