package access

import "sync"

// WindowLimit allows at most N events within any span of Window
// nanoseconds: a ring of the last N events' times, so an event is allowed
// only when the N-th before it is at least Window old. Unlike a token
// bucket (a burst of N and then N a second, up to 2N-1 within one second)
// the bound holds for every window, which is what a documented "at most N
// lines a second" promises. Time is passed in, so it is tested without
// clocks. A nil *WindowLimit allows everything.
type WindowLimit struct {
	mu     sync.Mutex
	window int64
	times  []int64 // ring: the times of the last len(times) events allowed
	next   int     // the oldest slot, overwritten by the next event allowed
	used   int     // slots filled so far (< len(times) until the ring is full)
}

// NewWindowLimit allows n events per window nanoseconds; nil when n <= 0.
func NewWindowLimit(n int, window int64) *WindowLimit {
	if n <= 0 {
		return nil
	}
	return &WindowLimit{window: window, times: make([]int64, n)}
}

// Allow records an event at now (nanoseconds on a monotonic scale) and
// reports whether it is within the bound. It allocates nothing.
func (w *WindowLimit) Allow(now int64) bool {
	if w == nil {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.used == len(w.times) && now-w.times[w.next] < w.window {
		return false
	}
	w.times[w.next] = now
	w.next = (w.next + 1) % len(w.times)
	if w.used < len(w.times) {
		w.used++
	}
	return true
}
