package crypto

import (
	"testing"
	"time"
)

// replayFix drives a ReplayCache through an Opener that knows keys a and
// b, with a request frame per call.
type replayFix struct {
	t    *testing.T
	a, b *HardenedKey
	rc   *ReplayCache
	o    *Opener
}

func newReplayFix(t *testing.T, perKey, maxKeys int) *replayFix {
	a, b := seqKey(t, 16, 0), seqKey(t, 16, 1)
	rc := NewReplayCache(testWindow, perKey, maxKeys)
	return &replayFix{t: t, a: a.Hardened(), b: b.Hardened(), rc: rc,
		o: NewOpener(LookupKeys(a, b), testWindow, rc)}
}

// frame seals a fresh request frame dated ts.
func (f *replayFix) frame(k *HardenedKey, ts time.Time) []byte {
	return Seal(nil, k, FlagFinal, ts, 0, NewRef(), []byte("ping"))
}

func (f *replayFix) open(line []byte, now time.Time) bool {
	_, _, err := f.o.Open(nil, line, now, false)
	return err == nil
}

// A time line of the basic rules: an entry is kept exactly while its frame
// could still be accepted, and forgotten after.
func TestReplayCacheWindow(t *testing.T) {
	f := newReplayFix(t, 100, 2)
	t0 := testNow
	line := f.frame(f.a, t0)
	if !f.open(line, t0) || f.open(line, t0) {
		t.Fatal("first open refused or replay accepted")
	}
	if f.open(line, t0.Add(testWindow)) {
		t.Fatal("replay accepted at the end of the window")
	}
	// A frame dated in the future is remembered until it is a window old.
	future := f.frame(f.a, t0.Add(testWindow))
	if !f.open(future, t0) || f.open(future, t0.Add(2*testWindow)) {
		t.Fatal("future frame: not accepted, or replay accepted within its window")
	}
	// Past the window the old entries go at the next admission.
	later := t0.Add(testWindow + 2*time.Second)
	if !f.open(f.frame(f.a, later), later) || f.rc.Len() != 2 {
		t.Fatalf("expired entries kept: len %d, want 2", f.rc.Len())
	}
	end := t0.Add(3*testWindow + 2*time.Second)
	if !f.open(f.frame(f.b, end), end) {
		t.Fatal("fresh frame refused")
	}
	if st := f.rc.Stats(); st.Entries != 1 || st.Keys != 1 || st.Full() != 0 {
		t.Fatalf("idle entries not dropped: %+v", st)
	}
}

// Issue 9 item 7: one key holder flooding new frames must not lock anybody
// out. With a budget of 50 frames per key, key a sends 400 frames over 40 s
// (the old cache refused everything once full); key b and key a's own fresh
// frames still pass, and no accepted frame can be replayed.
func TestReplayCacheFloodNoLockout(t *testing.T) {
	f := newReplayFix(t, 50, 4)
	t0 := testNow
	var sent [][]byte
	var now time.Time
	for i := range 400 {
		now = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		line := f.frame(f.a, now)
		if !f.open(line, now) {
			t.Fatalf("flood frame %d refused: %+v", i, f.rc.Stats())
		}
		sent = append(sent, line)
	}
	if n := f.rc.Len(); n > 50 {
		t.Fatalf("cache holds %d entries, budget 50", n)
	}
	if !f.open(f.frame(f.b, now), now) {
		t.Fatal("another key's fresh frame refused after the flood")
	}
	if !f.open(f.frame(f.a, now), now) {
		t.Fatal("the flooding key's own fresh frame refused")
	}
	for i, line := range sent {
		if f.open(line, now) {
			t.Fatalf("replay of flood frame %d accepted", i)
		}
	}
	if st := f.rc.Stats(); st.Dropped == 0 || st.Full() != 0 {
		t.Fatalf("stats %+v: want buckets dropped early and nothing refused", st)
	}
}

// Frames dated in the future cannot be made room for (forgetting them
// would reopen their replay), so once a key holds half its budget, frames
// dated ahead of the current bucket beyond the tolerance are refused and
// counted; the other half stays for frames dated now, of that key and of
// every other. Replays stay refused throughout.
func TestReplayCacheBudget(t *testing.T) {
	f := newReplayFix(t, 50, 4)
	t0 := testNow
	var first []byte
	for i := range 60 {
		line := f.frame(f.a, t0.Add(testWindow))
		ok := f.open(line, t0)
		if ok != (i < 25) {
			t.Fatalf("future frame %d: accepted %v, want %v", i, ok, i < 25)
		}
		if i == 0 {
			first = line
		}
	}
	if st := f.rc.Stats(); st.FutureRefused != 35 || st.KeyFull != 0 || st.Entries != 25 || st.Full() != 35 {
		t.Fatalf("stats %+v: want 35 refused as dated ahead, 25 entries", st)
	}
	if !f.open(f.frame(f.b, t0), t0) {
		t.Fatal("another key refused while the first is under pressure")
	}
	for i := range 25 {
		if !f.open(f.frame(f.a, t0), t0) {
			t.Fatalf("the flooding key's fresh frame %d refused: %+v", i, f.rc.Stats())
		}
	}
	if f.open(first, t0.Add(testWindow)) {
		t.Fatal("replay accepted")
	}
	after := t0.Add(2*testWindow + 2*time.Second)
	if !f.open(f.frame(f.a, after), after) {
		t.Fatalf("key still refused after its frames expired: %+v", f.rc.Stats())
	}
}

// Issue 9 item 7 residual: a key holder flooding valid frames dated up to
// the window ahead (and just inside the tolerance) used to fill its key's
// budget with entries that cannot be given up, so every client of that key
// got "bad frame". Over 150 s the flood sends 40 frames a second dated
// now+window-1s and 10 dated now+tolerance; clients dated now and 1 s
// behind are accepted every second, and no accepted frame is accepted
// again.
func TestReplayCacheFutureFloodNoLockout(t *testing.T) {
	const perKey = 50
	f := newReplayFix(t, perKey, 4)
	tol := time.Duration(f.rc.futureTolerance()) * time.Millisecond
	var accepted [][]byte
	var now time.Time
	for step := range 150 {
		now = testNow.Add(time.Duration(step) * time.Second)
		for i := range 50 {
			ts := now.Add(testWindow - time.Second)
			if i%5 == 0 {
				ts = now.Add(tol)
			}
			if line := f.frame(f.a, ts); f.open(line, now) {
				accepted = append(accepted, line)
			}
		}
		for _, skew := range []time.Duration{0, -time.Second} {
			line := f.frame(f.a, now.Add(skew))
			if !f.open(line, now) {
				t.Fatalf("second %d: client frame dated %v from now refused: %+v", step, skew, f.rc.Stats())
			}
			accepted = append(accepted, line)
		}
		if !f.open(f.frame(f.b, now), now) {
			t.Fatalf("second %d: another key's frame refused", step)
		}
		if n := f.rc.Stats().Entries; n > 2*perKey {
			t.Fatalf("cache holds %d entries, budget %d per key", n, perKey)
		}
	}
	for i, line := range accepted {
		if f.open(line, now) {
			t.Fatalf("replay of accepted frame %d accepted", i)
		}
	}
	if st := f.rc.Stats(); st.FutureRefused == 0 {
		t.Fatalf("stats %+v: want the flood refused and counted", st)
	}
}

// At most maxKeys key ids hold entries; a further one is refused and
// counted until one of them has expired.
func TestReplayCacheMaxKeys(t *testing.T) {
	f := newReplayFix(t, 50, 1)
	t0 := testNow
	if !f.open(f.frame(f.a, t0), t0) {
		t.Fatal("first key refused")
	}
	if f.open(f.frame(f.b, t0), t0) || f.rc.Stats().KeysFull != 1 {
		t.Fatalf("second key accepted past maxKeys: %+v", f.rc.Stats())
	}
	if !f.open(f.frame(f.a, t0), t0) {
		t.Fatal("first key refused")
	}
	later := t0.Add(testWindow + 2*time.Second)
	if !f.open(f.frame(f.b, later), later) {
		t.Fatal("second key refused after the first one's entries expired")
	}
}

// FuzzReplayCache drives admit with frames of three kids, random refs and
// timestamps and a clock that moves forward: a frame accepted once is never
// accepted again while Open would still take its timestamp, and no kid
// holds more than its budget, however the bounds are hit.
func FuzzReplayCache(f *testing.F) {
	f.Add([]byte{0, 1, 128, 0, 0, 1, 128, 0, 1, 1, 128, 10, 2, 2, 200, 100})
	f.Add([]byte{0, 0, 255, 1, 0, 1, 255, 1, 0, 2, 255, 1, 0, 3, 0, 250, 0, 0, 255, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const window, perKey, maxKeys = 10 * time.Second, 4, 2
		c := NewReplayCache(window, perKey, maxKeys)
		type frame struct {
			kid byte
			e   replayEntry
			ts  int64
		}
		accepted := map[frame]bool{}
		now := testNow
		for ; len(ops) >= 4; ops = ops[4:] {
			kid, ref, off, step := ops[0]%3, ops[1]%8, int64(ops[2])-128, ops[3]
			now = now.Add(time.Duration(step) * 100 * time.Millisecond)
			ts := now.Add(time.Duration(off) * 100 * time.Millisecond)
			if d := now.Sub(ts); d < -window || d > window {
				continue // Open refuses it before the cache is asked
			}
			fr := frame{kid, replayEntry{ref: [16]byte{ref}}, ts.UnixMilli()}
			ok := c.admit([8]byte{kid}, fr.e, ts, now, true)
			if ok && accepted[fr] {
				t.Fatalf("frame %+v accepted twice (now %v)", fr, now.Sub(testNow))
			}
			if ok {
				accepted[fr] = true
			}
			st := c.Stats()
			if st.Keys > maxKeys || st.Entries > perKey*maxKeys {
				t.Fatalf("bounds exceeded: %+v", st)
			}
			for _, kc := range c.kids {
				if kc.n > perKey {
					t.Fatalf("kid holds %d entries, budget %d", kc.n, perKey)
				}
			}
		}
	})
}
