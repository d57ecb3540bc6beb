package config

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"tapline/access"
)

// Key describes one configuration key for the command line and the docs.
type Key struct {
	Name    string // key in the config file, e.g. "manager_max_request"
	Flag    string // command-line flag: Name with '_' replaced by '-'
	Default string // default value as text, in config-file syntax
	Help    string // one-line description
	Bool    bool   // a yes/no key: its flag may be given without a value
	Secret  bool   // a credential: never shown in errors, logs or docs' examples
}

// keyDef is one row of the key table: everything tapline knows about a key.
// Adding a key means adding one row to table.
type keyDef struct {
	name, def, help string
	merge           bool                            // repeated lines join with ","
	boolean         bool                            // yes/no value
	secret          bool                            // the value is a credential: never in an error or a log
	security        bool                            // a typo here weakens the sensor: near misses are errors in the log
	set             func(c *Config, v string) error // parse v and store it
	get             func(c *Config) string          // current value as text
}

const (
	miB = 1 << 20
	giB = 1 << 30
)

var logLevels = []string{"debug", "info", "warn", "error"}

// table lists every key tapline understands, in a stable order.
var table = []keyDef{
	strKey("managerip", "127.0.0.1", "IP address the manager TCP listener binds to (IPv4 or IPv6 literal)", checkIP,
		func(c *Config) *string { return &c.ManagerIP }),
	intKey("managerport", "5029", "manager TCP port (0..65535); 0 disables the TCP listener", "a port", 0, 65535,
		func(c *Config) *int { return &c.ManagerPort }),
	strKey("managersocket", "", "path of a Unix socket for the manager (at most 107 bytes); empty disables it. A relative path is taken against the working directory; the path must be canonical, without `?`, `#` or symlinked directories, and an existing socket is replaced only when no process holds it (PROTOCOL.md §2)", checkSocket,
		func(c *Config) *string { return &c.ManagerSocket }),
	intKey("id_sensor", "0", "sensor id (0..2147483647) in the `id_sensor` column and summary of listcalls and listregisters and in active_call_info; with `redis`, a non-zero id also registers the sensor so `tapline send -s ID` finds it. 0 means unset", "a sensor id", 0, 2147483647,
		func(c *Config) *int { return &c.IDSensor }),
	sizeKey("manager_max_request", "64KiB", "largest accepted request line (64 B..64 MiB)", 64, 64*miB,
		func(c *Config) *int { return &c.MaxRequest }),
	intKey("manager_max_connections", "1024", "maximum concurrent manager connections on all listeners (1..1000000); lowered at start to what `RLIMIT_NOFILE` allows (the effective limit is logged)", "a connection count", 1, 1000000,
		func(c *Config) *int { return &c.MaxConnections }),
	intKey("manager_max_connections_per_ip", "256", "maximum concurrent TCP connections from one client address, an IPv4 address or an IPv6 /64 (1..1000000)", "a connection count", 1, 1000000,
		func(c *Config) *int { return &c.MaxConnectionsPerIP }),
	intKey("manager_unix_reserved", "16", "places of `manager_max_connections` that TCP clients cannot take, kept for the Unix socket (0..1000000; at most half the limit)", "a connection count", 0, 1000000,
		func(c *Config) *int { return &c.UnixReserved }),
	durKey("manager_read_timeout", "10s", "time allowed for a client to send a complete request (> 0)", false,
		func(c *Config) *time.Duration { return &c.ReadTimeout }),
	durKey("manager_idle_timeout", "300s", "idle time after which a JSON session is closed (> 0)", false,
		func(c *Config) *time.Duration { return &c.IdleTimeout }),
	durKey("manager_write_timeout", "30s", "a reply write that makes no progress for this long is abandoned (> 0)", false,
		func(c *Config) *time.Duration { return &c.WriteTimeout }),
	durKey("manager_linger", "5s", "after a one-shot reply, how long to wait for the client's EOF before closing (≥ 0; 0 closes at once)", true,
		func(c *Config) *time.Duration { return &c.Linger }),
	durKey("manager_shutdown_timeout", "10s", "time allowed for in-flight requests on shutdown (> 0)", false,
		func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
	intKey("manager_workers", "0", "request worker goroutines (0..4096); 0 means max(8, 4 × GOMAXPROCS)", "a worker count", 0, 4096,
		func(c *Config) *int { return &c.Workers }),
	intKey("manager_stream_nice", "10", "nice value added to the thread that writes a streamed reply (a whole-table `listcalls`), so the event loops answer small requests first (0..19; 0 disables). Without privileges the thread cannot be raised back afterwards and ends with its reply", "a nice increment", 0, 19,
		func(c *Config) *int { return &c.StreamNice }),
	intKey("manager_queue", "1024", "jobs waiting for a worker before the manager answers busy (1..1000000)", "a queue length", 1, 1000000,
		func(c *Config) *int { return &c.Queue }),
	intKey("manager_event_loops", "0", "network event loops of the TCP listener (0..256); 0 means one per CPU. A Unix listener always has one loop", "an event loop count", 0, 256,
		func(c *Config) *int { return &c.EventLoops }),
	sizeKey("manager_max_pending", "4MiB", "unprocessed pipelined input allowed per JSON session (64 B..1 GiB)", 64, giB,
		func(c *Config) *int { return &c.MaxPending }),
	sizeKey("manager_output_limit", "64MiB", "reply output a client may leave unread (queued in tapline plus the socket's send queue) for longer than `manager_output_limit_seconds`; then its connection is reset, counted in `sniffer_stat` (`connections_output_limited`) and logged at WARN (64 KiB..1 GiB)", 64<<10, giB,
		func(c *Config) *int { return &c.OutputLimit }),
	durKey("manager_output_limit_seconds", "10", "how long a client's unread output may stay above `manager_output_limit` (> 0)", false,
		func(c *Config) *time.Duration { return &c.OutputLimitTime }),
	secretKey(strKey("manager_aes_key", "", "base64 AES key of the manager, as in voipmonitor.conf; when set, Redis is not consulted for the key", checkBase64,
		func(c *Config) *string { return &c.AESKey }), "base64"),
	secretKey(strKey("manager_aes_iv", "", "base64 AES IV; set together with `manager_aes_key`", checkBase64,
		func(c *Config) *string { return &c.AESIV }), "base64"),
	boolKey("manager_reuseport", "yes", "one TCP listening socket per event loop (SO_REUSEPORT): the kernel spreads new connections, about 15 % more one-shot requests per second; start still fails when any other socket holds the port",
		func(c *Config) *bool { return &c.ReusePort }),
	securityKey(boolKey("manager_enable_unencrypted", "no", "accept every plaintext command on TCP even when a key exists (testing only)",
		func(c *Config) *bool { return &c.Unencrypted })),
	securityKey(levelKey("manager_plain_level", "full_read", "level of plaintext TCP requests that carry no token (`limited_read`, `full_read` or `read_write`). While a manager key is in force, VoIPmonitor's `need aes!` still refuses every command that is not plaintext-allowed first",
		func(c *Config) *access.Level { return &c.PlainLevel })),
	securityKey(levelKey("manager_legacy_level", "read_write", "level of requests encrypted in VoIPmonitor's AES framing: the manager key is the credential of existing GUIs, so the default keeps them working unchanged. Never above the key's own level (`manager_key_level`, or the level stored with the key), so a key handed out as limited_read stays limited_read in either framing",
		func(c *Config) *access.Level { return &c.LegacyLevel })),
	securityKey(levelKey("manager_key_level", "read_write", "level of the manager key from `manager_aes_key` and of keys stored without one: hardened frames get it, legacy AES requests at most it (a key stored with `tapline keys store --level` carries its own)",
		func(c *Config) *access.Level { return &c.KeyLevel })),
	securityKey(strKey("manager_unix_levels", "", "levels of other local users on the Unix sockets, by peer credentials: `alice:full_read, @voip:limited_read, 1001:read_write` (users and `@groups` by name or number; a user's own entry wins over its groups, the highest group level otherwise). uid 0 and the server's own uid always get `read_write`; anyone else not listed is refused at connect", checkUnixLevels,
		func(c *Config) *string { return &c.UnixLevels })),
	modeKey("managersocket_mode", "0600", "permission bits of the `managersocket` (octal: 0600, 0660 or 0666; no execute bits), set before the socket appears at its path; other users reach the socket only through these (and the directory's), and their level is still decided by `manager_unix_levels`. Sockets made by `manager_file start` are always 0600",
		func(c *Config) *uint32 { return &c.SocketMode }),
	strKey("managersocket_group", "", "group (name or number) owning the `managersocket`; with `managersocket_mode` 0660 that group's members may connect (an unknown group fails the start); empty keeps the server's group", checkToken,
		func(c *Config) *string { return &c.SocketGroup }),
	strKey("manager_file_dir", "", "directory inside which `manager_file start [PATH]` may create a socket (default `<manager_file_dir>/tapline-manager.sock`); empty means the directory of `managersocket`, else `rundir`", checkOptionalAbsDir,
		func(c *Config) *string { return &c.FileDir }),
	strKey("rundir", "/run/tapline", "runtime directory; the default `manager_file_dir` when no `managersocket` is set. `make run` uses `./run`", checkOptionalAbsDir,
		func(c *Config) *string { return &c.RunDir }),
	securityKey(boolKey("manager_protected_mode", "yes", "while TCP listens on a non-loopback address and nothing protects it (no key, no live token, no allowlist), refuse non-loopback peers with one line saying why; while live tokens are all that protects it, non-loopback plaintext peers get at most `limited_read` until they `auth`; `no` turns protected mode off",
		func(c *Config) *bool { return &c.ProtectedMode })),
	securityKey(strKey("manager_tokens_file", "", "file holding the access tokens (hashed) when no `redis` is configured; `tapline tokens` maintains it and the server re-reads it within 1 s of a change. It must be owned by root or the server's user and not writable by group or others, else it is refused", func(string) error { return nil },
		func(c *Config) *string { return &c.TokensFile })),
	securityKey(boolKey("manager_plain_tokens", "no", "accept `auth <token>` over plaintext TCP from non-loopback peers, where anyone on the path can read the token; by default a token from afar must travel inside a hardened frame",
		func(c *Config) *bool { return &c.PlainTokens })),
	securityKey(mergeKey(strKey("manager_allow", "", "TCP allowlist: addresses and CIDRs (`10.0.0.0/8, 192.0.2.7, ::1`); when set it is the whole list (loopback only if listed) together with the runtime `allowlist add` entries, and other peers are closed at accept without a byte written. Empty lets every address connect, subject to protected mode. Repeated lines merge", checkAllow,
		func(c *Config) *string { return &c.Allow }))),
	floatKey("manager_rate_limit", "0", "requests per second per identity (token, key, Unix user or plaintext address), with a burst of as many; over it requests are answered `rate_limited` (429). 0 turns the limit off",
		func(c *Config) *float64 { return &c.RateLimit }),
	intKey("manager_auth_fail_limit", "10", "failed credentials (bad, expired or revoked token, wrong CIDR, undecryptable or bad frames; not refused levels or `need aes!`, never from loopback) from one address within `manager_auth_fail_window` before that address is refused for `manager_auth_fail_cooldown` (0 turns the backoff off)", "a count", 0, 1000000,
		func(c *Config) *int { return &c.AuthFailLimit }),
	durKey("manager_auth_fail_window", "60s", "the window `manager_auth_fail_limit` counts failures in (> 0)", false,
		func(c *Config) *time.Duration { return &c.AuthFailWindow }),
	durKey("manager_auth_fail_cooldown", "60s", "how long an address over `manager_auth_fail_limit` is refused (> 0)", false,
		func(c *Config) *time.Duration { return &c.AuthFailCooloff }),
	secretKey(strKey("redis", "", "Redis URL for the manager key and the sensor registry: `redis://[user:pass@]host:port/db`, `rediss://…`, `unix:///path`, or several hosts `redis://h1:p1,h2:p2/0?master=NAME` (Sentinel)", checkRedisURL,
		func(c *Config) *string { return &c.Redis }), "a Redis URL (redis://host:port/db, rediss://..., unix:///path)"),
	durKey("manager_key_grace", "60s", "after a key rotation, how long the previous key still decrypts", true,
		func(c *Config) *time.Duration { return &c.KeyGrace }),
	strKey("statedir", "/var/lib/tapline", "directory of the sensor's state file `keys.state`, which remembers that a key from Redis was enforced (its fingerprint and since when, never the key), so a Redis that lost the key cannot reopen plaintext even across a restart; created 0700 if missing; used only with `redis`. `make run` uses `./run`", checkStateDir,
		func(c *Config) *string { return &c.StateDir }),
	durKey("manager_frame_window", "30s", "hardened frames: accepted clock difference between client and sensor", false,
		func(c *Config) *time.Duration { return &c.FrameWindow }),
	strKey("interface", "", "live capture interface(s) with AF_PACKET (`lo`, `eth0`, `any`, comma list); needs root or CAP_NET_RAW", checkToken,
		func(c *Config) *string { return &c.Interface }),
	mergeKey(strKey("sipport", "5060", "SIP ports: lists and ranges (`5060,5080-5082`); repeated lines merge", checkPorts,
		func(c *Config) *string { return &c.SIPPorts })),
	boolKey("sip-register", "yes", "track REGISTER transactions (`listregisters`)",
		func(c *Config) *bool { return &c.SIPRegister }),
	strKey("replay", "", "replay a pcap or pcapng file as if captured live; the sensor's clock follows the packets", func(string) error { return nil },
		func(c *Config) *string { return &c.Replay }),
	speedKey("replay_speed", "1", "1 = real time, N = N times faster, `max` = as fast as possible",
		func(c *Config) *float64 { return &c.ReplaySpeed }),
	boolKey("replay_loop", "no", "replay the file again and again (the clock moves on each pass)",
		func(c *Config) *bool { return &c.ReplayLoop }),
	strKey("hep_bind", "", "UDP address receiving HEPv3 from Kamailio, OpenSIPS, FreeSWITCH or Asterisk", checkHostPort,
		func(c *Config) *string { return &c.HEPBind }),
	durKey("call_linger", "5s", "ended calls stay in `listcalls` this long", true,
		func(c *Config) *time.Duration { return &c.CallLinger }),
	durKey("call_timeout", "300s", "calls without any packet for this long are expired", false,
		func(c *Config) *time.Duration { return &c.CallTimeout }),
	enumKey("log_format", "text", "log output format (to stderr): `text` or `json`", []string{"text", "json"},
		func(c *Config) *string { return &c.LogFormat }),
	enumKey("log_level", "info", "minimum log level: `debug`, `info`, `warn` or `error`", logLevels,
		func(c *Config) *string { return &c.LogLevel }),
}

// Keys lists every known key in a stable order with its default and help.
func Keys() []Key {
	keys := make([]Key, len(table))
	for i, d := range table {
		keys[i] = Key{Name: d.name, Flag: flagName(d.name), Default: d.def, Help: d.help, Bool: d.boolean, Secret: d.secret}
	}
	return keys
}

func flagName(name string) string { return strings.ReplaceAll(name, "_", "-") }

// lookup finds a key by config name or flag name, in any case.
func lookup(name string) *keyDef {
	n := strings.ToLower(strings.TrimSpace(name))
	if d := lookupName(n); d != nil {
		return d // names with '-' of their own, like VoIPmonitor's sip-register
	}
	return lookupName(strings.ReplaceAll(n, "-", "_"))
}

// lookupName finds a key by its exact config-file name.
func lookupName(name string) *keyDef {
	for i := range table {
		if table[i].name == name {
			return &table[i]
		}
	}
	return nil
}

func intKey(name, def, help, what string, lo, hi int, field func(*Config) *int) keyDef {
	set := func(c *Config, v string) error {
		n, err := parseInt(v, what, lo, hi)
		if err == nil {
			*field(c) = n
		}
		return err
	}
	get := func(c *Config) string { return strconv.Itoa(*field(c)) }
	return keyDef{name: name, def: def, help: help, set: set, get: get}
}

func sizeKey(name, def, help string, lo, hi int, field func(*Config) *int) keyDef {
	set := func(c *Config, v string) error {
		n, ok := parseSize(v)
		if !ok || n < int64(lo) || n > int64(hi) {
			return fmt.Errorf("%q is not a size (%s..%s; e.g. 65536, 64k, 1MiB)",
				v, formatSize(int64(lo)), formatSize(int64(hi)))
		}
		*field(c) = int(n)
		return nil
	}
	get := func(c *Config) string { return formatSize(int64(*field(c))) }
	return keyDef{name: name, def: def, help: help, set: set, get: get}
}

func durKey(name, def, help string, allowZero bool, field func(*Config) *time.Duration) keyDef {
	want := "a duration > 0"
	if allowZero {
		want = "a duration >= 0"
	}
	set := func(c *Config, v string) error {
		d, ok := parseDuration(v)
		if !ok || d < 0 || (d == 0 && !allowZero) {
			return fmt.Errorf("%q is not %s (e.g. 10s, 1m30s, 250ms, or plain seconds)", v, want)
		}
		*field(c) = d
		return nil
	}
	get := func(c *Config) string { return field(c).String() }
	return keyDef{name: name, def: def, help: help, set: set, get: get}
}

func strKey(name, def, help string, check func(string) error, field func(*Config) *string) keyDef {
	set := func(c *Config, v string) error {
		if err := check(v); err != nil {
			return err
		}
		*field(c) = v
		return nil
	}
	get := func(c *Config) string { return *field(c) }
	return keyDef{name: name, def: def, help: help, set: set, get: get}
}

func enumKey(name, def, help string, allowed []string, field func(*Config) *string) keyDef {
	set := func(c *Config, v string) error {
		lv := strings.ToLower(v)
		if !slices.Contains(allowed, lv) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
		}
		*field(c) = lv
		return nil
	}
	get := func(c *Config) string { return *field(c) }
	return keyDef{name: name, def: def, help: help, set: set, get: get}
}

// boolKey is for boolean keys (yes/no, true/false, on/off, 1/0).
func boolKey(name, def, help string, field func(*Config) *bool) keyDef {
	set := func(c *Config, v string) error {
		b, ok := parseBool(v)
		if !ok {
			return fmt.Errorf("%q is not a boolean (yes/no, true/false, on/off, 1/0)", v)
		}
		*field(c) = b
		return nil
	}
	get := func(c *Config) string { return strconv.FormatBool(*field(c)) }
	return keyDef{name: name, def: def, help: help, set: set, get: get, boolean: true}
}

func checkToken(v string) error {
	if strings.ContainsAny(v, " \t") {
		return fmt.Errorf("%q must not contain blanks (use a comma list)", v)
	}
	return nil
}

// checkPorts accepts VoIPmonitor's sipport syntax: ports and ranges, comma
// separated. ParsePorts is also the parser the sensor uses, so that a value
// accepted here is one the sensor can use.
func checkPorts(v string) error {
	if _, err := ParsePorts(v); err != nil {
		return fmt.Errorf("%q is not a port list (e.g. 5060 or 5060,5080-5082): %w", v, err)
	}
	return nil
}

func checkHostPort(v string) error {
	if v == "" {
		return nil
	}
	if _, err := netip.ParseAddrPort(v); err != nil {
		return fmt.Errorf("%q is not an IP:port (e.g. 127.0.0.1:9060)", v)
	}
	return nil
}

// speedKey parses a replay speed: a positive number, or "max" (stored as 0).
func speedKey(name, def, help string, field func(*Config) *float64) keyDef {
	set := func(c *Config, v string) error {
		if strings.EqualFold(v, "max") || v == "0" {
			*field(c) = 0
			return nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return fmt.Errorf("%q is not a speed (a number > 0, or max)", v)
		}
		*field(c) = f
		return nil
	}
	get := func(c *Config) string {
		if *field(c) == 0 {
			return "max"
		}
		return strconv.FormatFloat(*field(c), 'g', -1, 64)
	}
	return keyDef{name: name, def: def, help: help, set: set, get: get}
}

// secretKey marks a key whose value is a credential (a key, an IV, a URL
// that may hold a password). Its errors say what was expected but never
// show the value: a malformed secret is still mostly the secret, and
// errors end up in logs and terminals. A secret key is a security key too.
func secretKey(d keyDef, want string) keyDef {
	set := d.set
	d.set = func(c *Config, v string) error {
		if set(c, v) != nil {
			return fmt.Errorf("the value is not %s (not shown: it is a secret)", want)
		}
		return nil
	}
	d.secret = true
	return securityKey(d)
}

// securityKey marks a key that protects the sensor: an unknown key that is
// a near miss of it (reids for redis) is logged as an error, because the
// sensor then runs without the protection the operator configured.
func securityKey(d keyDef) keyDef {
	d.security = true
	return d
}

// mergeKey marks a key whose repeated lines in a file are joined with ","
// instead of the last one winning (voipmonitor.conf lists several sipport lines).
func mergeKey(d keyDef) keyDef {
	d.merge = true
	return d
}

func checkBase64(v string) error {
	if _, err := base64.StdEncoding.DecodeString(v); err != nil {
		return fmt.Errorf("%q is not base64", v)
	}
	return nil
}

func checkRedisURL(v string) error {
	if v == "" || strings.HasPrefix(v, "redis://") || strings.HasPrefix(v, "rediss://") || strings.HasPrefix(v, "unix://") {
		return nil
	}
	return fmt.Errorf("%q is not a Redis URL (redis://host:port/db, rediss://..., unix:///path)", v)
}

func checkIP(v string) error {
	if _, err := netip.ParseAddr(v); err != nil {
		return fmt.Errorf("%q is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1)", v)
	}
	return nil
}

// checkStateDir wants a directory path: without one the sensor could not
// remember an enforced key across restarts.
func checkStateDir(v string) error {
	if v == "" || strings.ContainsRune(v, 0) {
		return fmt.Errorf("%q is not a directory path (e.g. /var/lib/tapline)", v)
	}
	return nil
}

// maxSocketPath is the longest unix socket path Linux accepts (sun_path
// holds 108 bytes including the terminating NUL).
const maxSocketPath = 107

func checkSocket(v string) error {
	if len(v) > maxSocketPath {
		return fmt.Errorf("%q is not a usable unix socket path (at most %d bytes)", v, maxSocketPath)
	}
	return nil
}

// levelKey is an access level (access.Levels).
func levelKey(name, def, help string, field func(*Config) *access.Level) keyDef {
	set := func(c *Config, v string) error {
		l, err := access.ParseLevel(strings.ToLower(v))
		if err == nil {
			*field(c) = l
		}
		return err
	}
	get := func(c *Config) string { return field(c).String() }
	return keyDef{name: name, def: def, help: help, set: set, get: get}
}

// modeKey is a Unix permission mode in octal, read and write bits only.
func modeKey(name, def, help string, field func(*Config) *uint32) keyDef {
	set := func(c *Config, v string) error {
		n, err := strconv.ParseUint(v, 8, 32)
		if err != nil || n > 0o777 || n&0o111 != 0 || n&0o600 != 0o600 {
			return fmt.Errorf("%q is not a socket mode (octal, at most 0666, owner read and write, e.g. 0600 or 0660)", v)
		}
		*field(c) = uint32(n)
		return nil
	}
	get := func(c *Config) string { return fmt.Sprintf("%04o", *field(c)) }
	return keyDef{name: name, def: def, help: help, set: set, get: get}
}

// floatKey is a number >= 0.
func floatKey(name, def, help string, field func(*Config) *float64) keyDef {
	set := func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1e9 || f != f {
			return fmt.Errorf("%q is not a rate (a number >= 0)", v)
		}
		*field(c) = f
		return nil
	}
	get := func(c *Config) string { return strconv.FormatFloat(*field(c), 'g', -1, 64) }
	return keyDef{name: name, def: def, help: help, set: set, get: get}
}

func checkUnixLevels(v string) error {
	_, err := access.ParseUnixRules(v)
	return err
}

func checkAllow(v string) error {
	_, err := access.ParsePrefixes(v)
	return err
}

// checkOptionalAbsDir accepts "" or an absolute, clean path.
func checkOptionalAbsDir(v string) error {
	if v == "" {
		return nil
	}
	if !filepath.IsAbs(v) || filepath.Clean(v) != v {
		return fmt.Errorf("%q is not an absolute, clean directory path", v)
	}
	return nil
}
