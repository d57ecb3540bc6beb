package bench

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"tapline/config"
	"tapline/sensor"
	"tapline/state"
)

// BenchmarkListCallsReplayed encodes listcalls over calls the sensor built
// from the synthetic capture (the snapshot section's table), unlike the
// state package's benchmark, whose synthetic records share their strings.
func BenchmarkListCallsReplayed(b *testing.B) {
	path := filepath.Join(b.TempDir(), "calls.pcap")
	if err := WriteCallsCapture(path, SnapshotCalls); err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	cfg.Replay, cfg.ReplaySpeed, cfg.CallTimeout = path, 0, time.Hour
	sn, err := sensor.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := sn.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	calls := sn.Store().Calls()
	p := state.ListParams{Now: sn.Store().Now(), Location: time.Local}
	var cw countWriter
	if err := state.WriteListCalls(&cw, calls, p, 0); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(cw.n)
	b.ReportAllocs()
	for b.Loop() {
		if err := state.WriteListCalls(io.Discard, calls, p, 0); err != nil {
			b.Fatal(err)
		}
	}
}
