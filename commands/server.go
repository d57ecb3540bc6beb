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

	// Access tokens: loaded now, authentications accepted and refused,
	// records refused by the store bound (10,000) or as invalid.
	TokensLoaded, AuthOK, AuthFailed, TokensRefused int64
}

// ClientInfo describes one open manager connection (the clients command
// writes each as an object, keys in this order).
type ClientInfo struct {
	ID       uint64 // "id"
	Peer     string // "peer"
	Listener string // "listener"
	Mode     string // "mode"
	State    string // "state"
	Identity string // "identity": "uid:1000", "key:<fingerprint>", "token:<id>", "" for plaintext
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
