package keyring

import (
	"context"
	"errors"
	"fmt"

	"tapline/config"
	"tapline/crypto"
	"tapline/redisstore"
)

// ErrNoKey means no manager key is configured anywhere.
var ErrNoKey = errors.New("no manager key: set manager_aes_key/manager_aes_iv or store one in Redis (tapline keys store)")

// Load finds the manager key the way the server does: the config file's
// manager_aes_key/iv first, otherwise the key stored in Redis. It returns
// the key and where it came from ("config" or "redis").
func Load(ctx context.Context, cfg config.Config) (crypto.Key, string, error) {
	if cfg.AESKey != "" || cfg.Redis == "" {
		return LoadFrom(ctx, cfg, nil)
	}
	st, err := redisstore.Open(cfg.Redis)
	if err != nil {
		return crypto.Key{}, "", err
	}
	defer st.Close()
	return LoadFrom(ctx, cfg, st)
}

// LoadFrom is Load with Redis already open: st (nil if no Redis is
// configured) is read only when the config file has no key.
func LoadFrom(ctx context.Context, cfg config.Config, st *redisstore.Store) (crypto.Key, string, error) {
	if k, ok, err := ConfigKey(cfg); ok {
		if err != nil {
			return crypto.Key{}, "", fmt.Errorf("config manager_aes_key: %w", err)
		}
		return k, "config", nil
	}
	if st == nil {
		return crypto.Key{}, "", ErrNoKey
	}
	k, state, err := fetch(ctx, st)
	switch state {
	case "redis_down":
		return crypto.Key{}, "", fmt.Errorf("load key from redis: %w", err)
	case "no_key":
		return crypto.Key{}, "", ErrNoKey
	case "bad_key":
		return crypto.Key{}, "", fmt.Errorf("key stored in redis: %w", err)
	}
	return k, "redis", nil
}

// ConfigKey parses the config file's manager_aes_key/iv. ok is false when
// the file sets no key; err is the parse error, for the caller to wrap.
func ConfigKey(cfg config.Config) (k crypto.Key, ok bool, err error) {
	if cfg.AESKey == "" {
		return crypto.Key{}, false, nil
	}
	k, err = crypto.ParseKey(cfg.AESKey, cfg.AESIV)
	return k, true, err
}

// fetch reads the key stored in Redis. state is a Status.State: "ok" (k is
// the key), "no_key" (none stored), "redis_down" (err is the read error) or
// "bad_key" (err is the parse error of the stored key).
func fetch(ctx context.Context, st *redisstore.Store) (k crypto.Key, state string, err error) {
	sk, ok, err := st.GetManagerKey(ctx)
	if errors.Is(err, redisstore.ErrBadValue) {
		return crypto.Key{}, "bad_key", err
	}
	if err != nil {
		return crypto.Key{}, "redis_down", err
	}
	if !ok {
		return crypto.Key{}, "no_key", nil
	}
	if k, err = crypto.ParseKey(sk.Key, sk.IV); err != nil {
		return crypto.Key{}, "bad_key", err
	}
	return k, "ok", nil
}
