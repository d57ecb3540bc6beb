package sensor

import (
	"context"
	"testing"
	"time"

	"tapline/config"
)

// TestReplayDemo replays the bundled sipp capture at full speed: every SIP
// message is parsed and ingested once, and the tables show the state at the
// end of the capture (the clock followed the packets), whatever the speed.
func TestReplayDemo(t *testing.T) {
	for _, file := range []string{"../testdata/demo.pcap", "../testdata/demo.pcapng"} {
		t.Run(file, func(t *testing.T) {
			cfg := config.Default()
			cfg.Replay, cfg.ReplaySpeed, cfg.SIPPorts = file, 0, "5060-5072"
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.Run(ctx); err != nil {
				t.Fatalf("replay: %v", err)
			}
			st := s.Stats()
			if st.SIPMessages != 140 || st.ParseErrors != 0 || st.Packets != 140 {
				t.Fatalf("stats %+v: want 140 SIP messages, no parse errors", st)
			}
			c := s.Store().Counts()
			// 20 calls of 20 s started 1 s apart; the capture ends 0.4 s after the
			// last BYE, so the calls hung up within call_linger (5 s) of the end
			// are still listed. The 10 registrations (expires 60) are all OK.
			if c.CallsCreated != 20 || c.Calls < 4 || c.Calls > 6 || c.Registers != 10 {
				t.Fatalf("counts %+v: want 20 calls created, 4-6 listed, 10 registrations", c)
			}
			if end := s.Store().Now(); time.Since(end) < time.Minute {
				t.Fatalf("store clock %v follows the wall clock, not the capture", end)
			}
		})
	}
}

func TestBadPorts(t *testing.T) {
	cfg := config.Default()
	cfg.SIPPorts = "x"
	if _, err := New(cfg); err == nil {
		t.Fatal("bad sipport accepted")
	}
}
