package commands

import (
	"fmt"

	"log/slog"
	"tapline/state"
	"time"
)

// Host is what handlers may ask of the server that runs them. It is an
// interface so commands does not import server (the server imports commands).
type Host interface {
	Table() *Table
	Stats() Stats
	Clients() []ClientInfo
	// ManagerFileStart/Stop return VoIPmonitor's reply text, or an error
	// when the listener could not be opened (bad path, bind failure).
	ManagerFileStart(path string, from ConnInfo) (string, error)
	ManagerFileStop(from ConnInfo) (string, error)
	// HasKey says whether a manager AES key is loaded.
	HasKey() bool
	// KeyStatus describes the key source as a JSON object for sniffer_stat.
	KeyStatus() []byte
	// State is the live calls/registrations tables, nil when nothing is captured.
	State() *state.Store
	IDSensor() int
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
	Calls         int    // active calls (filled by sniffer_stat from State)
	Drops         uint64 // packets dropped by capture, for pbCountPacketDrop
	Capture       []byte // the capture sources' counters as a JSON object ("null" when none), same snapshot as Drops

	// ConnsOutputLimited counts connections reset because their client
	// left more than manager_output_limit unread for too long.
	ConnsOutputLimited int64
}

// ClientInfo describes one open manager connection.
type ClientInfo struct {
	ID       uint64 `json:"id"`
	Peer     string `json:"peer"`
	Listener string `json:"listener"`
	Mode     string `json:"mode"`
	State    string `json:"state"`
	AgeMS    int64  `json:"age_ms"`
	Requests int64  `json:"requests"`
	BytesIn  int64  `json:"bytes_in"`
	BytesOut int64  `json:"bytes_out"`
	// Streams: streamed replies queued or being written (at most one per
	// connection, however many listings a session pipelines).
	Streams int64 `json:"streams"`
}

// Split separates the command word from its arguments: the word ends at the
// first blank, leading blanks are skipped, trailing blanks are dropped from
// the arguments. No allocation.
func Split(line []byte) (name, args []byte) {
	i := 0
	for i < len(line) && isBlank(line[i]) {
		i++
	}
	j := i
	for j < len(line) && !isBlank(line[j]) {
		j++
	}
	name = line[i:j]
	for j < len(line) && isBlank(line[j]) {
		j++
	}
	end := len(line)
	for end > j && isBlank(line[end-1]) {
		end--
	}
	return name, line[j:end]
}

// Run executes req.Cmd into rep. A panicking handler fails its one request
// instead of taking the process down.
func Run(req *Request, rep *Reply) {
	defer func() {
		if p := recover(); p != nil {
			slog.Error("command panicked", "cmd", req.Cmd.Name, "panic", fmt.Sprint(p))
			rep.Fail(CodeFailed, "internal error in "+req.Cmd.Name)
		}
	}()
	if err := req.checkArgs(); err != nil {
		rep.Fail(CodeInvalid, req.Cmd.Name+": "+err.Error())
		return
	}
	req.Cmd.Handler(req, rep)
}

// NotFound fills rep with VoIPmonitor's unknown-command reply.
func NotFound(rep *Reply) {
	rep.FailText(CodeUnknownCommand, "command not found", "command not found\n")
}
