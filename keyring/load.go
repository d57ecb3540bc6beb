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
	if cfg.AESKey != "" {
		k, err := crypto.ParseKey(cfg.AESKey, cfg.AESIV)
		if err != nil {
			return crypto.Key{}, "", fmt.Errorf("config manager_aes_key: %w", err)
		}
		return k, "config", nil
	}
	if cfg.Redis == "" {
		return crypto.Key{}, "", ErrNoKey
	}
	st, err := redisstore.Open(cfg.Redis)
	if err != nil {
		return crypto.Key{}, "", err
	}
	defer st.Close()
	sk, ok, err := st.GetManagerKey(ctx)
	if err != nil {
		return crypto.Key{}, "", fmt.Errorf("load key from redis: %w", err)
	}
	if !ok {
		return crypto.Key{}, "", ErrNoKey
	}
	k, err := crypto.ParseKey(sk.Key, sk.IV)
	if err != nil {
		return crypto.Key{}, "", fmt.Errorf("key stored in redis: %w", err)
	}
	return k, "redis", nil
}
