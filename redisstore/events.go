package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// defaultSubIdle is how long a quiet subscription waits before it
	// PINGs the server; a second quiet period without even the PONG means
	// the connection is dead (e.g. a vanished host that sent no RST).
	defaultSubIdle = 15 * time.Second
	// subBackoffMin and subBackoffMax bound the pause between reconnects.
	subBackoffMin = 100 * time.Millisecond
	subBackoffMax = 2 * time.Second
)

// Subscribe listens on channelEvents until ctx is done. The returned
// channel receives a value whenever a message arrives and also once after
// every (re)connect of the subscription, including the first, so the caller
// re-reads what it caches whenever it may have missed something. Values
// coalesce: the channel has room for one and the listener never blocks on
// it, so a slow reader sees one pending value, not a backlog. The channel is
// closed when ctx is done or the Store is closed.
//
// A typical loop:
//
//	for range store.Subscribe(ctx) {
//		reloadManagerKey()
//	}
func (s *Store) Subscribe(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	go s.listen(ctx, ch)
	return ch
}

func (s *Store) listen(ctx context.Context, ch chan<- struct{}) {
	defer close(ch)
	notify := func() {
		select {
		case ch <- struct{}{}:
		default: // one is already pending
		}
	}
	backoff := subBackoffMin
	for {
		connected, err := s.listenOnce(ctx, notify)
		if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
			return
		}
		if connected {
			backoff = subBackoffMin
		} else {
			backoff = min(2*backoff, subBackoffMax)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// listenOnce runs one subscription connection until it fails or ctx is
// done. connected reports whether the server confirmed the subscription.
func (s *Store) listenOnce(ctx context.Context, notify func()) (connected bool, err error) {
	ps := s.rdb.Subscribe(ctx, channelEvents) // a failed dial shows up in Receive
	// Receive does not watch ctx; closing the PubSub interrupts it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer func() {
		if stop() {
			_ = ps.Close()
		}
	}()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, s.subIdle)
		if err != nil {
			if isTimeout(err) && connected && !pinged {
				pinged = true
				if err := ps.Ping(ctx); err != nil {
					return connected, err
				}
				continue
			}
			return connected, err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == channelEvents {
				connected = true
				notify()
			}
		case *redis.Message:
			notify()
		}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
