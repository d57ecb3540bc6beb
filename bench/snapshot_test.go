package bench

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func syntheticCapture(tb testing.TB, calls int) string {
	path := filepath.Join(tb.TempDir(), "calls.pcap")
	if err := writeCallsCapture(path, calls); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestMeasureEncoding: the synthetic capture replays into exactly the calls
// it holds, all live, and their listing is measured.
func TestMeasureEncoding(t *testing.T) {
	e, err := measureEncoding(context.Background(), syntheticCapture(t, 2000), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if e.Calls != 2000 || e.Runs == 0 || e.GBps <= 0 {
		t.Fatalf("encoding %+v: want 2000 calls listed at least once", e)
	}
	if per := e.Bytes / int64(e.Calls); per < 200 || per > 2000 {
		t.Fatalf("%d bytes per listed call: the listing is not what the capture holds", per)
	}
}
