package state

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentIngestAndListings runs ingest goroutines (calls and
// registrations) against snapshots, encoders, lookups and the clock; run
// it with -race. Published records must never be written after a reader
// got them.
func TestConcurrentIngestAndListings(t *testing.T) {
	s := New(Config{Registers: true, CallLinger: time.Second, FirstRef: 1 << 20})
	const writers, callsEach = 4, 300
	var wg sync.WaitGroup
	var done atomic.Bool
	for g := range writers {
		wg.Go(func() {
			ct := newCallTemplate(t, g%2 == 0)
			n := &wire{t: t, s: s, now: t0, vlan: -1}
			for i := range callsEach {
				ts := t0.Add(time.Duration(i) * 10 * time.Millisecond)
				ct.ingest(s, fmt.Sprintf("w%d-", g), i, ts)
				if i%10 == 0 {
					u := newRegUA(fmt.Sprintf("g%du%d", g, i%50))
					u.callID = fmt.Sprintf("reg-%d-%d", g, i)
					n.now = ts
					n.regSend(u, u.register(60))
					n.regReply(u, u.reply(200, "OK", 60))
				}
			}
		})
	}
	var readers sync.WaitGroup
	reader := func(f func()) {
		readers.Go(func() {
			for !done.Load() {
				f()
			}
		})
	}
	reader(func() {
		calls := s.Calls()
		p, _ := ParseListParams([]byte(`{"limit":"50","sort_field":"callid"}`))
		if err := WriteListCalls(io.Discard, calls, p, 1); err != nil {
			t.Error(err)
		}
		if err := WriteCallObjects(io.Discard, calls, ListParams{}, 1); err != nil {
			t.Error(err)
		}
		for _, c := range calls { // read every field of every record
			_ = fmt.Sprint(*c)
			s.Call(c.Ref)
		}
	})
	reader(func() {
		regs := s.Registers()
		if err := WriteListRegisters(io.Discard, regs, ListParams{}, 1); err != nil {
			t.Error(err)
		}
		for _, r := range regs {
			_ = fmt.Sprint(*r)
		}
	})
	reader(func() {
		s.Counts()
		s.Advance(s.Now())
	})
	wg.Wait()
	done.Store(true)
	readers.Wait()
	c := s.Counts()
	if c.CallsCreated != writers*callsEach || c.Ingested == 0 {
		t.Fatalf("counts %+v", c)
	}
}
