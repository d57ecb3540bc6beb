package redisstore

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"tapline/internal/redistest"
)

// open returns a Store on url, closed at cleanup.
func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(url)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// setup starts a Redis and opens a Store on it.
func setup(t *testing.T) (*redistest.Server, *Store) {
	t.Helper()
	srv := redistest.Start(t)
	return srv, open(t, srv.URL())
}

// tctx is a context bounded to guard against hangs.
func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually retries f until it succeeds or limit passes.
func eventually(t *testing.T, limit time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func captureLog(s *Store) *logBuf {
	lb := &logBuf{}
	s.log = slog.New(slog.NewTextHandler(lb, nil))
	return lb
}
