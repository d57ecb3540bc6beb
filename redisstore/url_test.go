package redisstore

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url    string
		addrs  []string
		db     int
		user   string
		pass   string
		master string
		tls    string // expected TLS ServerName; "-" for no TLS
		client string // "simple", "cluster" or "failover"
	}{
		{url: "redis://127.0.0.1:6380/2", addrs: []string{"127.0.0.1:6380"}, db: 2, tls: "-", client: "simple"},
		{url: "redis://localhost", addrs: []string{"localhost:6379"}, tls: "-", client: "simple"},
		{url: "redis://user:p%40ss@redis.example:6379/0", addrs: []string{"redis.example:6379"}, user: "user", pass: "p@ss", tls: "-", client: "simple"},
		{url: "redis://:secret@[::1]:7000/1", addrs: []string{"[::1]:7000"}, db: 1, pass: "secret", tls: "-", client: "simple"},
		{url: "rediss://redis.example:6380/0", addrs: []string{"redis.example:6380"}, tls: "redis.example", client: "simple"},
		{url: "unix:///run/redis/redis.sock", addrs: []string{"/run/redis/redis.sock"}, tls: "-", client: "simple"},
		{url: "unix:///run/redis/redis.sock?db=3", addrs: []string{"/run/redis/redis.sock"}, db: 3, tls: "-", client: "simple"},
		{url: "unix://:pw@/run/redis.sock", addrs: []string{"/run/redis.sock"}, pass: "pw", tls: "-", client: "simple"},
		{url: "redis://h1:7000,h2:7001", addrs: []string{"h1:7000", "h2:7001"}, tls: "-", client: "cluster"},
		{url: "redis://h1,h2:7001,[::1]/0", addrs: []string{"h1:6379", "h2:7001", "[::1]:6379"}, tls: "-", client: "cluster"},
		{url: "rediss://u:p@h1:7000,h2:7001", addrs: []string{"h1:7000", "h2:7001"}, user: "u", pass: "p", tls: "", client: "cluster"},
		{url: "redis://h1:26379,h2:26379/0?master=mymaster", addrs: []string{"h1:26379", "h2:26379"}, master: "mymaster", tls: "-", client: "failover"},
		{url: "redis://:pw@h1:26379,h2:26379/4?master_name=mm", addrs: []string{"h1:26379", "h2:26379"}, db: 4, pass: "pw", master: "mm", tls: "-", client: "failover"},
		{url: "redis://sentinel:26379?master=mymaster", addrs: []string{"sentinel:26379"}, master: "mymaster", tls: "-", client: "failover"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			o, err := ParseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(o.Addrs, " ") != strings.Join(tt.addrs, " ") {
				t.Errorf("Addrs = %q, want %q", o.Addrs, tt.addrs)
			}
			if o.DB != tt.db || o.Username != tt.user || o.Password != tt.pass || o.MasterName != tt.master {
				t.Errorf("DB, Username, Password, MasterName = %d %q %q %q, want %d %q %q %q",
					o.DB, o.Username, o.Password, o.MasterName, tt.db, tt.user, tt.pass, tt.master)
			}
			if tt.master != "" && (o.SentinelUsername != tt.user || o.SentinelPassword != tt.pass) {
				t.Errorf("sentinel credentials %q %q", o.SentinelUsername, o.SentinelPassword)
			}
			switch {
			case tt.tls == "-" && o.TLSConfig != nil:
				t.Errorf("TLS on, want off")
			case tt.tls != "-" && o.TLSConfig == nil:
				t.Errorf("TLS off, want on")
			case tt.tls != "-" && o.TLSConfig.ServerName != tt.tls:
				t.Errorf("TLS ServerName %q, want %q", o.TLSConfig.ServerName, tt.tls)
			}
			// Fail-fast defaults.
			if o.DialTimeout != 2*time.Second || o.ReadTimeout != 2*time.Second ||
				o.WriteTimeout != 2*time.Second || o.MaxRetries != 1 || !o.ContextTimeoutEnabled {
				t.Errorf("timeouts %v/%v/%v retries %d ctx %v", o.DialTimeout, o.ReadTimeout,
					o.WriteTimeout, o.MaxRetries, o.ContextTimeoutEnabled)
			}
			c := redis.NewUniversalClient(o)
			defer c.Close()
			kind := "simple"
			if _, ok := c.(*redis.ClusterClient); ok {
				kind = "cluster"
			} else if o.MasterName != "" {
				kind = "failover" // NewFailoverClient returns a *redis.Client too
			}
			if kind != tt.client {
				t.Errorf("client kind %s, want %s", kind, tt.client)
			}
		})
	}
}

func TestParseURLOptionsOverrideDefaults(t *testing.T) {
	o, err := ParseURL("redis://h:1/0?dial_timeout=5s&read_timeout=7&write_timeout=3s&max_retries=4&client_name=tap")
	if err != nil {
		t.Fatal(err)
	}
	if o.DialTimeout != 5*time.Second || o.ReadTimeout != 7*time.Second || o.WriteTimeout != 3*time.Second ||
		o.MaxRetries != 4 || o.ClientName != "tap" {
		t.Fatalf("got %v %v %v %d %q", o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, o.ClientName)
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct{ url, want string }{
		{"", "empty URL"},
		{"   ", "empty URL"},
		{"localhost:6379", "missing scheme"},
		{"http://localhost:6379", `unsupported scheme "http"`},
		{"redis://h:1/abc", "invalid database number"},
		{"redis://h:1/0/1", "invalid URL path"},
		{"redis://h:1/0?bogus=1", "unexpected option: bogus"},
		{"redis://h:1/0?db=x", "invalid database number"},
		{"redis://h:1/0?dial_timeout=soon", "invalid dial_timeout duration"},
		{"redis://h1:1,,h2:2", "empty host"},
		{"redis://h1:1,h2:x", `bad port "x"`},
		{"redis://h1:1,h2:70000", `bad port "70000"`},
		{"redis://h1:1,::1", `bad host "::1"`},
		{"redis://h1:1,h2:2/3", "Redis Cluster, which has only database 0"},
		{"unix://", "empty unix socket path"},
		{"unix://a,b/x.sock", "one socket path"},
		{"unix:///tmp/r.sock?master=m", "needs redis://"},
		{"redis://h:1/%zz", "invalid URL escape"},
		{"redis://u:hunter2@h:1/x", "invalid database number"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := ParseURL(tt.url)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, "redisstore: bad Redis URL") {
				t.Fatalf("error %q, want it to contain %q", msg, tt.want)
			}
			if strings.Contains(msg, "hunter2") {
				t.Fatalf("error leaks the password: %q", msg)
			}
			if _, err := Open(tt.url); err == nil {
				t.Fatal("Open accepted it")
			}
		})
	}
}

// TestBadURLHidesQueryPassword (issue 9, item 11): a password given as a
// query option is not echoed in the error of a URL that is refused, neither
// in the quoted URL nor in the reason.
func TestBadURLHidesQueryPassword(t *testing.T) {
	for _, u := range []string{
		"redis://127.0.0.1:16379/0?password=Secret3&foo=bar",
		"unix:///tmp/r.sock?password=Secret6&db=x",
		"redis://u:Secret7@127.0.0.1:16379/0?foo=bar",
		"redis://127.0.0.1/0?password=Secret8&db=Secret8",
		"redis://127.0.0.1/0?password=Secret%39&pool_size=Secret9",
		"redis://127.0.0.1/0?sentinel_password=Secret5&master=m&foo=1",
	} {
		_, err := ParseURL(u)
		if err == nil {
			t.Fatalf("ParseURL(%q) accepted it", u)
		}
		if strings.Contains(err.Error(), "Secret") {
			t.Errorf("ParseURL(%q): error %q shows the password", u, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"redis://u:pw@h:1/0":      "redis://u:xxxxx@h:1/0",
		"redis://:pw@h1,h2/0?x=@": "redis://:xxxxx@h1,h2/0?x=@",
		"redis://u@h:1/0":         "redis://u@h:1/0",
		"redis://h:1/0":           "redis://h:1/0",
		"unix://:pw@/run/r.sock":  "unix://:xxxxx@/run/r.sock",
		"no scheme:pw@host":       "no scheme:pw@host",
		// issue 9 item 11: passwords in the query string.
		"redis://127.0.0.1:16379/0?password=Secret3&foo=bar":   "redis://127.0.0.1:16379/0?password=xxxxx&foo=bar",
		"unix:///run/r.sock?password=Secret6&db=x":             "unix:///run/r.sock?password=xxxxx&db=x",
		"redis://u:pw@h/0?sentinel_password=S&Password=T#frag": "redis://u:xxxxx@h/0?sentinel_password=xxxxx&Password=xxxxx#frag",
		"redis://h/0?pass%77ord=S":                             "redis://h/0?pass%77ord=xxxxx",
	} {
		if got, _ := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenIsLazy(t *testing.T) {
	// Nothing listens on port 1: Open succeeds, Ping fails.
	s := open(t, "redis://127.0.0.1:1/0")
	if err := s.Ping(tctx(t)); err == nil {
		t.Fatal("Ping succeeded with no server")
	}
}
