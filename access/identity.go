package access

// Via is how a connection's identity was decided.
type Via uint8

const (
	ViaPlain    Via = iota // plaintext TCP, no credential: manager_plain_level
	ViaPeerCred            // Unix socket: the peer's uid and groups (SO_PEERCRED)
	ViaLegacy              // VoIPmonitor AES request: manager_legacy_level
	ViaKey                 // hardened frame: the level its key carries
	ViaToken               // an access token (auth): the level it carries
)

var viaNames = [...]string{ViaPlain: "plaintext", ViaPeerCred: "peercred", ViaLegacy: "legacy_key", ViaKey: "hardened_key", ViaToken: "token"}

func (v Via) String() string {
	if int(v) < len(viaNames) {
		return viaNames[v]
	}
	return "unknown"
}

// Identity is who a connection is, decided once when it connects or
// authenticates. Name never holds a secret: a uid and user name, a key
// fingerprint, a token id.
type Identity struct {
	Level Level
	Via   Via
	Name  string // "uid:1000(alice)", "key:3f2a…", "token:ab12cd34", "" for plaintext
	Token string // the token id when Via is ViaToken
}

// Anonymous reports whether no credential at all stands behind i: a
// refusal then is "unauthenticated" (401), not "forbidden" (403).
func (i Identity) Anonymous() bool { return i.Via == ViaPlain }
