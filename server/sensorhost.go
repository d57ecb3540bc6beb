package server

import (
	"encoding/json"

	"tapline/sensor"
	"tapline/state"
)

// SetSensor gives the manager the capture pipeline whose tables and
// counters commands report. Call before Start; nil means no capture.
func (s *Server) SetSensor(sen *sensor.Sensor) { s.sensor = sen }

// State implements commands.Host.
func (s *Server) State() *state.Store {
	if s.sensor == nil {
		return nil
	}
	return s.sensor.Store()
}

// IDSensor implements commands.Host.
func (s *Server) IDSensor() int { return s.cfg.IDSensor }

// captureStats takes one snapshot of the capture counters: the packets
// dropped, and all of them as a JSON object ("null" without capture).
func (s *Server) captureStats() (drops uint64, js []byte) {
	if s.sensor == nil {
		return 0, []byte("null")
	}
	st := s.sensor.Stats()
	js, err := json.Marshal(st)
	if err != nil {
		js = []byte("null")
	}
	return st.Drops, js
}
