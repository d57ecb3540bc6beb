// Package sensor wires the capture pipeline: packet sources (live capture,
// pcap replay, HEP) → SIP parsing → the live state tables. It owns the
// sensor's clock: the packets' time during a replay (so a finished replay
// shows the capture's final state), the wall clock for live sources, and
// the sensor's counters (capture stats summed over its sources, parse
// errors).
//
// It imports capture, sip, state and config, and must not import the
// manager side (server, commands, keyring): that side reads the state tables
// and counters through the sensor's accessors, never the other way round.
package sensor
