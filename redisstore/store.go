package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// opTimeout bounds every single Redis call, inside whatever deadline the
// caller's context already has.
const opTimeout = 2 * time.Second

// Store is tapline's handle on Redis: a single node, a Sentinel-managed
// master or a Cluster, whatever the URL given to Open names. It is safe for
// concurrent use.
type Store struct {
	rdb     redis.UniversalClient
	log     *slog.Logger  // nil: slog.Default() at the time of logging
	subIdle time.Duration // see defaultSubIdle
}

// StoredKey is the manager key as stored at KeyManagerKey: base64 strings,
// exactly as VoIPmonitor keeps them (table `system`, type `manager_key`).
type StoredKey struct {
	Key string `json:"key"`
	IV  string `json:"iv"`
	// Level is the access level hardened frames sealed with this key get
	// (`tapline keys store --level`); "" (absent): manager_key_level,
	// read_write by default. VoIPmonitor ignores the member.
	Level string `json:"level,omitempty"`
}

// Open prepares a Store for the Redis named by url (see ParseURL for the
// forms). It does not contact Redis (go-redis connects lazily), so it fails
// only on a bad URL; use Ping to check the server.
//
// The first Open also routes go-redis's own log lines (one per failed dial
// while Redis is down) to slog at Debug level, process-wide: this package
// is tapline's only Redis user and reports Redis trouble itself, once per
// state change.
func Open(url string) (*Store, error) {
	opts, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	quietGoRedis.Do(func() { redis.SetLogger(debugLogger{}) })
	return &Store{rdb: redis.NewUniversalClient(opts), subIdle: defaultSubIdle}, nil
}

var quietGoRedis sync.Once

// debugLogger sends go-redis's internal log to slog.Debug.
type debugLogger struct{}

func (debugLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// Close closes the connections. Subscribe channels and Heartbeats stop.
func (s *Store) Close() error { return s.rdb.Close() }

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// GetManagerKey reads KeyManagerKey. ok is false when it does not exist.
// A stored value without both fields is an error, like invalid JSON.
func (s *Store) GetManagerKey(ctx context.Context) (k StoredKey, ok bool, err error) {
	ok, err = s.getJSON(ctx, KeyManagerKey, &k)
	if err != nil || !ok {
		return StoredKey{}, false, err
	}
	if k.Key == "" || k.IV == "" {
		return StoredKey{}, false, fmt.Errorf("%w: %s lacks \"key\" or \"iv\"", ErrBadValue, KeyManagerKey)
	}
	return k, true, nil
}

// SetManagerKey stores k at KeyManagerKey (no TTL) and publishes
// eventManagerKey so every sensor reloads it.
// Both fields must be set; to remove the key use DeleteManagerKey.
func (s *Store) SetManagerKey(ctx context.Context, k StoredKey) error {
	if k.Key == "" || k.IV == "" {
		return errors.New("redisstore: manager key needs both key and iv")
	}
	b, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("redisstore: encode %s: %w", KeyManagerKey, err)
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.rdb.Set(ctx, KeyManagerKey, b, 0).Err(); err != nil {
		return fmt.Errorf("redisstore: set %s: %w", KeyManagerKey, err)
	}
	// A stored key ends an earlier --allow-plaintext: were the key lost
	// later, the stale marker must not reopen plaintext.
	if err := s.rdb.Del(ctx, keyPlaintextAllowed).Err(); err != nil {
		return fmt.Errorf("redisstore: key stored, but del %s failed: %w", keyPlaintextAllowed, err)
	}
	return s.publish(ctx, eventManagerKey)
}

// PlaintextMarker is the value of keyPlaintextAllowed.
type PlaintextMarker struct {
	At time.Time `json:"at"`
}

// AllowPlaintext records the operator's decision that sensors serve
// plaintext again: it sets keyPlaintextAllowed, then deletes KeyManagerKey
// and publishes eventManagerKey. The marker goes first so that a sensor
// reading between the two steps still finds the key (and stays closed);
// existed reports whether there was a key to delete.
func (s *Store) AllowPlaintext(ctx context.Context, now time.Time) (existed bool, err error) {
	b, err := json.Marshal(PlaintextMarker{At: now.UTC()})
	if err != nil {
		return false, fmt.Errorf("redisstore: encode %s: %w", keyPlaintextAllowed, err)
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.rdb.Set(cctx, keyPlaintextAllowed, b, 0).Err(); err != nil {
		return false, fmt.Errorf("redisstore: set %s: %w", keyPlaintextAllowed, err)
	}
	return s.DeleteManagerKey(ctx)
}

// PlaintextAllowed reads keyPlaintextAllowed. ok is false when it does not
// exist, which is also what an empty (flushed or failed-over) Redis says:
// callers must treat that as "not allowed". A value that is not a marker
// is an error, never a permission.
func (s *Store) PlaintextAllowed(ctx context.Context) (m PlaintextMarker, ok bool, err error) {
	ok, err = s.getJSON(ctx, keyPlaintextAllowed, &m)
	if err != nil || !ok {
		return PlaintextMarker{}, false, err
	}
	if m.At.IsZero() {
		return PlaintextMarker{}, false, fmt.Errorf("redisstore: %s lacks \"at\"", keyPlaintextAllowed)
	}
	return m, true, nil
}

// DeleteManagerKey deletes KeyManagerKey and publishes eventManagerKey.
// existed reports whether there was a key to delete.
func (s *Store) DeleteManagerKey(ctx context.Context) (existed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	n, err := s.rdb.Del(ctx, KeyManagerKey).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: del %s: %w", KeyManagerKey, err)
	}
	return n > 0, s.publish(ctx, eventManagerKey)
}

// publish sends msg on channelEvents. The change it announces is already
// stored, so the error says so.
func (s *Store) publish(ctx context.Context, msg string) error {
	if err := s.rdb.Publish(ctx, channelEvents, msg).Err(); err != nil {
		return fmt.Errorf("redisstore: stored, but publish %s on %s failed (sensors pick it up on their next reload): %w",
			msg, channelEvents, err)
	}
	return nil
}

// ErrBadValue marks a value Redis returned that cannot be used: Redis
// answered, so the caller must not report it as Redis being down.
var ErrBadValue = errors.New("redisstore: invalid stored value")

// getJSON GETs key into v. ok is false when the key does not exist.
func (s *Store) getJSON(ctx context.Context, key string, v any) (ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	b, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redisstore: get %s: %w", key, err)
	}
	if len(b) > maxValue {
		return false, fmt.Errorf("%w: %s holds %d bytes (at most %d)", ErrBadValue, key, len(b), maxValue)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%w: %s holds invalid JSON: %w", ErrBadValue, key, err)
	}
	return true, nil
}

// maxValue bounds a value tapline parses from Redis: its own values are a
// few hundred bytes, and a writer of the tapline:* keys must not make every
// watcher tick parse megabytes.
const maxValue = 64 << 10

func (s *Store) logger() *slog.Logger {
	if s.log != nil {
		return s.log
	}
	return slog.Default()
}
