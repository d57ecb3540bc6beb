package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// MaxTokens bounds the tokens hash a sensor loads (tokens.MaxTokens; this
// package imports nothing of tapline, so the number is repeated).
const MaxTokens = 10000

// TokensVersion reads keyTokensVersion: a random value every change to
// the tokens replaces (random, not a counter, so that a Redis restarted
// empty or failed over to another history can never repeat the value a
// sensor saw last); "" when it does not exist. Sensors poll it (a GET
// every 250 ms) and reload only when it changed.
func (s *Store) TokensVersion(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	v, err := s.rdb.Get(ctx, keyTokensVersion).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("redisstore: get %s: %w", keyTokensVersion, err)
	}
	return v, nil
}

// newVersion is a fresh value for keyTokensVersion.
func newVersion() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on Linux
	return hex.EncodeToString(b[:])
}

// Tokens reads every token record (JSON by id, keyTokens) and every
// written-back use (keyTokensUsed). More than MaxTokens records, or a
// value over maxValue, is an error: a writer of tapline:* keys must not
// make every sensor load without bound.
func (s *Store) Tokens(ctx context.Context) (recs, used map[string]string, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	for _, k := range []string{keyTokens, keyTokensUsed} {
		n, err := s.rdb.HLen(ctx, k).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: hlen %s: %w", k, err)
		}
		if n > MaxTokens {
			return nil, nil, fmt.Errorf("%w: %s holds %d entries (at most %d)", ErrBadValue, k, n, MaxTokens)
		}
	}
	if recs, err = s.hgetall(ctx, keyTokens); err != nil {
		return nil, nil, err
	}
	if used, err = s.hgetall(ctx, keyTokensUsed); err != nil {
		return nil, nil, err
	}
	return recs, used, nil
}

func (s *Store) hgetall(ctx context.Context, key string) (map[string]string, error) {
	m, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: hgetall %s: %w", key, err)
	}
	if len(m) > MaxTokens {
		return nil, fmt.Errorf("%w: %s holds %d entries (at most %d)", ErrBadValue, key, len(m), MaxTokens)
	}
	for id, v := range m {
		if len(v) > maxValue || len(id) > 64 {
			return nil, fmt.Errorf("%w: %s field of %d bytes", ErrBadValue, key, len(v))
		}
	}
	return m, nil
}

// Token reads one token record; ok is false when there is none.
func (s *Store) Token(ctx context.Context, id string) (rec string, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	rec, err = s.rdb.HGet(ctx, keyTokens, id).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("redisstore: hget %s: %w", keyTokens, err)
	}
	return rec, true, nil
}

// PutToken stores one token record (JSON) under its id and moves the
// version, in one transaction, so that every sensor reloads within its
// next poll. create refuses an id that exists and a hash of MaxTokens.
func (s *Store) PutToken(ctx context.Context, id, rec string, create bool) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if create {
		n, err := s.rdb.HLen(ctx, keyTokens).Result()
		if err != nil {
			return fmt.Errorf("redisstore: hlen %s: %w", keyTokens, err)
		}
		if n >= MaxTokens {
			return fmt.Errorf("redisstore: %s holds %d tokens already (at most %d); revoke and prune some", keyTokens, n, MaxTokens)
		}
		ok, err := s.rdb.HSetNX(ctx, keyTokens, id, rec).Result()
		if err != nil {
			return fmt.Errorf("redisstore: hsetnx %s: %w", keyTokens, err)
		}
		if !ok {
			return fmt.Errorf("redisstore: token %s exists", id)
		}
		return s.bumpTokens(ctx)
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, keyTokens, id, rec)
		p.Set(ctx, keyTokensVersion, newVersion(), 0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: store token in %s: %w", keyTokens, err)
	}
	return nil
}

// DeleteTokens removes token records and their uses (prune) and moves
// the version.
func (s *Store) DeleteTokens(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, keyTokens, ids...)
		p.HDel(ctx, keyTokensUsed, ids...)
		p.Set(ctx, keyTokensVersion, newVersion(), 0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: delete tokens from %s: %w", keyTokens, err)
	}
	return nil
}

func (s *Store) bumpTokens(ctx context.Context) error {
	if err := s.rdb.Set(ctx, keyTokensVersion, newVersion(), 0).Err(); err != nil {
		return fmt.Errorf("redisstore: token stored, but set %s failed (sensors see it at their next change): %w", keyTokensVersion, err)
	}
	return nil
}

// WriteTokenUses records tokens' last uses (JSON by id) in keyTokensUsed,
// without moving the version: a use is not a change sensors must reload
// for. At most MaxTokens entries per call.
func (s *Store) WriteTokenUses(ctx context.Context, uses map[string]string) error {
	if len(uses) == 0 {
		return nil
	}
	if len(uses) > MaxTokens {
		return fmt.Errorf("redisstore: %d token uses (at most %d)", len(uses), MaxTokens)
	}
	args := make([]any, 0, 2*len(uses))
	for id, v := range uses {
		args = append(args, id, v)
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.rdb.HSet(ctx, keyTokensUsed, args...).Err(); err != nil {
		return fmt.Errorf("redisstore: hset %s: %w", keyTokensUsed, err)
	}
	return nil
}
