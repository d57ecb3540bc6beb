package server

import (
	"testing"
	"time"

	"tapline/commands"
	"tapline/config"
)

// TestAuditGlobalBound is attack report F9: docs/AUDIT.md promises at most
// 50 failure lines a second for the whole trail, but the bound was a token
// bucket (burst 50, refill 50/s), which let 97 lines through within about
// one second of a flood from 3000 addresses. The flood is replayed here on
// the trackers' clock (no wall clock): 3000 attempts in 0.9 s, then one
// every 10 ms for 3 s; no one-second window may hold more than 50 lines.
func TestAuditGlobalBound(t *testing.T) {
	s := New(config.Default(), commands.Default(), nil, nil)
	t.Cleanup(s.pool.close)
	g := &s.guard
	const start = int64(10 * time.Second)
	var times []int64
	at := start
	for i := 0; i < 3000; i++ {
		if ok, _ := g.auditAllow(at, true); ok {
			times = append(times, at)
		}
		at += int64(300 * time.Microsecond)
	}
	for i := 0; i < 300; i++ {
		if ok, _ := g.auditAllow(at, true); ok {
			times = append(times, at)
		}
		at += int64(10 * time.Millisecond)
	}
	for i := range times {
		n := 0
		for _, u := range times[i:] {
			if u-times[i] >= int64(time.Second) {
				break
			}
			n++
		}
		if n > auditLinesPerSec {
			t.Fatalf("%d audit lines within one second from +%v; docs/AUDIT.md says at most %d",
				n, time.Duration(times[i]-start), auditLinesPerSec)
		}
	}
	if len(times) < 4*auditLinesPerSec {
		t.Errorf("%d lines in 3.9 s; the bound should let about 50 a second through", len(times))
	}
}

// TestAuditClassesApart (attack round 2, R2-4): refusals that cost nothing
// to provoke (a level refused) spend their own global bound, never the one
// failed credentials are logged under, and the lines a bound left out are
// reported with the next line it allows.
func TestAuditClassesApart(t *testing.T) {
	s := New(config.Default(), commands.Default(), nil, nil)
	t.Cleanup(s.pool.close)
	g := &s.guard
	at := int64(10 * time.Second)
	for i := 0; i < 10*auditLinesPerSec; i++ { // a flood of free refusals within 0.1 s
		g.auditAllow(at+int64(i)*int64(10*time.Microsecond), false)
	}
	if ok, _ := g.auditAllow(at+int64(200*time.Millisecond), true); !ok {
		t.Fatal("a failed credential was crowded out by refusals")
	}
	ok, left := g.auditAllow(at+int64(1100*time.Millisecond), false)
	if !ok || left != 9*auditLinesPerSec {
		t.Fatalf("next refusal line after the flood: allowed %v, reports %d left out; want %d", ok, left, 9*auditLinesPerSec)
	}
}
