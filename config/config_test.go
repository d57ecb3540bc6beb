package config

import (
	"tapline/access"

	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConf writes content to a temp file and returns its path.
func writeConf(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "voipmonitor.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sample is a voipmonitor.conf as a migrating user might have it.
const sample = `# voipmonitor.conf shared with tapline
; semicolon comments work too
[general]
managerip = 0.0.0.0
managerport = 5029
interface = eth0
sipport = 5060
managerport = 5030
  MANAGER_MAX_REQUEST = 1MiB
manager_read_timeout = 15
manager_idle_timeout = 2m
manager_linger = 0
log_level = DEBUG
this line has no equals sign
[second]
interface = eth1
spooldir = /var/spool/voipmonitor
managersocket = /run/tapline.sock
id_sensor = 7
manager_max_pending = 8m
log_format = json
manager_workers = 8
manager_queue = 16
manager_event_loops = 2
manager_max_connections = 10
manager_write_timeout = 1m30s
manager_shutdown_timeout = 250ms
`

func TestLoadSample(t *testing.T) {
	path := writeConf(t, sample)
	c, warns, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ManagerIP: "0.0.0.0", ManagerPort: 5030, ManagerSocket: "/run/tapline.sock", IDSensor: 7,
		MaxRequest: 1 << 20, MaxConnections: 10, MaxConnectionsPerIP: 256, UnixReserved: 16, ReadTimeout: 15 * time.Second,
		IdleTimeout: 2 * time.Minute, WriteTimeout: 90 * time.Second, Linger: 0,
		ShutdownTimeout: 250 * time.Millisecond, Workers: 8, Queue: 16, EventLoops: 2,
		MaxPending: 8 << 20, OutputLimit: 64 << 20, OutputLimitTime: 10 * time.Second, ReusePort: true, StreamNice: 10, KeyGrace: time.Minute, StateDir: "/var/lib/tapline", FrameWindow: 30 * time.Second, Interface: "eth1", SIPPorts: "5060", SIPRegister: true,
		ReplaySpeed: 1, CallLinger: 5 * time.Second, CallTimeout: 300 * time.Second, LogFormat: "json", LogLevel: "debug", File: path,
		PlainLevel: access.FullRead, LegacyLevel: access.ReadWrite, KeyLevel: access.ReadWrite, SocketMode: 0o600, RunDir: "/run/tapline",
		ProtectedMode: true, AuthFailLimit: 10, AuthFailWindow: time.Minute, AuthFailCooloff: time.Minute,
	}
	if c != want {
		t.Errorf("Load:\n got %+v\nwant %+v", c, want)
	}
	wantWarns := []string{
		path + ":14: line ignored: no '=' in it",
		path + ":17: spooldir: unknown key, ignored",
	}
	if got := warnStrings(warns); !reflect.DeepEqual(got, wantWarns) {
		t.Errorf("warnings:\n got %q\nwant %q", got, wantWarns)
	}
}

func warnStrings(warns []Warning) []string {
	s := make([]string, len(warns))
	for i, w := range warns {
		s[i] = w.String()
	}
	return s
}

// TestLoadValues checks how values are read: the last occurrence wins,
// across sections too, and the value is the trimmed text after the first '='.
func TestLoadValues(t *testing.T) {
	tests := []struct {
		name, conf string
		want       string // ManagerSocket after Load
		port       int
	}{
		{"equals kept", "managersocket = /tmp/a=b.sock", "/tmp/a=b.sock", 5029},
		{"no inline comment", "managersocket = /tmp/x # not a comment ; either", "/tmp/x # not a comment ; either", 5029},
		{"quotes kept", `managersocket = "/tmp/x"`, `"/tmp/x"`, 5029},
		{"backslash kept", "managersocket = /tmp/x\\\nmanagerport = 1", "/tmp/x\\", 1},
		{"crlf", "managersocket = /tmp/x\r\nmanagerport = 2\r\n", "/tmp/x", 2},
		{"later empty wins", "managersocket = /tmp/x\nmanagersocket =", "", 5029},
		{"repeat of earlier value", "managerport = 1\nmanagerport = 2\nmanagerport = 1", "", 1},
		{"later section wins", "[a]\nmanagerport = 1\n[b]\nmanagerport = 2\n[a]\nmanagerport = 3", "", 3},
		{"reopened section without key", "[a]\nmanagerport = 1\n[b]\nmanagerport = 2\n[a]\nx = 1", "", 2},
		{"before any section", "managerport = 1\n[general]\nmanagersocket = /s", "/s", 1},
		{"utf-8 bom", "\xef\xbb\xbfmanagerport = 4", "", 4},
		{"indented and spaced", "\t managerport\t=\t 9 \t", "", 9},
		{"empty file", "", "", 5029},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load(writeConf(t, tt.conf))
			if err != nil {
				t.Fatal(err)
			}
			if c.ManagerSocket != tt.want || c.ManagerPort != tt.port {
				t.Errorf("got socket %q port %d, want %q %d", c.ManagerSocket, c.ManagerPort, tt.want, tt.port)
			}
		})
	}
}

// TestLoadInvalid checks that every kind of bad value is an error naming
// file, line and key. The bad line is always line 4.
func TestLoadInvalid(t *testing.T) {
	tests := []struct{ key, value, msg string }{
		{"managerip", "localhost", `"localhost" is not an IP address`},
		{"managerport", "70000", `"70000" is not a port (0..65535)`},
		{"managerport", "-1", `"-1" is not a port (0..65535)`},
		{"managerport", "http", `"http" is not a port (0..65535)`},
		{"managerport", "", `"" is not a port (0..65535)`},
		{"managersocket", "/" + strings.Repeat("s", 200), "is not a usable unix socket path"},
		{"id_sensor", "-3", `"-3" is not a sensor id (0..2147483647)`},
		{"id_sensor", "2147483648", `is not a sensor id`},
		{"manager_max_request", "63", `"63" is not a size (64B..64MiB; e.g. 65536, 64k, 1MiB)`},
		{"manager_max_request", "65m", `is not a size`},
		{"manager_max_request", "1.5k", `is not a size`},
		{"manager_max_request", "64 furlongs", `is not a size`},
		{"manager_max_request", "99999999999999999999", `is not a size`},
		{"manager_max_connections", "0", `"0" is not a connection count (1..1000000)`},
		{"manager_read_timeout", "0", `"0" is not a duration > 0`},
		{"manager_idle_timeout", "soon", `"soon" is not a duration > 0 (e.g. 10s, 1m30s, 250ms, or plain seconds)`},
		{"manager_write_timeout", "-1s", `is not a duration > 0`},
		{"manager_linger", "-5", `"-5" is not a duration >= 0`},
		{"manager_shutdown_timeout", "99999999999999999", `is not a duration > 0`},
		{"manager_workers", "4097", `"4097" is not a worker count (0..4096)`},
		{"manager_queue", "0", `"0" is not a queue length (1..1000000)`},
		{"manager_event_loops", "257", `"257" is not an event loop count (0..256)`},
		{"manager_max_pending", "1g1", `is not a size (64B..1GiB`},
		{"log_format", "xml", `"xml" is not one of text, json`},
		{"log_level", "trace", `"trace" is not one of debug, info, warn, error`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			path := writeConf(t, fmt.Sprintf("# bad\n[general]\n%s = 1\n%s = %s\n", tt.key, tt.key, tt.value))
			_, _, err := Load(path)
			prefix := fmt.Sprintf("%s:4: %s: ", path, tt.key)
			if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want prefix %q and %q", err, prefix, tt.msg)
			}
		})
	}
}

func TestLoadErrorExample(t *testing.T) {
	path := writeConf(t, strings.Repeat("#\n", 11)+"managerport = 70000\n")
	_, _, err := Load(path)
	want := path + `:12: managerport: "70000" is not a port (0..65535)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestLoadOverriddenInvalidIsFine(t *testing.T) {
	c, _, err := Load(writeConf(t, "managerport = bad\nmanagerport = 7"))
	if err != nil || c.ManagerPort != 7 {
		t.Errorf("got port %d, err %v; want 7, nil", c.ManagerPort, err)
	}
}

func TestLoadAllErrorsByLine(t *testing.T) {
	path := writeConf(t, "log_level = x\nmanagerport = x\nmanager_queue = x\n")
	_, _, err := Load(path)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	for i, key := range []string{"log_level", "managerport", "manager_queue"} {
		if want := fmt.Sprintf("%s:%d: %s: ", path, i+1, key); i >= len(lines) || !strings.HasPrefix(lines[i], want) {
			t.Errorf("error line %d: got %q, want prefix %q", i, lines, want)
		}
	}
}

func TestLoadSyntaxErrors(t *testing.T) {
	tests := []struct{ name, conf, msg string }{
		{"unclosed section", "managerport = 1\n[general\n", ":2: section header has no closing ']'"},
		{"empty section", "\n\n[]\n", ":3: empty section name"},
		{"quoted key", `"managerport" = 1`, ":1: quoted key names are not supported"},
		{"multi-line backtick", "managersocket = `/tmp\n/x`\n", ":1: value opens a multi-line quote"},
		{"multi-line triple quote", "a = 1\nmanagersocket = \"\"\"x\n\"\"\"", ":2: value opens a multi-line quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConf(t, tt.conf)
			_, _, err := Load(path)
			if err == nil || !strings.HasPrefix(err.Error(), path+tt.msg) {
				t.Errorf("got %v, want %q", err, path+tt.msg)
			}
		})
	}
}

func TestLoadWarnings(t *testing.T) {
	path := writeConf(t, "[general]\nfoo = 1\n= 2\nFOO = 3\nbar\n- = 4\n")
	_, warns, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Warning{
		{File: path, Line: 3, Msg: "line ignored: no key before '='"},
		{File: path, Line: 4, Key: "foo", Msg: "unknown key, ignored"},
		{File: path, Line: 5, Msg: "line ignored: no '=' in it"},
		{File: path, Line: 6, Key: "-", Msg: "unknown key, ignored"},
	}
	if !reflect.DeepEqual(warns, want) {
		t.Errorf("got %+v\nwant %+v", warns, want)
	}
}

func TestLoadFileErrors(t *testing.T) {
	for _, path := range []string{filepath.Join(t.TempDir(), "missing.conf"), t.TempDir()} {
		_, _, err := Load(path)
		if err == nil || !strings.HasPrefix(err.Error(), "load config: ") || !strings.Contains(err.Error(), path) {
			t.Errorf("Load(%q): got %v, want load config error naming the path", path, err)
		}
	}
}

func TestLoadValidates(t *testing.T) {
	path := writeConf(t, "manager_max_request = 1m\nmanager_max_pending = 64k\n")
	_, _, err := Load(path)
	want := path + ": manager_max_pending (64KiB) must be at least manager_max_request (1MiB)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestDefault(t *testing.T) {
	want := Config{
		ManagerIP: "127.0.0.1", ManagerPort: 5029, MaxRequest: 64 << 10, MaxConnections: 1024, MaxConnectionsPerIP: 256, UnixReserved: 16,
		ReadTimeout: 10 * time.Second, IdleTimeout: 300 * time.Second, WriteTimeout: 30 * time.Second,
		Linger: 5 * time.Second, ShutdownTimeout: 10 * time.Second, Queue: 1024,
		MaxPending: 4 << 20, OutputLimit: 64 << 20, OutputLimitTime: 10 * time.Second, ReusePort: true, StreamNice: 10, KeyGrace: time.Minute, StateDir: "/var/lib/tapline", FrameWindow: 30 * time.Second, SIPPorts: "5060", SIPRegister: true,
		ReplaySpeed: 1, CallLinger: 5 * time.Second, CallTimeout: 300 * time.Second, LogFormat: "text", LogLevel: "info",
		PlainLevel: access.FullRead, LegacyLevel: access.ReadWrite, KeyLevel: access.ReadWrite, SocketMode: 0o600, RunDir: "/run/tapline",
		ProtectedMode: true, AuthFailLimit: 10, AuthFailWindow: time.Minute, AuthFailCooloff: time.Minute,
	}
	if got := Default(); got != want {
		t.Errorf("Default:\n got %+v\nwant %+v", got, want)
	}
	if err := want.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	if len(keys) != reflect.TypeFor[Config]().NumField()-1 {
		t.Errorf("%d keys for %d settable fields", len(keys), reflect.TypeFor[Config]().NumField()-1)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k.Name] || k.Name != strings.ToLower(k.Name) || k.Help == "" {
			t.Errorf("bad or duplicate key %+v", k)
		}
		seen[k.Name] = true
		if k.Flag != strings.ReplaceAll(k.Name, "_", "-") {
			t.Errorf("%s: flag %q", k.Name, k.Flag)
		}
		c := Default()
		if err := c.Set(k.Flag, k.Default); err != nil || c != Default() {
			t.Errorf("%s: setting the default %q: %v", k.Name, k.Default, err)
		}
	}
	flags := map[string]string{"managerip": "managerip", "id_sensor": "id-sensor", "manager_max_request": "manager-max-request"}
	for _, k := range keys {
		if f, ok := flags[k.Name]; ok && f != k.Flag {
			t.Errorf("%s: flag %q, want %q", k.Name, k.Flag, f)
		}
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		key, value string
		check      func(Config) bool
	}{
		{"manager_max_request", "64k", func(c Config) bool { return c.MaxRequest == 65536 }},
		{"manager-max-request", "65536", func(c Config) bool { return c.MaxRequest == 65536 }},
		{"MANAGER_MAX_REQUEST", " 2 MB ", func(c Config) bool { return c.MaxRequest == 2<<20 }},
		{"manager_max_pending", "1GiB", func(c Config) bool { return c.MaxPending == 1<<30 }},
		{"manager_idle_timeout", "1m30s", func(c Config) bool { return c.IdleTimeout == 90*time.Second }},
		{"statedir", "./run", func(c Config) bool { return c.StateDir == "./run" }},
		{"manager_idle_timeout", "45", func(c Config) bool { return c.IdleTimeout == 45*time.Second }},
		{"manager_linger", "0", func(c Config) bool { return c.Linger == 0 }},
		{"managerip", "::1", func(c Config) bool { return c.ManagerIP == "::1" }},
		{"log_format", "JSON", func(c Config) bool { return c.LogFormat == "json" }},
		{"id-sensor", "65536", func(c Config) bool { return c.IDSensor == 65536 }},
	}
	for _, tt := range tests {
		c := Default()
		if err := c.Set(tt.key, tt.value); err != nil || !tt.check(c) {
			t.Errorf("Set(%q, %q): err %v, config %+v", tt.key, tt.value, err, c)
		}
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct{ key, value, want string }{
		{"managerport", "70000", `managerport: "70000" is not a port (0..65535)`},
		{"manager-queue", "many", `manager_queue: "many" is not a queue length (1..1000000)`},
		{"log-level", "loud", `log_level: "loud" is not one of debug, info, warn, error`},
		{"manager_linger", "-1s", `manager_linger: "-1s" is not a duration >= 0 (e.g. 10s, 1m30s, 250ms, or plain seconds)`},
		{"nosuchkey", "1", `unknown config key "nosuchkey"`},
		{"file", "/x", `unknown config key "file"`},
	}
	for _, tt := range tests {
		c := Default()
		err := c.Set(tt.key, tt.value)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Set(%q, %q) = %v, want %s", tt.key, tt.value, err, tt.want)
		}
		if c != Default() {
			t.Errorf("Set(%q, %q) changed the config on error", tt.key, tt.value)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" = valid
	}{
		{"default", func(*Config) {}, ""},
		{"socket only", func(c *Config) { c.ManagerPort, c.ManagerSocket = 0, "/run/t.sock" }, ""},
		{"pending equals request", func(c *Config) { c.MaxPending = c.MaxRequest }, ""},
		{"pending below request", func(c *Config) { c.MaxPending = c.MaxRequest - 1 },
			"manager_max_pending (65535B) must be at least manager_max_request (64KiB)"},
		{"no listener", func(c *Config) { c.ManagerPort = 0 }, "managerport is 0 and managersocket is empty"},
		{"field range", func(c *Config) { c.Workers = -1 }, `manager_workers: "-1" is not a worker count`},
		{"zero duration", func(c *Config) { c.ReadTimeout = 0 }, `manager_read_timeout: "0s" is not a duration > 0`},
		{"bad level", func(c *Config) { c.LogLevel = "" }, `log_level: "" is not one of`},
		{"zero config", func(c *Config) { *c = Config{} }, `managerip: "" is not an IP address`},
	}
	for _, tt := range tests {
		c := Default()
		tt.change(&c)
		err := c.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"65536", 65536, true}, {"64k", 64 << 10, true}, {"64K", 64 << 10, true},
		{"64KiB", 64 << 10, true}, {"64kb", 64 << 10, true}, {"1m", 1 << 20, true}, {"1MiB", 1 << 20, true},
		{"1mb", 1 << 20, true}, {"2g", 2 << 30, true}, {"2GiB", 2 << 30, true}, {"7b", 7, true},
		{"", 0, false}, {"k", 0, false}, {"-1", 0, false}, {"1.5m", 0, false}, {"1t", 0, false},
		{"9223372036854775807", 1<<63 - 1, true}, {"9223372036854775807k", 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseSize(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("parseSize(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 64: "64B", 1024: "1KiB", 1536: "1536B", 4 << 20: "4MiB", 1 << 30: "1GiB"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10", 10 * time.Second, true}, {"0", 0, true}, {"10s", 10 * time.Second, true},
		{"1m30s", 90 * time.Second, true}, {"250ms", 250 * time.Millisecond, true},
		{"", 0, false}, {"1.5", 0, false}, {"10 s", 0, false}, {"9999999999999", 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseDuration(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestBoolKey exercises the builder for boolean keys that later keys use.
func TestBoolKey(t *testing.T) {
	var b bool
	d := boolKey("x", "no", "help", func(*Config) *bool { return &b })
	for in, want := range map[string]bool{"yes": true, "NO": false, "true": true, "False": false, "on": true, "off": false, "1": true, "0": false} {
		b = !want
		if err := d.set(nil, in); err != nil || b != want {
			t.Errorf("set(%q): %v, %v; want %v", in, b, err, want)
		}
	}
	if err := d.set(nil, "maybe"); err == nil || !strings.Contains(err.Error(), "is not a boolean (yes/no") {
		t.Errorf("set(maybe) = %v", err)
	}
	b = false
	if got := d.get(nil); got != "false" {
		t.Errorf("get = %q", got)
	}
}

func TestWarningString(t *testing.T) {
	w := Warning{File: "/etc/tapline.conf", Line: 3, Key: "sipport", Msg: "unknown key, ignored"}
	if got, want := w.String(), "/etc/tapline.conf:3: sipport: unknown key, ignored"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestSecretsNotEchoed: a malformed secret is still mostly the secret, so
// no error may show it, from the file or from a flag (it used to be
// quoted back: `"c2VjcmV0!" is not base64`).
func TestSecretsNotEchoed(t *testing.T) {
	const secret = "c2VjcmV0c2VjcmV0c2VjcmV0!!"
	for _, key := range []string{"manager_aes_key", "manager_aes_iv"} {
		path := writeConf(t, key+" = "+secret+"\n")
		_, _, err := Load(path)
		if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "c2VjcmV0") ||
			!strings.Contains(err.Error(), key+": the value is not base64 (not shown: it is a secret)") {
			t.Errorf("%s in a file: %v", key, err)
		}
		var c Config
		if err := c.Set(key, secret); err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
			t.Errorf("%s as a flag: %v", key, err)
		}
	}
	const url = "http://user:hunter2@redis.example:6379/0"
	var c Config
	if err := c.Set("redis", url); err == nil || strings.Contains(err.Error(), "hunter2") ||
		!strings.Contains(err.Error(), "redis: the value is not a Redis URL") {
		t.Errorf("redis: %v", err)
	}
	// Validate re-checks every value: no echo there either.
	c = Default()
	c.AESKey, c.AESIV = secret, secret
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("Validate: %v", err)
	}
}

// TestNearMisses: an unknown key within edit distance 2 of a known one
// gets "did you mean", and a near miss of a security key says so, while
// VoIPmonitor's own keys stay plain unknown keys.
func TestNearMisses(t *testing.T) {
	path := writeConf(t, "reids = redis://127.0.0.1:6379/0\nmanager_aes_kye = x\nmanager-enable-unencrypted = no\n"+
		"managerprot = 5029\nspooldir = /var/spool/voipmonitor\nsip_register = yes\nmysqlhost = db\nx = 1\n")
	_, warns, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	type near struct {
		key, suggest string
		security     bool
	}
	var got []near
	for _, w := range warns {
		if !w.Unknown() {
			t.Errorf("not an unknown-key warning: %v", w)
		}
		got = append(got, near{w.Key, w.Suggest, w.Security})
	}
	want := []near{{"reids", "redis", true}, {"manager_aes_kye", "manager_aes_key", true},
		{"manager-enable-unencrypted", "manager_enable_unencrypted", true}, {"managerprot", "managerport", false},
		{"spooldir", "", false}, {"sip_register", "sip-register", false}, {"mysqlhost", "", false}, {"x", "", false}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if s := warns[0].String(); s != path+":1: reids: unknown key, ignored; did you mean redis?" {
		t.Errorf("String: %q", s)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		d    int
	}{
		{"redis", "redis", 0}, {"reids", "redis", 1}, {"redi", "redis", 1}, {"rediss", "redis", 1},
		{"rdis", "redis", 1}, {"radix", "redis", 2}, {"mysql", "redis", 3}, {"", "ab", 2}, {"abcdef", "ab", 3},
	} {
		if got := editDistance(tt.a, tt.b, 3); got != tt.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
}

func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		sample, "", "[", "[]", "=", "- = 1", "`", "a = `", "a = \"\"\"\n", "a = \"\"\"x\"\"\"",
		"\xfe\xffmanagerport = 1", "managerport = 1\\\n2", "\"k\" = 1", "a=b=c\n[s]\r\na = \n",
		"manager_max_pending = 1k", "managerport = 0",
	} {
		f.Add([]byte(seed))
	}
	// One file per worker process, rewritten for each input: the fuzz
	// function runs sequentially within a process.
	path := filepath.Join(f.TempDir(), "fuzz.conf")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, _, err := Load(path)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Load succeeded but Validate fails: %v", verr)
			}
		}
		checkScanAgrees(t, data)
	})
}

// checkScanAgrees checks that the line scanner and ini.v1 see the same keys,
// so that every key's line number is right.
func checkScanAgrees(t *testing.T, data []byte) {
	lines, _, _, err := scanLines("f", data)
	if err != nil {
		return
	}
	vals, err := parseValues(data)
	if err != nil {
		t.Fatalf("scanner accepted what ini.v1 rejects: %v", err)
	}
	for k := range vals {
		if lines[k] == 0 {
			t.Errorf("ini.v1 key %q has no line", k)
		}
	}
	for k := range lines {
		if _, ok := vals[k]; !ok {
			t.Errorf("scanned key %q unknown to ini.v1", k)
		}
	}
}

func TestEncryptionKeys(t *testing.T) {
	c := Default()
	for _, kv := range [][2]string{{"manager_aes_key", "AAECAwQFBgcICQoLDA0ODw=="}, {"redis", "unix:///run/redis.sock"}, {"manager_enable_unencrypted", "yes"}} {
		if err := c.Set(kv[0], kv[1]); err != nil {
			t.Fatalf("Set %s: %v", kv[0], err)
		}
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "set together") {
		t.Errorf("key without iv: %v", err)
	}
	if err := c.Set("manager_aes_key", "not base64!"); err == nil {
		t.Error("bad base64 accepted")
	}
	if err := c.Set("redis", "http://x"); err == nil {
		t.Error("bad redis URL accepted")
	}
	if err := c.Set("statedir", ""); err == nil {
		t.Error("empty statedir accepted: the sensor could not remember an enforced key")
	}
	if !c.Unencrypted || c.Redis != "unix:///run/redis.sock" {
		t.Errorf("values not stored: %+v", c)
	}
}

func TestSIPPortsMerge(t *testing.T) {
	path := writeConf(t, "sipport = 5060\nsipport = 5080-5082\nsip-register = no\nreplay_speed = max\n")
	c, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.SIPPorts != "5060,5080-5082" || c.SIPRegister || c.ReplaySpeed != 0 {
		t.Fatalf("got sipport %q sip-register %v speed %v", c.SIPPorts, c.SIPRegister, c.ReplaySpeed)
	}
	if err := c.Set("sip-register", "yes"); err != nil || !c.SIPRegister {
		t.Fatalf("Set sip-register: %v", err)
	}
	for _, bad := range []string{"0", "70000", "5070-5060", "x", "5060,"} {
		if err := c.Set("sipport", bad); err == nil {
			t.Errorf("sipport %q accepted", bad)
		}
	}
}
