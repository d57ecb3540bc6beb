package keyring

import (
	"context"
	"errors"
	"fmt"

	"tapline/access"
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
	k, _, src, err := LoadLevel(ctx, cfg, st)
	return k, src, err
}

// LoadLevel is LoadFrom with the level hardened frames sealed with the key
// get: the one stored with it, else manager_key_level.
func LoadLevel(ctx context.Context, cfg config.Config, st *redisstore.Store) (crypto.Key, access.Level, string, error) {
	if k, ok, err := ConfigKey(cfg); ok {
		if err != nil {
			return crypto.Key{}, access.None, "", fmt.Errorf("config manager_aes_key: %w", err)
		}
		return k, cfg.KeyLevel, "config", nil
	}
	if st == nil {
		return crypto.Key{}, access.None, "", ErrNoKey
	}
	k, lvl, state, err := fetch(ctx, st)
	switch state {
	case "redis_down":
		return crypto.Key{}, access.None, "", fmt.Errorf("load key from redis: %w", err)
	case "no_key":
		return crypto.Key{}, access.None, "", ErrNoKey
	case "bad_key":
		return crypto.Key{}, access.None, "", fmt.Errorf("key stored in redis: %w", err)
	}
	if lvl == access.None {
		lvl = cfg.KeyLevel
	}
	return k, lvl, "redis", nil
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
func fetch(ctx context.Context, st *redisstore.Store) (k crypto.Key, lvl access.Level, state string, err error) {
	sk, ok, err := st.GetManagerKey(ctx)
	if errors.Is(err, redisstore.ErrBadValue) {
		return crypto.Key{}, access.None, "bad_key", err
	}
	if err != nil {
		return crypto.Key{}, access.None, "redis_down", err
	}
	if !ok {
		return crypto.Key{}, access.None, "no_key", nil
	}
	if k, err = crypto.ParseKey(sk.Key, sk.IV); err != nil {
		return crypto.Key{}, access.None, "bad_key", err
	}
	if sk.Level != "" { // a level that does not parse is a bad key: never a guess at one
		if lvl, err = access.ParseLevel(sk.Level); err != nil {
			return crypto.Key{}, access.None, "bad_key", err
		}
	}
	return k, lvl, "ok", nil
}
