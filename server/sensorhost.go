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

// CaptureStats implements commands.Host.
func (s *Server) CaptureStats() []byte {
	if s.sensor == nil {
		return []byte("null")
	}
	b, err := json.Marshal(s.sensor.Stats())
	if err != nil {
		return []byte("null")
	}
	return b
}

// IDSensor implements commands.Host.
func (s *Server) IDSensor() int { return s.cfg.IDSensor }

func (s *Server) captureDrops() uint64 {
	if s.sensor == nil {
		return 0
	}
	return s.sensor.Stats().Drops
}
