package main

import (
	"reflect"
	"strings"

	"tapline/commands"
	"tapline/config"
	"tapline/keyring"
	"tapline/sensor"
)

// commandEnv is what the manager's commands read of the sensor and the key
// ring. It is built here, where both are made, so that the server, which
// only carries it to the handlers, knows nothing about capture.
func commandEnv(cfg config.Config, keys *keyring.Ring, sen *sensor.Sensor) *commands.Env {
	env := &commands.Env{IDSensor: cfg.IDSensor, Keys: func() commands.KeyStatus { return keyStatus(keys) }}
	if sen != nil && sen.Active() {
		env.Store = sen.Store()
		env.Capture = func() commands.CaptureStats { return captureStats(sen.Stats()) }
	}
	return env
}

// keyStatus is the ring's status as sniffer_stat and exists_aes_key show it.
func keyStatus(r *keyring.Ring) commands.KeyStatus {
	st := r.Status()
	_, loaded := r.Current()
	return commands.KeyStatus{
		Loaded: loaded, Source: st.Source, State: st.State, Fingerprint: st.Fingerprint, LoadedAt: st.LoadedAt,
		Previous: st.Previous, FailClosed: st.FailClosed, LastError: st.LastError, Reason: st.Reason,
		StateError: st.StateError,
	}
}

// captureStats lists the sensor's counters under their JSON names, in the
// order of the struct, embedded structs inline: a counter added to
// capture.Stats or sensor.Stats shows in sniffer_stat without a change here.
func captureStats(st sensor.Stats) commands.CaptureStats {
	return commands.CaptureStats{Drops: st.Drops, Counters: counters(nil, reflect.ValueOf(st))}
}

func counters(out []commands.Counter, v reflect.Value) []commands.Counter {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		switch {
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			out = counters(out, v.Field(i))
		case f.IsExported() && f.Type.Kind() == reflect.Uint64:
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			out = append(out, commands.Counter{Name: name, Value: v.Field(i).Uint()})
		}
	}
	return out
}
