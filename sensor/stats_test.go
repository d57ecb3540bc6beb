package sensor

import (
	"reflect"
	"testing"

	"tapline/capture"
)

// TestAddStatsEveryField: sniffer_stat sums the decoders' counters; every
// field of capture.Stats must reach it (truncated, fragments, frag_drops,
// tcp_retransmits, tcp_evicted and tcp_flows were once left at 0).
func TestAddStatsEveryField(t *testing.T) {
	var a, b capture.Stats
	va, vb := reflect.ValueOf(&a).Elem(), reflect.ValueOf(&b).Elem()
	for i := range va.NumField() {
		va.Field(i).SetUint(uint64(i + 1))
		vb.Field(i).SetUint(uint64(100 * (i + 1)))
	}
	addStats(&a, b)
	for i := range va.NumField() {
		if got, want := va.Field(i).Uint(), uint64(101*(i+1)); got != want {
			t.Errorf("%s: %d after adding, want %d", va.Type().Field(i).Name, got, want)
		}
	}
}
