package server

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// Bulk replies (streams: whole-table listings, large binaries) are written
// by their connection's writer goroutine at a lower OS priority. On a
// sensor with few cores the encoder of a 100k-call listcalls is CPU-bound
// for tens of milliseconds; at the same priority it competes on equal
// terms with the event loops, and small requests on other connections wait
// behind it (p99 2–3× idle on 2 vCPUs). Niced, it yields to them at once
// and still takes every cycle nobody else wants (p99 ≈ idle, listings as
// fast). Go has no per-goroutine priority, so the goroutine is locked to
// its thread while the thread is niced.

// lowerPriority raises the nice value of the calling goroutine's thread by
// nice (capped at 19) and returns the function that undoes it. If the
// thread's priority cannot be restored (an unprivileged process may lower
// its priority but not raise it again), the goroutine stays locked, so the
// thread ends with the goroutine instead of running others at a low
// priority.
func lowerPriority(nice int) (restore func()) {
	if nice <= 0 {
		return func() {}
	}
	runtime.LockOSThread()
	tid := unix.Gettid()
	raw, err := unix.Getpriority(unix.PRIO_PROCESS, tid) // 20 - nice, as the kernel returns it
	if err != nil {
		runtime.UnlockOSThread()
		return func() {}
	}
	cur := 20 - raw
	if unix.Setpriority(unix.PRIO_PROCESS, tid, min(cur+nice, 19)) != nil {
		runtime.UnlockOSThread()
		return func() {}
	}
	return func() {
		if unix.Setpriority(unix.PRIO_PROCESS, tid, cur) == nil {
			runtime.UnlockOSThread()
		}
	}
}
