package sensor

import (
	"context"

	"tapline/capture"
)

// runReplay replays the configured file. capture.Replay shifts the packet
// times of every further pass by the capture's length, so with replay_loop
// the sensor's clock keeps moving forward and the previous pass's calls end.
func (s *Sensor) runReplay(ctx context.Context) error {
	d := s.newDecoder(s.handler())
	sweep := func(int) { s.store.Advance(s.store.Now()) } // expire at the capture's end clock
	opt := capture.ReplayOptions{Path: s.cfg.Replay, Speed: s.cfg.ReplaySpeed, Loop: s.cfg.ReplayLoop, OnLoop: sweep}
	err := capture.Replay(ctx, opt, d)
	sweep(0)
	return err
}

func (s *Sensor) runLive(ctx context.Context) error {
	d := s.newDecoder(s.handler())
	return capture.Live(ctx, capture.LiveOptions{Interface: s.cfg.Interface}, d)
}

func (s *Sensor) runHEP(ctx context.Context) error {
	return capture.ListenHEP(ctx, s.cfg.HEPBind, s.handler(), &s.hep)
}
