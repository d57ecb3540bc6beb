package server

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func threadNice(t *testing.T) int {
	t.Helper()
	raw, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return 20 - raw
}

// TestLowerPriority: the writer's thread is niced while a stream is
// written and restored after it where the process may do so (root); else
// it stays niced, and the goroutine locked to it.
func TestLowerPriority(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // measure one thread throughout
		defer runtime.UnlockOSThread()
		before := threadNice(t)
		restore := lowerPriority(5)
		if got := threadNice(t); got != min(before+5, 19) {
			t.Errorf("nice during a stream = %d, want %d", got, min(before+5, 19))
		}
		restore()
		after := threadNice(t)
		switch {
		case os.Geteuid() == 0 && after != before:
			t.Errorf("nice after the stream = %d, want %d restored", after, before)
		case os.Geteuid() != 0 && after == before:
			t.Logf("priority restored without privileges (RLIMIT_NICE allows it)")
		}
		if n := lowerPriority(0); n == nil {
			t.Error("lowerPriority(0) returned nil")
		} else if n(); threadNice(t) != after {
			t.Error("manager_stream_nice = 0 changed the priority")
		}
	}()
	<-done
}
