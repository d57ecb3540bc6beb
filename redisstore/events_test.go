package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var errNotYet = errors.New("not yet")

// waitEvent waits (bounded) for a value on ch.
func waitEvent(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no event within 10s", what)
	}
}

// noEvent checks that ch stays quiet for d.
func noEvent(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s: unexpected event", what)
	case <-time.After(d):
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestSubscribe(t *testing.T) {
	srv, sub := setup(t)
	pub := open(t, srv.URL()) // another Store, as another sensor or the CLI
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := sub.Subscribe(ctx)

	waitEvent(t, ch, "initial (re)connect")
	noEvent(t, ch, 200*time.Millisecond, "quiet subscription")

	if err := pub.SetManagerKey(tctx(t), testKey); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ch, "after SetManagerKey")
	if _, err := pub.DeleteManagerKey(tctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ch, "after DeleteManagerKey")

	// Redis dies and comes back: the subscription reconnects and says so.
	srv.Stop()
	time.Sleep(300 * time.Millisecond)
	drain(ch)
	srv.Restart()
	waitEvent(t, ch, "after Redis restart")

	// And it really listens again.
	drain(ch)
	eventually(t, 10*time.Second, "publish after restart", func() error {
		return pub.SetManagerKey(tctx(t), testKey)
	})
	waitEvent(t, ch, "SetManagerKey after restart")

	cancel()
	waitClosed(t, ch)
}

func TestSubscribeCoalesces(t *testing.T) {
	srv, sub := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := sub.Subscribe(ctx)
	waitEvent(t, ch, "initial (re)connect")

	// Nobody reads while 200 messages arrive; publishing never blocks.
	for range 200 {
		if err := srv.Client().Publish(tctx(t), channelEvents, eventManagerKey).Err(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "pending event", func() error {
		if len(ch) != 1 {
			return errNotYet
		}
		return nil
	})
	if cap(ch) != 1 {
		t.Fatalf("channel capacity %d, want 1", cap(ch))
	}
	// Wait for the listener to drain the socket, then one read takes all.
	time.Sleep(300 * time.Millisecond)
	<-ch
	noEvent(t, ch, 300*time.Millisecond, "after reading the coalesced event")
}

func TestSubscribeWhileRedisDown(t *testing.T) {
	srv, sub := setup(t)
	srv.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := sub.Subscribe(ctx)
	noEvent(t, ch, 500*time.Millisecond, "Redis down")
	srv.Restart()
	waitEvent(t, ch, "first connect after Redis came up")
}

func TestSubscribeStopsOnClose(t *testing.T) {
	_, sub := setup(t)
	ch := sub.Subscribe(context.Background())
	waitEvent(t, ch, "initial (re)connect")
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch)
}

func TestSubscribeCancelledBeforeConnect(t *testing.T) {
	_, sub := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	waitClosed(t, sub.Subscribe(ctx))
}

func waitClosed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("channel not closed within 10s")
		}
	}
}

// TestSubscribeIdlePings checks that a quiet subscription is kept by its
// PINGs rather than torn down and reconnected.
func TestSubscribeIdlePings(t *testing.T) {
	srv, sub := setup(t)
	sub.subIdle = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := sub.Subscribe(ctx)
	waitEvent(t, ch, "initial (re)connect")
	noEvent(t, ch, time.Second, "idle subscription (a reconnect would signal)")
	if err := srv.Client().Publish(tctx(t), channelEvents, eventManagerKey).Err(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ch, "event after idling")
}

// TestSubscribeDetectsDeadConnection stalls the server (CLIENT PAUSE), so
// the subscription's PING goes unanswered as on a vanished host; it must
// give up on the connection and signal once it has a new one.
func TestSubscribeDetectsDeadConnection(t *testing.T) {
	srv, sub := setup(t)
	sub.subIdle = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := sub.Subscribe(ctx)
	waitEvent(t, ch, "initial (re)connect")
	before := srv.Client().Info(tctx(t), "stats").Val()
	if err := srv.Client().Do(tctx(t), "CLIENT", "PAUSE", "1000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ch, "reconnect after the stall")
	after := srv.Client().Info(tctx(t), "stats").Val()
	if connections(t, after) <= connections(t, before) {
		t.Fatalf("no new connection: before %d, after %d", connections(t, before), connections(t, after))
	}
}

// connections extracts total_connections_received from INFO stats.
func connections(t *testing.T, info string) int {
	t.Helper()
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_connections_received:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no total_connections_received in INFO")
	return 0
}
