package bench

import (
	"context"
	"io"
	"testing"

	"tapline/state"
)

// BenchmarkListCallsReplayed encodes listcalls over calls the sensor built
// from the synthetic capture (the snapshot section's table), unlike the
// state package's benchmark, whose synthetic records share their strings
// and arrive sorted.
func BenchmarkListCallsReplayed(b *testing.B) {
	r, err := replayCalls(context.Background(), syntheticCapture(b, SnapshotCalls))
	if err != nil {
		b.Fatal(err)
	}
	size, err := r.Size()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if err := state.WriteListCalls(io.Discard, r.Calls, r.Params, r.IDSensor); err != nil {
			b.Fatal(err)
		}
	}
}
