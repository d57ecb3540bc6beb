package redisstore

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults applied when the URL does not set them (dial_timeout=,
// read_timeout=, write_timeout=, max_retries= query parameters). They keep
// a dead Redis from stalling the sensor.
const (
	defaultDialTimeout = 2 * time.Second
	defaultIOTimeout   = 2 * time.Second
	defaultMaxRetries  = 1
	defaultDialRetries = 1
)

// ParseURL turns a Redis URL into go-redis UniversalOptions. Accepted forms:
//
//	redis://[user:pass@]host[:port][/db][?option=value…]
//	rediss://…                                (TLS)
//	unix://[user:pass@]/path/to/redis.sock[?db=N]
//	redis://[user:pass@]h1:p1,h2:p2[/db]      (several hosts: Redis Cluster seeds)
//	redis://[user:pass@]h1:p1,h2:p2[/db]?master=mymaster
//	                                          (Sentinel addresses and master name;
//	                                          master_name= works too)
//
// The port defaults to 6379. Other query options are go-redis's (see
// redis.ParseURL), e.g. dial_timeout=3s, pool_size=4, client_name=x. A
// cluster takes no database number other than 0.
func ParseURL(rawURL string) (*redis.UniversalOptions, error) {
	opts, err := parseURL(rawURL)
	if err != nil {
		redacted, secrets := redact(rawURL)
		return nil, fmt.Errorf("redisstore: bad Redis URL %q: %s", scrub(redacted, secrets), scrub(err.Error(), secrets))
	}
	return opts, nil
}

func parseURL(rawURL string) (*redis.UniversalOptions, error) {
	scheme, rest, err := splitScheme(rawURL)
	if err != nil {
		return nil, err
	}
	userinfo, hostlist, tail, addrs, err := splitHosts(scheme, rest)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(scheme + "://" + userinfo + hostlist + tail)
	if err != nil {
		return nil, cleanURLError(err)
	}
	master := takeMaster(u)
	if master != "" && scheme == "unix" {
		return nil, errors.New("master= (Sentinel) needs redis:// or rediss:// host addresses")
	}
	o, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, cleanURLError(err)
	}
	// UniversalOptions has no Network: go-redis picks "unix" for an
	// address that starts with "/". Refuse anything it would not.
	if scheme == "unix" && !strings.HasPrefix(o.Addr, "/") {
		return nil, fmt.Errorf("unix socket path %q must be absolute (unix:///path/to/socket)", o.Addr)
	}
	if addrs == nil {
		addrs = []string{o.Addr}
	}
	if len(addrs) > 1 && master == "" && o.DB != 0 {
		return nil, fmt.Errorf("database %d requested, but several hosts without master= mean Redis Cluster, which has only database 0", o.DB)
	}
	return universalOptions(o, addrs, master), nil
}

// splitScheme checks the scheme and returns it and the rest after "://".
func splitScheme(rawURL string) (scheme, rest string, err error) {
	if strings.TrimSpace(rawURL) == "" {
		return "", "", errors.New("empty URL; want redis://host:port/db, rediss://… or unix:///path/to/socket")
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "", "", errors.New("missing scheme; want redis://, rediss:// or unix://")
	}
	switch scheme {
	case "redis", "rediss", "unix":
		return scheme, rest, nil
	}
	return "", "", fmt.Errorf("unsupported scheme %q; want redis, rediss or unix", scheme)
}

// splitHosts splits the authority by hand, since url.Parse cannot take
// h1:p1,h2:p2: the user info (with its "@"), the host to give url.Parse
// (the first of a list), the path and query, and the normalized host list
// when there are several hosts (nil for one).
func splitHosts(scheme, rest string) (userinfo, hostlist, tail string, addrs []string, err error) {
	userinfo, hostlist, tail = splitAuthority(rest)
	if !strings.Contains(hostlist, ",") {
		return userinfo, hostlist, tail, nil, nil
	}
	if scheme == "unix" {
		return "", "", "", nil, errors.New("a unix:// URL takes one socket path, not a host list")
	}
	for _, h := range strings.Split(hostlist, ",") {
		a, err := normalizeAddr(h)
		if err != nil {
			return "", "", "", nil, err
		}
		addrs = append(addrs, a)
	}
	return userinfo, addrs[0], tail, addrs, nil
}

// splitAuthority cuts what follows "://" into the user info (with its
// "@", "" when none), the host part and the rest (path, query, fragment).
func splitAuthority(rest string) (userinfo, hosts, tail string) {
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		return authority[:i+1], authority[i+1:], tail
	}
	return "", authority, tail
}

// takeMaster removes the Sentinel master name (master= or master_name=)
// from u's query, since go-redis rejects query options it does not know,
// and returns it.
func takeMaster(u *url.URL) string {
	q := u.Query()
	master := q.Get("master")
	if m := q.Get("master_name"); m != "" {
		master = m
	}
	q.Del("master")
	q.Del("master_name")
	u.RawQuery = q.Encode()
	return master
}

// universalOptions carries go-redis's parsed options over to
// UniversalOptions for the host list and master, with tapline's defaults
// where the URL set nothing.
func universalOptions(o *redis.Options, addrs []string, master string) *redis.UniversalOptions {
	uo := &redis.UniversalOptions{
		Addrs:      addrs,
		MasterName: master,
		DB:         o.DB,
		ClientName: o.ClientName,
		Protocol:   o.Protocol,
		Username:   o.Username,
		Password:   o.Password,
		TLSConfig:  o.TLSConfig,

		MaxRetries:      o.MaxRetries,
		MinRetryBackoff: o.MinRetryBackoff,
		MaxRetryBackoff: o.MaxRetryBackoff,
		DialTimeout:     o.DialTimeout,
		ReadTimeout:     o.ReadTimeout,
		WriteTimeout:    o.WriteTimeout,
		PoolFIFO:        o.PoolFIFO,
		PoolSize:        o.PoolSize,
		PoolTimeout:     o.PoolTimeout,
		MinIdleConns:    o.MinIdleConns,
		MaxIdleConns:    o.MaxIdleConns,
		MaxActiveConns:  o.MaxActiveConns,
		ConnMaxIdleTime: o.ConnMaxIdleTime,
		ConnMaxLifetime: o.ConnMaxLifetime,

		DialerRetries:         defaultDialRetries,
		ContextTimeoutEnabled: true,
	}
	if master != "" {
		// For Sentinel the same credentials usually guard the sentinels.
		uo.SentinelUsername, uo.SentinelPassword = o.Username, o.Password
	}
	if len(addrs) > 1 && uo.TLSConfig != nil {
		// Verify each host under its own name: tls.DialWithDialer takes it
		// from the address when ServerName is empty.
		uo.TLSConfig.ServerName = ""
	}
	if uo.DialTimeout == 0 {
		uo.DialTimeout = defaultDialTimeout
	}
	if uo.ReadTimeout == 0 {
		uo.ReadTimeout = defaultIOTimeout
	}
	if uo.WriteTimeout == 0 {
		uo.WriteTimeout = defaultIOTimeout
	}
	if uo.MaxRetries == 0 {
		uo.MaxRetries = defaultMaxRetries
	}
	return uo
}

// normalizeAddr checks one host[:port] of a host list and adds port 6379.
func normalizeAddr(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty host in host list")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port (or a bare IPv6 literal in brackets).
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), "6379"
		if strings.ContainsAny(host, ":[]") && !strings.HasPrefix(h, "[") {
			return "", fmt.Errorf("bad host %q in host list", h)
		}
	}
	if host == "" {
		return "", fmt.Errorf("bad host %q in host list", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("bad port %q in host list", port)
	}
	return net.JoinHostPort(host, port), nil
}

// cleanURLError drops the URL (which may hold a password) that url.Parse
// puts into its errors, and go-redis's "redis: " prefix.
func cleanURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return errors.New(strings.TrimPrefix(err.Error(), "redis: "))
}

// redact hides the passwords of a URL for error messages: the one in the
// userinfo and the value of every query option named like a password
// (password=, sentinel_password=, pass=…), which go-redis also accepts. It
// also returns the password values it hid (raw and unescaped, none empty),
// so an error text that quotes one can be scrubbed.
func redact(rawURL string) (redacted string, secrets []string) {
	hide := func(v string) {
		if v == "" {
			return
		}
		secrets = append(secrets, v)
		if u, err := url.QueryUnescape(v); err == nil && u != v && u != "" {
			secrets = append(secrets, u)
		}
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return rawURL, nil
	}
	userinfo, hosts, tail := splitAuthority(rest)
	if user, pw, hasPass := strings.Cut(strings.TrimSuffix(userinfo, "@"), ":"); hasPass {
		hide(pw)
		userinfo = user + ":xxxxx@"
	}
	if q := strings.IndexByte(tail, '?'); q >= 0 {
		path, query := tail[:q+1], tail[q+1:]
		query, frag, hasFrag := strings.Cut(query, "#")
		parts := strings.Split(query, "&")
		for i, p := range parts {
			if name, v, hasVal := strings.Cut(p, "="); hasVal && secretOption(name) {
				hide(v)
				parts[i] = name + "=xxxxx"
			}
		}
		tail = path + strings.Join(parts, "&")
		if hasFrag {
			tail += "#" + frag
		}
	}
	return scheme + "://" + userinfo + hosts + tail, secrets
}

// secretOption reports whether a query option of a Redis URL holds a
// password.
func secretOption(name string) bool {
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	n := strings.ToLower(name)
	return strings.Contains(n, "pass") || strings.Contains(n, "pwd") || strings.Contains(n, "secret") || strings.Contains(n, "token") || n == "auth"
}

// scrub replaces every one of secrets that text quotes.
func scrub(text string, secrets []string) string {
	for _, s := range secrets {
		text = strings.ReplaceAll(text, s, "xxxxx")
	}
	return text
}
