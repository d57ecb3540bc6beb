package redisstore

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSensorRoundTrip(t *testing.T) {
	srv, s := setup(t)
	ctx := tctx(t)
	started := time.Date(2026, 11, 1, 12, 30, 45, 123456789, time.FixedZone("CET", 3600))
	sen := Sensor{IDSensor: 7, Addr: "10.0.0.7:5029", Socket: "/run/tapline.sock", Version: "2026.11.0",
		PID: 4242, Started: started, Updated: started.Add(time.Minute)}
	if err := s.registerSensor(ctx, sen, time.Minute); err != nil {
		t.Fatal(err)
	}
	raw := srv.Client().Get(ctx, "tapline:sensor:7").Val()
	want := `{"id_sensor":7,"addr":"10.0.0.7:5029","socket":"/run/tapline.sock","version":"2026.11.0",` +
		`"pid":4242,"started":"2026-11-01T11:30:45Z","updated":"2026-11-01T11:31:45Z"}`
	if raw != want {
		t.Fatalf("stored\n%s\nwant\n%s", raw, want)
	}
	if ttl := srv.Client().TTL(ctx, "tapline:sensor:7").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL %v, want (0, 1m]", ttl)
	}
	got, ok, err := s.LookupSensor(ctx, 7)
	if err != nil || !ok {
		t.Fatalf("Lookup: %v %v", ok, err)
	}
	if !got.Started.Equal(started.Truncate(time.Second)) || got.Addr != sen.Addr || got.PID != 4242 {
		t.Fatalf("Lookup = %+v", got)
	}

	// No socket: the field is left out. Zero Updated becomes now.
	if err := s.registerSensor(ctx, Sensor{IDSensor: 8, Addr: "h:1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	raw = srv.Client().Get(ctx, "tapline:sensor:8").Val()
	if strings.Contains(raw, "socket") {
		t.Fatalf("empty socket stored: %s", raw)
	}
	got, _, _ = s.LookupSensor(ctx, 8)
	if time.Since(got.Updated) > time.Minute {
		t.Fatalf("Updated = %v, want now", got.Updated)
	}

	if err := s.unregisterSensor(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.LookupSensor(ctx, 7); ok || err != nil {
		t.Fatalf("Lookup after Unregister: %v %v", ok, err)
	}
	if err := s.unregisterSensor(ctx, 7); err != nil {
		t.Fatalf("Unregister of a missing sensor: %v", err)
	}
	if err := s.registerSensor(ctx, sen, 0); err == nil {
		t.Fatal("Register with ttl 0 succeeded")
	}
}

func TestSensorExpires(t *testing.T) {
	_, s := setup(t)
	ctx := tctx(t)
	if err := s.registerSensor(ctx, Sensor{IDSensor: 3}, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "sensor expiry", func() error {
		if _, ok, _ := s.LookupSensor(ctx, 3); ok {
			return errNotYet
		}
		return nil
	})
}

func TestListSensors(t *testing.T) {
	srv, s := setup(t)
	ctx := tctx(t)
	if l, err := s.listSensors(ctx); err != nil || len(l) != 0 {
		t.Fatalf("List on empty Redis = %v, %v", l, err)
	}
	// More than one SCAN batch, registered out of order.
	var want []int
	for i := 250; i >= 1; i-- {
		if err := s.registerSensor(ctx, Sensor{IDSensor: i, Addr: "h:1"}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 250; i++ {
		want = append(want, i)
	}
	// Keys that are not ours are skipped.
	srv.Client().Set(ctx, "tapline:sensor:notanumber", "{}", 0)
	srv.Client().Set(ctx, "tapline:sensorx", "{}", 0)
	srv.Client().Set(ctx, "unrelated", "{}", 0)
	l, err := s.listSensors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, sen := range l {
		got = append(got, sen.IDSensor)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List ids = %v", got)
	}

	srv.Client().Set(ctx, "tapline:sensor:999", "garbage", 0)
	if _, err := s.listSensors(ctx); err == nil || !strings.Contains(err.Error(), "tapline:sensor:999") {
		t.Fatalf("List with a corrupt entry: %v", err)
	}
}

func TestHeartbeat(t *testing.T) {
	srv, s := setup(t)
	logs := captureLog(s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Heartbeat(ctx, func() Sensor {
			return Sensor{IDSensor: 5, Addr: "127.0.0.1:5029", PID: 1, Started: started}
		}, 100*time.Millisecond, time.Second)
	}()

	// The key stays alive well past its 1 s TTL.
	eventually(t, 5*time.Second, "first registration", func() error {
		if _, ok, _ := s.LookupSensor(tctx(t), 5); !ok {
			return errNotYet
		}
		return nil
	})
	first, _, _ := s.LookupSensor(tctx(t), 5)
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if n := srv.Client().Exists(tctx(t), "tapline:sensor:5").Val(); n != 1 {
			t.Fatal("sensor key vanished while the heartbeat runs")
		}
	}
	last, _, _ := s.LookupSensor(tctx(t), 5)
	if !last.Updated.After(first.Updated) {
		t.Fatalf("Updated not refreshed: %v then %v", first.Updated, last.Updated)
	}

	// Redis goes away and comes back: one line each way, not one per beat.
	srv.Stop()
	time.Sleep(time.Second)
	srv.Restart()
	eventually(t, 10*time.Second, "re-registration after restart", func() error {
		if _, ok, _ := s.LookupSensor(tctx(t), 5); !ok {
			return errNotYet
		}
		return nil
	})

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Heartbeat did not return after cancel")
	}
	if n := srv.Client().Exists(tctx(t), "tapline:sensor:5").Val(); n != 0 {
		t.Fatal("sensor key left behind after cancel")
	}

	out := logs.String()
	for _, w := range []string{"sensor registered", "sensor heartbeat failing", "sensor heartbeat recovered"} {
		if n := strings.Count(out, w); n != 1 {
			t.Errorf("log has %q %d times, want once; log:\n%s", w, n, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 3 {
		t.Errorf("log has %d lines, want 3:\n%s", n, out)
	}
}

func TestHeartbeatFollowsIDChange(t *testing.T) {
	_, s := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id := make(chan int, 1)
	id <- 1
	cur := 1
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Heartbeat(ctx, func() Sensor {
			select {
			case cur = <-id:
			default:
			}
			return Sensor{IDSensor: cur}
		}, 50*time.Millisecond, time.Minute)
	}()
	lookup := func(n int, want bool) func() error {
		return func() error {
			if _, ok, _ := s.LookupSensor(tctx(t), n); ok != want {
				return errNotYet
			}
			return nil
		}
	}
	eventually(t, 5*time.Second, "id 1 registered", lookup(1, true))
	id <- 2
	eventually(t, 5*time.Second, "id 2 registered", lookup(2, true))
	eventually(t, 5*time.Second, "id 1 removed", lookup(1, false))
	cancel()
	<-done
	eventually(t, 5*time.Second, "id 2 removed", lookup(2, false))
}
