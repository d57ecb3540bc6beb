// Package config loads tapline's configuration file.
//
// The file uses the syntax of VoIPmonitor's voipmonitor.conf, so that a
// sensor's existing configuration works unchanged and tapline can share the
// file with the sniffer: one "key = value" per line, comment lines starting
// with '#' or ';', and [section] headers that are accepted but ignored (the
// keys of all sections merge into one set). A key given again later in the
// file overrides the earlier value, and keys are case-insensitive. A value
// is the text after the first '=', trimmed; there are no inline comments.
//
// Keys tapline does not know (most of a real voipmonitor.conf) produce
// warnings, not errors, while a known key with an invalid value is an error
// naming the file, line and key. Every key is described by one row of a
// table (see Keys), which also drives the command-line flags and the docs.
//
// Value syntax: sizes are bytes with an optional binary suffix (65536, 64k,
// 1MiB, 1g); durations are Go durations (10s, 1m30s, 250ms) or a plain
// integer number of seconds; booleans are yes/no, true/false, on/off or 1/0.
// Port lists use VoIPmonitor's sipport syntax; PortSet is its one parser,
// used by the sensor too.
//
// It imports nothing of tapline but the leaf access (levels and address
// lists parse with the code that enforces them), in particular not
// capture, so that every package can read its configuration without
// pulling in the pipeline.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"tapline/access"
)

// Config is tapline's configuration. Default returns it filled with
// defaults; Load and Set change it.
type Config struct {
	ManagerIP       string        // managerip: address of the TCP listener
	ManagerPort     int           // managerport: 0 disables TCP
	ManagerSocket   string        // managersocket: unix socket path, "" = off
	IDSensor        int           // id_sensor: 0 = unset
	MaxRequest      int           // manager_max_request: bytes
	MaxConnections  int           // manager_max_connections
	ReadTimeout     time.Duration // manager_read_timeout
	IdleTimeout     time.Duration // manager_idle_timeout
	WriteTimeout    time.Duration // manager_write_timeout: a stalled reply write is abandoned
	Linger          time.Duration // manager_linger: wait for the client's EOF after a one-shot reply
	ShutdownTimeout time.Duration // manager_shutdown_timeout
	Workers         int           // manager_workers: 0 = auto
	StreamNice      int           // manager_stream_nice: nice increment of a streaming writer thread
	Queue           int           // manager_queue: pending jobs before "busy"
	EventLoops      int           // manager_event_loops: 0 = one per CPU
	MaxPending      int           // manager_max_pending: bytes of unprocessed pipelined input per JSON session
	OutputLimit     int           // manager_output_limit: bytes of unread reply output per connection ...
	OutputLimitTime time.Duration // manager_output_limit_seconds: ... tolerated for this long, then reset
	AESKey          string        // manager_aes_key: base64 key, as in voipmonitor.conf
	AESIV           string        // manager_aes_iv: base64 IV
	ReusePort       bool          // manager_reuseport: a TCP listener per event loop
	Unencrypted     bool          // manager_enable_unencrypted: accept every plaintext command on TCP
	Redis           string        // redis: URL of the Redis holding keys and the sensor registry, "" = none
	KeyGrace        time.Duration // manager_key_grace: how long a rotated-out key still decrypts
	StateDir        string        // statedir: where the sensor remembers that it enforced a key from Redis
	FrameWindow     time.Duration // manager_frame_window: accepted clock skew of hardened frames
	Interface       string        // interface: live capture interface(s), "" = none
	SIPPorts        string        // sipport: SIP ports, lists and ranges ("5060,5080-5082"); repeated lines merge
	SIPRegister     bool          // sip-register: track REGISTER
	Replay          string        // replay: pcap/pcapng file to replay instead of live capture
	ReplaySpeed     float64       // replay_speed: 0 = as fast as possible ("max"), 1 = real time
	ReplayLoop      bool          // replay_loop: start again at the end
	HEPBind         string        // hep_bind: UDP address receiving HEPv3, "" = off
	CallLinger      time.Duration // call_linger: ended calls stay listed this long
	CallTimeout     time.Duration // call_timeout: calls without packets are expired after this
	LogFormat       string        // log_format: "text" or "json"
	LogLevel        string        // log_level: debug, info, warn or error
	File            string        // path of the file loaded ("" when none)

	// Connection limits beyond manager_max_connections (issue 9).
	MaxConnectionsPerIP int // manager_max_connections_per_ip: TCP, per IPv4 address or IPv6 /64
	UnixReserved        int // manager_unix_reserved: places TCP clients may not take

	// Access control (issue 11; docs/SECURITY.md).
	PlainLevel      access.Level  // manager_plain_level: plaintext TCP without a token
	LegacyLevel     access.Level  // manager_legacy_level: VoIPmonitor AES requests
	KeyLevel        access.Level  // manager_key_level: hardened frames under the configured manager key
	UnixLevels      string        // manager_unix_levels: "user:level, @group:level" for other uids on the Unix socket
	SocketMode      uint32        // managersocket_mode: permission bits of the Unix sockets
	SocketGroup     string        // managersocket_group: group owning the Unix sockets, "" = the server's
	FileDir         string        // manager_file_dir: where manager_file may create sockets, "" = derived
	RunDir          string        // rundir: runtime directory (default manager_file_dir)
	ProtectedMode   bool          // manager_protected_mode: refuse non-loopback peers while nothing protects TCP
	TokensFile      string        // manager_tokens_file: token store without Redis
	PlainTokens     bool          // manager_plain_tokens: accept bearer tokens in plaintext from non-loopback peers
	Allow           string        // manager_allow: CIDR list; set = the whole TCP allowlist
	RateLimit       float64       // manager_rate_limit: requests/s per identity, 0 = off
	AuthFailLimit   int           // manager_auth_fail_limit: failures per address within the window...
	AuthFailWindow  time.Duration // manager_auth_fail_window
	AuthFailCooloff time.Duration // manager_auth_fail_cooldown: ...then refused this long
}

// Warning is a problem in a config file that does not stop tapline, such as
// an unknown key.
type Warning struct {
	File string
	Line int
	Key  string // "" when the warning is about a line, not a key
	Msg  string
	// Unknown keys only: Suggest is the known key within edit distance 2
	// ("" when none), and Security says it is one whose absence weakens
	// the sensor (redis, manager_aes_*, manager_enable_unencrypted).
	Suggest  string
	Security bool
}

// Unknown reports whether w is about an unknown key.
func (w Warning) Unknown() bool { return w.Key != "" && w.Msg == msgUnknownKey }

// String formats the warning as "file:line: key: msg", with "did you
// mean" for a near miss of a known key.
func (w Warning) String() string {
	if w.Key == "" {
		return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg)
	}
	s := fmt.Sprintf("%s:%d: %s: %s", w.File, w.Line, w.Key, w.Msg)
	if w.Suggest != "" {
		s += "; did you mean " + w.Suggest + "?"
	}
	return s
}

const msgUnknownKey = "unknown key, ignored"

// Default returns the configuration used when no file or flag sets a key.
func Default() Config {
	var c Config
	for _, d := range table {
		if err := d.set(&c, d.def); err != nil {
			panic(fmt.Sprintf("config: bad default for %s: %v", d.name, err))
		}
	}
	return c
}

// Load reads the file at path over Default. Unknown keys and ignored lines
// become warnings. An invalid value is an error naming file, line and key
// (all invalid values are reported, one per line of the error text); a
// missing or unreadable file is an error starting with "load config:". The
// result is checked with Validate. On error the Config is the zero value
// and the warnings found so far are still returned.
func Load(path string) (Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("load config: %w", err)
	}
	lines, merged, warns, err := scanLines(path, data)
	if err != nil {
		return Config{}, warns, err
	}
	vals, err := parseValues(data)
	if err != nil {
		return Config{}, warns, fmt.Errorf("load config: %s: %w", path, err)
	}
	for k, vs := range merged {
		vals[k] = strings.Join(vs, ",")
	}
	c := Default()
	c.File = path
	more, err := c.apply(path, vals, lines)
	warns = sortWarnings(append(warns, more...))
	if err == nil {
		err = c.validateFile(path)
	}
	if err != nil {
		return Config{}, warns, err
	}
	return c, warns, nil
}

// valueError is an invalid value at a line, for sorting before joining.
type valueError struct {
	line int
	err  error
}

// apply sets every known key of vals on c; unknown keys become warnings.
func (c *Config) apply(file string, vals map[string]string, lines map[string]int) ([]Warning, error) {
	var warns []Warning
	var errs []valueError
	for key, v := range vals {
		line := lines[key]
		d := lookupName(key)
		if d == nil {
			w := Warning{File: file, Line: line, Key: key, Msg: msgUnknownKey}
			if near := nearKey(key); near != nil {
				w.Suggest, w.Security = near.name, near.security
			}
			warns = append(warns, w)
			continue
		}
		if err := d.set(c, v); err != nil {
			errs = append(errs, valueError{line, fmt.Errorf("%s:%d: %s: %w", file, line, key, err)})
		}
	}
	return warns, joinByLine(errs)
}

func joinByLine(errs []valueError) error {
	slices.SortFunc(errs, func(a, b valueError) int { return cmp.Compare(a.line, b.line) })
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e.err
	}
	return errors.Join(all...)
}

func sortWarnings(w []Warning) []Warning {
	slices.SortStableFunc(w, func(a, b Warning) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Key, b.Key))
	})
	return w
}

// Set applies one key = value, as from a command-line flag. key may be the
// config name ("manager_max_request") or the flag name
// ("manager-max-request"), in any case. The error names the key.
func (c *Config) Set(key, value string) error {
	d := lookup(key)
	if d == nil {
		return fmt.Errorf("unknown config key %q", key)
	}
	if err := d.set(c, strings.TrimSpace(value)); err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	return nil
}

// Validate checks every field against the range of its key and the rules
// that involve several keys. The error names the keys involved.
func (c *Config) Validate() error {
	return errors.Join(c.problems()...)
}

// problems lists every reason c is invalid.
func (c *Config) problems() []error {
	var errs []error
	for _, d := range table {
		var scratch Config
		if err := d.set(&scratch, d.get(c)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.name, err))
		}
	}
	return append(errs, c.crossCheck()...)
}

// crossCheck applies the rules that involve several keys.
func (c *Config) crossCheck() []error {
	var errs []error
	if c.MaxPending < c.MaxRequest {
		errs = append(errs, fmt.Errorf("manager_max_pending (%s) must be at least manager_max_request (%s)",
			formatSize(int64(c.MaxPending)), formatSize(int64(c.MaxRequest))))
	}
	if (c.AESKey == "") != (c.AESIV == "") {
		errs = append(errs, errors.New("manager_aes_key and manager_aes_iv must be set together"))
	}
	if c.ManagerPort == 0 && c.ManagerSocket == "" {
		errs = append(errs, errors.New("managerport is 0 and managersocket is empty: the manager would listen nowhere"))
	}
	return errs
}

// validateFile runs Validate on a loaded file, prefixing each error with it.
func (c *Config) validateFile(path string) error {
	errs := c.problems()
	for i, err := range errs {
		errs[i] = fmt.Errorf("%s: %w", path, err)
	}
	return errors.Join(errs...)
}

// nearKey returns the known key closest to an unknown one when the edit
// distance is at most 2 ('-' and '_' count as the same), else nil. A real
// voipmonitor.conf holds dozens of keys tapline ignores; among them, a
// misspelt tapline key (reids, manager_aes_kye) is the one that matters.
func nearKey(key string) *keyDef {
	k := strings.ReplaceAll(key, "-", "_")
	var best *keyDef
	bestD := 3
	for i := range table {
		if d := editDistance(k, strings.ReplaceAll(table[i].name, "-", "_"), bestD); d < bestD {
			best, bestD = &table[i], d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b
// (insertions, deletions, substitutions, and swaps of two neighbours, so
// reids → redis is 1), or limit when it is limit or more.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit)
}
