package sensor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"tapline/capture"
	"tapline/config"
	"tapline/sip"
	"tapline/state"
)

// Sensor runs the configured sources into one state store.
type Sensor struct {
	cfg   config.Config
	store *state.Store
	ports config.PortSet

	mu       sync.Mutex
	decoders []*capture.Decoder
	hep      capture.HEPStats

	sipMsgs     atomic.Uint64
	parseErrors atomic.Uint64
}

// Stats are the capture counters shown by sniffer_stat.
type Stats struct {
	capture.Stats
	SIPMessages uint64 `json:"sip_messages"`
	ParseErrors uint64 `json:"parse_errors"`
	HEPPackets  uint64 `json:"hep_packets"`
	HEPErrors   uint64 `json:"hep_errors"`
	HEPDrops    uint64 `json:"hep_drops"`
}

// New builds the sensor; Run starts its sources.
func New(cfg config.Config) (*Sensor, error) {
	ports, err := config.ParsePorts(cfg.SIPPorts)
	if err != nil {
		return nil, fmt.Errorf("sipport: %w", err)
	}
	st := state.New(state.Config{
		IDSensor: cfg.IDSensor, CallLinger: cfg.CallLinger, CallTimeout: cfg.CallTimeout,
		Registers: cfg.SIPRegister,
	})
	return &Sensor{cfg: cfg, store: st, ports: ports}, nil
}

// Store is the live tables.
func (s *Sensor) Store() *state.Store { return s.store }

// Active reports whether any source is configured.
func (s *Sensor) Active() bool {
	return s.cfg.Replay != "" || s.cfg.Interface != "" || s.cfg.HEPBind != ""
}

// Run runs every configured source until ctx ends. A source that fails is
// logged and reported; the others keep running.
func (s *Sensor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	start := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, context.Canceled) {
				slog.Error("capture source failed", "source", name, "err", err)
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	if s.cfg.Replay != "" {
		start("replay", func() error { return s.runReplay(ctx) })
	}
	if s.cfg.Interface != "" {
		start("live", func() error { return s.runLive(ctx) })
	}
	if s.cfg.HEPBind != "" {
		start("hep", func() error { return s.runHEP(ctx) })
	}
	if s.cfg.Interface != "" || s.cfg.HEPBind != "" { // live sources: the wall clock
		go s.tick(ctx)
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// tick moves the clock for live sources, so idle calls expire.
func (s *Sensor) tick(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.store.Advance(now)
		}
	}
}

// handler parses one SIP payload into the store. Each source calls it from
// one goroutine, so each gets its own Msg.
func (s *Sensor) handler() capture.Handler {
	var m sip.Msg
	return func(p *sip.Packet) {
		if err := sip.Parse(p.Payload, &m); err != nil {
			s.parseErrors.Add(1)
			return
		}
		s.sipMsgs.Add(1)
		s.store.Ingest(p, &m)
	}
}

func (s *Sensor) newDecoder(h capture.Handler) *capture.Decoder {
	d := capture.NewDecoder(s.ports, h)
	s.mu.Lock()
	s.decoders = append(s.decoders, d)
	s.mu.Unlock()
	return d
}

// Stats sums the counters of every source.
func (s *Sensor) Stats() Stats {
	var out Stats
	s.mu.Lock()
	for _, d := range s.decoders {
		addStats(&out.Stats, d.Stats())
	}
	s.mu.Unlock()
	out.SIPMessages = s.sipMsgs.Load()
	out.ParseErrors = s.parseErrors.Load()
	out.HEPPackets = s.hep.Packets.Load()
	out.HEPErrors = s.hep.Malformed.Load()
	out.HEPDrops = s.hep.Drops.Load()
	out.Drops += out.HEPDrops
	return out
}

// addStats adds every counter of st to dst (TCPFlows, a gauge, too: the
// flows of all decoders). TestAddStatsEveryField fails when capture.Stats
// gains a field this misses.
func addStats(dst *capture.Stats, st capture.Stats) {
	dst.Packets += st.Packets
	dst.SIP += st.SIP
	dst.NotSIP += st.NotSIP
	dst.DecodeErrors += st.DecodeErrors
	dst.Drops += st.Drops
	dst.TCPGaps += st.TCPGaps
	dst.Duplicates += st.Duplicates
	dst.Truncated += st.Truncated
	dst.Fragments += st.Fragments
	dst.FragDrops += st.FragDrops
	dst.TCPRetransmits += st.TCPRetransmits
	dst.TCPEvicted += st.TCPEvicted
	dst.TCPFlows += st.TCPFlows
}
