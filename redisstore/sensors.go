package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sensor is one live sensor as stored at sensorKey(IDSensor).
type Sensor struct {
	IDSensor int       `json:"id_sensor"`
	Addr     string    `json:"addr"`             // manager host:port
	Socket   string    `json:"socket,omitempty"` // manager Unix socket, if any
	Version  string    `json:"version"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
}

// registerSensor stores sen at sensorKey(sen.IDSensor) for ttl. Times are
// stored in UTC to the second (RFC 3339); a zero Updated becomes now.
func (s *Store) registerSensor(ctx context.Context, sen Sensor, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("redisstore: register sensor %d: ttl %v must be positive", sen.IDSensor, ttl)
	}
	if sen.Updated.IsZero() {
		sen.Updated = time.Now()
	}
	sen.Started = sen.Started.UTC().Truncate(time.Second)
	sen.Updated = sen.Updated.UTC().Truncate(time.Second)
	b, err := json.Marshal(sen)
	if err != nil {
		return fmt.Errorf("redisstore: encode sensor %d: %w", sen.IDSensor, err)
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	key := sensorKey(sen.IDSensor)
	if err := s.rdb.Set(ctx, key, b, ttl).Err(); err != nil {
		return fmt.Errorf("redisstore: set %s: %w", key, err)
	}
	return nil
}

// unregisterSensor deletes sensorKey(id); a missing key is no error.
func (s *Store) unregisterSensor(ctx context.Context, id int) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	key := sensorKey(id)
	if err := s.rdb.Del(ctx, key).Err(); err != nil {
		return fmt.Errorf("redisstore: del %s: %w", key, err)
	}
	return nil
}

// LookupSensor reads sensorKey(id). ok is false when it does not exist
// (never registered, unregistered, or its heartbeat stopped).
func (s *Store) LookupSensor(ctx context.Context, id int) (sen Sensor, ok bool, err error) {
	ok, err = s.getJSON(ctx, sensorKey(id), &sen)
	return sen, ok, err
}

// listSensors returns every live sensor, sorted by IDSensor. Keys under
// keySensorPrefix whose suffix is not a number are ignored; a sensor key
// with invalid JSON is an error.
func (s *Store) listSensors(ctx context.Context) ([]Sensor, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*opTimeout)
	defer cancel()
	keys, err := s.scanSensorKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("redisstore: scan %s: %w", keySensorPattern, err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	// One GET per key in a pipeline: MGET would cross Cluster slots.
	cmds := make([]*redis.StringCmd, len(keys))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: get %s: %w", keySensorPattern, err)
	}
	out := make([]Sensor, 0, len(keys))
	for i, c := range cmds {
		b, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			continue // expired between SCAN and GET
		}
		if err != nil {
			return nil, fmt.Errorf("redisstore: get %s: %w", keys[i], err)
		}
		var sen Sensor
		if err := json.Unmarshal(b, &sen); err != nil {
			return nil, fmt.Errorf("redisstore: %s holds invalid JSON: %w", keys[i], err)
		}
		out = append(out, sen)
	}
	slices.SortFunc(out, func(a, b Sensor) int { return cmp.Compare(a.IDSensor, b.IDSensor) })
	return out, nil
}

// scanSensorKeys SCANs for sensor keys, on every master of a Cluster.
func (s *Store) scanSensorKeys(ctx context.Context) ([]string, error) {
	var (
		mu   sync.Mutex
		keys []string
	)
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, keySensorPattern, 100).Iterator()
		for it.Next(ctx) {
			if _, ok := sensorIDFromKey(it.Val()); ok {
				mu.Lock()
				keys = append(keys, it.Val())
				mu.Unlock()
			}
		}
		return it.Err()
	}
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.rdb)
	}
	slices.Sort(keys)
	return slices.Compact(keys), err
}

// Heartbeat keeps sen() registered: it calls registerSensor(sen(), ttl) at
// once and then every interval, with Updated set to the time of each beat,
// until ctx is done; then it unregisters the sensor (with a short timeout
// of its own) and returns. Run it in its own goroutine. ttl should be a few
// intervals, so one missed beat does not drop the sensor. Zero or negative
// values mean a 10 s interval and a ttl of three intervals.
//
// It logs one line per change of state (registered → failing → registered
// again), never one per attempt.
func (s *Store) Heartbeat(ctx context.Context, sen func() Sensor, interval, ttl time.Duration) {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	if ttl <= 0 {
		ttl = 3 * interval
	}
	const (
		unknown = iota
		healthy
		failing
	)
	state, lastID := unknown, 0
	registered := false
	beat := func() {
		cur := sen()
		cur.Updated = time.Now()
		if registered && cur.IDSensor != lastID {
			// The id changed: do not leave the old one behind.
			_ = s.unregisterSensor(ctx, lastID)
		}
		lastID, registered = cur.IDSensor, true
		err := s.registerSensor(ctx, cur, ttl)
		switch {
		case err != nil && ctx.Err() != nil:
			// Shutting down; not a Redis problem.
		case err != nil && state != failing:
			state = failing
			s.logger().Warn("redis: sensor heartbeat failing", "key", sensorKey(cur.IDSensor), "err", err)
		case err == nil && state == failing:
			state = healthy
			s.logger().Info("redis: sensor heartbeat recovered", "key", sensorKey(cur.IDSensor))
		case err == nil && state == unknown:
			state = healthy
			s.logger().Info("redis: sensor registered", "key", sensorKey(cur.IDSensor), "ttl", ttl)
		}
	}

	beat()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			beat()
		case <-ctx.Done():
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
			defer cancel()
			if err := s.unregisterSensor(uctx, lastID); err != nil {
				s.logger().Warn("redis: sensor unregister failed (the key expires by itself)",
					"key", sensorKey(lastID), "err", err)
			}
			return
		}
	}
}
