package commands

import (
	"time"

	"tapline/state"
)

// Env is what handlers read that is not the manager's: the sensor's tables
// and counters, the key ring's status, the sensor id. cmd/tapline builds it
// from the sensor and the key ring; the server hands it to every request
// untouched. Each source is nil when the sensor has none, and a nil *Env
// reads as an Env with nothing in it.
type Env struct {
	// Store is the live calls and registrations (nil: no capture source,
	// listings are VoIPmonitor's empty ones).
	Store *state.Store
	// Capture reads the capture counters (nil: no capture source).
	Capture func() CaptureStats
	// Keys reads the manager key ring (nil: no key, source "none").
	Keys     func() KeyStatus
	IDSensor int
}

// CaptureStats is one snapshot of the capture counters.
type CaptureStats struct {
	Drops    uint64    // packets dropped, for VoIPmonitor's pbCountPacketDrop
	Counters []Counter // every counter, in order, for sniffer_stat's "capture"
}

// Counter is one named capture counter.
type Counter struct {
	Name  string
	Value uint64
}

// KeyStatus is the key ring's state, sniffer_stat's "keys" object.
type KeyStatus struct {
	Loaded      bool   // a current key is loaded (exists_aes_key); not shown
	Source      string // "config", "redis" or "none"
	State       string // "ok", "no_key", "missing", "redis_down", "bad_key", "static", "loading"
	Fingerprint string // omitted when empty
	LoadedAt    time.Time
	Previous    int // keys rotated out, still in their grace period
	FailClosed  bool
	LastError   string // omitted when empty
	Reason      string // why plaintext is refused without a key; omitted when empty
	StateError  string // the state file's last failure; omitted when empty
}

// noKeys is the status of a sensor without a key ring.
var noKeys = KeyStatus{Source: "none", State: "no_key"}

func (e *Env) store() *state.Store {
	if e == nil {
		return nil
	}
	return e.Store
}

func (e *Env) idSensor() int {
	if e == nil {
		return 0
	}
	return e.IDSensor
}

func (e *Env) keys() KeyStatus {
	if e == nil || e.Keys == nil {
		return noKeys
	}
	return e.Keys()
}

// capture is the capture counters; ok is false without a capture source.
func (e *Env) capture() (st CaptureStats, ok bool) {
	if e == nil || e.Capture == nil {
		return CaptureStats{}, false
	}
	return e.Capture(), true
}
