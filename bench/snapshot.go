package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"tapline/config"
	"tapline/sensor"
	"tapline/state"
)

// SnapshotCalls is the size of the live table in the snapshot comparison
// (StandardOptions.SnapshotCalls overrides it).
const SnapshotCalls = 100_000

// Encoding is listcalls' encoder measured in-process on one goroutine, over
// the same calls the snapshot server holds: the server's wire rate also pays
// for loopback copies and a client on the same cores, so the encoder's own
// speed is reported apart.
type Encoding struct {
	Calls   int     `json:"calls"`
	Bytes   int64   `json:"bytes"`    // one listing
	Seconds float64 `json:"seconds"`  // measured time
	Runs    int     `json:"runs"`     // listings encoded in that time
	GBps    float64 `json:"gb_per_s"` // 10^9 bytes per second
}

// replayed is a live table built by the sensor's real pipeline from a
// capture, and the listing parameters that go with it.
type replayed struct {
	Calls    []*state.Call
	Params   state.ListParams
	IDSensor int
}

// replayCalls replays the capture at path into a store, as fast as it goes.
func replayCalls(ctx context.Context, path string) (*replayed, error) {
	cfg := config.Default()
	cfg.Replay, cfg.ReplaySpeed, cfg.CallTimeout = path, 0, time.Hour
	sn, err := sensor.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	if err := sn.Run(ctx); err != nil {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	return &replayed{Calls: sn.Store().Calls(), IDSensor: cfg.IDSensor,
		Params: state.ListParams{Now: sn.Store().Now(), Location: time.Local}}, nil
}

// Size is the length of one listing.
func (r *replayed) Size() (int64, error) {
	var cw countWriter
	err := state.WriteListCalls(&cw, r.Calls, r.Params, r.IDSensor)
	return cw.n, err
}

// measureEncoding replays the capture at path and encodes its listcalls
// into io.Discard for about d.
func measureEncoding(ctx context.Context, path string, d time.Duration) (*Encoding, error) {
	r, err := replayCalls(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	size, err := r.Size()
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	runtime.GC()
	e := &Encoding{Calls: len(r.Calls), Bytes: size}
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if err := state.WriteListCalls(io.Discard, r.Calls, r.Params, r.IDSensor); err != nil {
			return nil, fmt.Errorf("encoding: %w", err)
		}
		e.Runs++
	}
	e.Seconds = time.Since(start).Seconds()
	e.GBps = float64(e.Bytes) * float64(e.Runs) / e.Seconds / 1e9
	return e, nil
}
