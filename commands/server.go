package commands

import "time"

// Server is what handlers may ask of the manager that runs them: only what
// only it knows (its table, counters, connections and listeners, and the
// manager_file listener). The sensor's data comes from the Env instead. It
// is an interface so commands does not import server (the server imports
// commands).
type Server interface {
	Table() *Table
	Stats() Stats
	Clients() []ClientInfo
	// ManagerFileStart/Stop return VoIPmonitor's reply text, or an error
	// when the listener could not be opened (bad path, bind failure).
	ManagerFileStart(path string, from ConnInfo) (string, error)
	ManagerFileStop(from ConnInfo) (string, error)
	// Allowlist lists ("list"), adds or removes ("add", "remove") a runtime
	// TCP allowlist entry and returns the list in force afterwards.
	Allowlist(action, cidr string) (AllowlistState, error)
	// ReloadAccess re-reads the config file's access settings; on an error
	// the old settings stay in force.
	ReloadAccess() (ReloadResult, error)
	// Auth checks an access token sent on the connection from and, when
	// it is good, makes it the connection's identity. The error says why
	// not, never with the token in it.
	Auth(token []byte, from ConnInfo) (AuthResult, error)
}

// Stats is a snapshot of the manager's counters.
type Stats struct {
	Started       time.Time
	ConnsOpen     int64
	ConnsTotal    int64
	ConnsRejected int64
	RejectedPerIP int64 // of ConnsRejected: over manager_max_connections_per_ip
	Protected     int64 // of ConnsRejected: non-loopback peers refused by protected mode
	PeerRefused   int64 // of ConnsRejected: Unix peers with no level (manager_unix_levels)
	LingerClosed  int64 // lingering connections closed early to make room for new ones
	RepliesReset  int64 // replies cut short (write or shutdown timeout) and ended with a reset
	BytesIn       int64
	BytesOut      int64
	Errors        int64
	ReplayFull    int64   // hardened frame refusals because a replay-cache bound was hit
	Requests      []int64 // by Command.Index
	Listeners     []string

	// ConnsOutputLimited counts connections reset because their client
	// left more than manager_output_limit unread for too long.
	ConnsOutputLimited int64

	// Access is the access guard's counters (allowlist and backoff
	// refusals, authentication failures, rate limiting, audit lines left
	// out), shown as members of sniffer_stat's "manager" in this order.
	Access []Counter
}

// ClientInfo describes one open manager connection (the clients command
// writes each as an object, keys in this order).
type ClientInfo struct {
	ID       uint64 // "id"
	Peer     string // "peer"
	Listener string // "listener"
	Mode     string // "mode"
	State    string // "state"
	Identity string // "identity": "uid:0" (root or the server's own uid: read_write) or "uid:1001(alice)" (the manager_unix_levels entry that granted it), "key:<fingerprint>", "token:<id>", "" for plaintext
	Level    string // "level": what the connection may run
	Via      string // "via": how that was decided (plaintext, peercred, legacy_key, hardened_key, token)
	AgeMS    int64  // "age_ms"
	Requests int64  // "requests"
	BytesIn  int64  // "bytes_in"
	BytesOut int64  // "bytes_out"
	// Streams ("streams"): streamed replies queued or being written (at
	// most one per connection, however many listings a session pipelines).
	Streams int64
}
